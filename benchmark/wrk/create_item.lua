-- POST /items: a new item each time.
wrk.method = "POST"
wrk.path = "/items"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title": "Benchmark item", "description": "Created under load"}'
