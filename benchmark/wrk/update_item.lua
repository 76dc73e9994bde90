-- PATCH /items/{id}, for an id drawn at random from the seeded items (BENCH_ITEMS of them).
local items = tonumber(os.getenv("BENCH_ITEMS") or "10000")
request = function()
  local body = '{"description": "Updated under load"}'
  local headers = {["Content-Type"] = "application/json"}
  return wrk.format("PATCH", "/items/" .. math.random(1, items), headers, body)
end
