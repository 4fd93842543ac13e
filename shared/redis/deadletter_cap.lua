-- Drops the oldest dead letters of one queue beyond the cap, in one step so concurrent
-- writers never drop more than the excess. The letters' own hashes are named from
-- ARGV[2] (the installation's dead-letter key stem): single-instance Redis only, as is
-- every other key of b2bpay.
-- KEYS[1] the queue's letters by time (zset), KEYS[2] every letter (zset),
-- KEYS[3] the dropped counts (hash)
-- ARGV[1] the cap, ARGV[2] the letters' key stem, ARGV[3] the queue's field in KEYS[3]
-- Replies the ids dropped.
local over = redis.call("ZCARD", KEYS[1]) - tonumber(ARGV[1])
if over <= 0 then
  return {}
end
local dropped = redis.call("ZRANGE", KEYS[1], 0, over - 1)
for _, id in ipairs(dropped) do
  redis.call("ZREM", KEYS[1], id)
  redis.call("ZREM", KEYS[2], id)
  redis.call("DEL", ARGV[2] .. id)
end
redis.call("HINCRBY", KEYS[3], ARGV[3], #dropped)
return dropped
