-- GET /items?limit=50 deep in the table: the page after an item near the end, named as each
-- app names it (BENCH_DEEP: the service's cursor, or the bounds' plain id).
wrk.path = "/items?limit=50&" .. os.getenv("BENCH_DEEP")
