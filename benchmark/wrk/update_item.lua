-- PATCH /items/{id}, for an id drawn at random from the seeded items.
request = function()
  local body = '{"description": "Updated under load"}'
  local headers = {["Content-Type"] = "application/json"}
  return wrk.format("PATCH", "/items/" .. math.random(1, 10000), headers, body)
end
