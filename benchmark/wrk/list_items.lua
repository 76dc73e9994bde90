-- GET /items?limit=50: the first page of fifty items, with the next page's cursor.
wrk.path = "/items?limit=50"
