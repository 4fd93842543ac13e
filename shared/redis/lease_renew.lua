-- Renews a lease for ARGV[2] ms, only if this holder (ARGV[1], its token) still holds it
-- (KEYS[1]). Replies 0 if it was lost.
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
