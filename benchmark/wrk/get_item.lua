-- GET /items/{id}, for an id drawn at random from the seeded items.
request = function()
  return wrk.format("GET", "/items/" .. math.random(1, 10000))
end
