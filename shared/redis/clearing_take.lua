-- Takes one from a fault count of the simulated clearing house, if any is left.
-- KEYS[1] the fault settings hash; ARGV[1] the fault's field
-- Replies 1 if one was taken, else 0.
local left = tonumber(redis.call("HGET", KEYS[1], ARGV[1]) or "0")
if left > 0 then
  redis.call("HINCRBY", KEYS[1], ARGV[1], -1)
  return 1
end
return 0
