-- unique ~400-byte entries POSTed to /add
local counter = 0
local id = 0
setup = function(thread) thread:set("id", math.random(1, 1000000000)) end
request = function()
  counter = counter + 1
  local body = string.format("%d-%d-", id, counter) .. string.rep("x", 380) .. string.format("%09d", math.random(1, 999999999))
  return wrk.format("POST", "/add", {["Content-Type"] = "application/octet-stream"}, body)
end
