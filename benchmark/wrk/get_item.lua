-- GET /items/{id}, for an id drawn at random from the seeded items (BENCH_ITEMS of them).
local items = tonumber(os.getenv("BENCH_ITEMS") or "10000")
request = function()
  return wrk.format("GET", "/items/" .. math.random(1, items))
end
