-- Lets a lease go, only if this holder (ARGV[1], its token) still holds it (KEYS[1]).
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
