-- GET /items?limit=50: a page of fifty items and the total.
wrk.path = "/items?limit=50"
