-- PATCH /items/{id}, for an id drawn at random from the seeded items (BENCH_ITEMS of them).
local items = tonumber(os.getenv("BENCH_ITEMS") or "10000")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"description": "Updated under load"}'
request = function()
  return wrk.format("PATCH", "/items/" .. math.random(1, items))
end
