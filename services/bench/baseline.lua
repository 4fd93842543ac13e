-- One hop of the bench's baseline chain: the same round trip as b2bpay's atomic transition
-- (one Lua call writing a hash, a history entry and a stream entry).
-- KEYS[1] chain hash  KEYS[2] history list  KEYS[3] events stream
-- ARGV[1] chain id    ARGV[2] hop           ARGV[3] time (seconds since the epoch)
redis.call("HSET", KEYS[1], "status", ARGV[2], "version", ARGV[2], "updated_at", ARGV[3])
redis.call("RPUSH", KEYS[2], ARGV[2] .. ":" .. ARGV[3])
redis.call("XADD", KEYS[3], "*", "chain", ARGV[1], "hop", ARGV[2], "at", ARGV[3])
return 1
