-- Webhook deliveries: each is created once (its id is stable), waits in its lane (one
-- endpoint, one payment, by seq), and only the first of a lane is due, so an endpoint gets a
-- payment's events in order. ARGV[1] names the operation.
-- KEYS: 1 delivery hash, 2 lane, 3 due (zset), 4 all deliveries (zset), 5 failed (zset)
local op = ARGV[1]
local id = ARGV[2]

local function make_head_due(now)
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head then
    -- Only the first of a lane may be attempted; the others wait for it.
    local rest = redis.call('ZRANGE', KEYS[2], 1, -1)
    for _, other in ipairs(rest) do redis.call('ZREM', KEYS[3], other) end
    if redis.call('ZSCORE', KEYS[3], head) == false then
      redis.call('ZADD', KEYS[3], now, head)
    end
  end
end

if op == 'enqueue' then
  -- ARGV: 3 endpoint, 4 event id, 5 payment id, 6 seq, 7 routing key, 8 body, 9 now
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  redis.call('HSET', KEYS[1], 'delivery_id', id, 'endpoint_id', ARGV[3], 'event_id', ARGV[4],
    'payment_id', ARGV[5], 'seq', ARGV[6], 'routing_key', ARGV[7], 'body', ARGV[8],
    'status', 'pending', 'attempts', 0, 'created_at', ARGV[9], 'next_at', ARGV[9])
  redis.call('ZADD', KEYS[2], tonumber(ARGV[6]), id)
  redis.call('ZADD', KEYS[4], ARGV[9], id)
  make_head_due(ARGV[9])
  return 1
elseif op == 'claim' then
  -- ARGV: 3 now, 4 lease until. Taken only if still due: one sender at a time.
  local due = redis.call('ZSCORE', KEYS[3], id)
  if due == false or tonumber(due) > tonumber(ARGV[3]) then return 0 end
  redis.call('ZADD', KEYS[3], ARGV[4], id)
  redis.call('HSETNX', KEYS[1], 'first_at', ARGV[3])
  return 1
elseif op == 'settle' then
  -- ARGV: 3 outcome (delivered | retry | failed), 4 now, 5 next attempt at, 6 last error
  if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('HSET', KEYS[1], 'last_attempt_at', ARGV[4])
  -- A success keeps the error before it: what the operator wants to know about.
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'last_error', ARGV[6]) end
  if ARGV[3] == 'retry' then
    redis.call('HSET', KEYS[1], 'next_at', ARGV[5])
    redis.call('ZADD', KEYS[3], ARGV[5], id)
    return 1
  end
  redis.call('HSET', KEYS[1], 'status', ARGV[3], 'settled_at', ARGV[4])
  redis.call('HDEL', KEYS[1], 'next_at')
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  if ARGV[3] == 'failed' then redis.call('ZADD', KEYS[5], ARGV[4], id) end
  make_head_due(ARGV[4])
  return 1
elseif op == 'replay' then
  -- ARGV: 3 now
  if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
  if redis.call('HGET', KEYS[1], 'status') == 'pending' then return 0 end
  redis.call('HSET', KEYS[1], 'status', 'pending', 'attempts', 0, 'next_at', ARGV[3])
  redis.call('HDEL', KEYS[1], 'first_at', 'settled_at', 'last_error', 'last_attempt_at')
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZADD', KEYS[2], tonumber(redis.call('HGET', KEYS[1], 'seq')), id)
  make_head_due(ARGV[3])
  return 1
end
return redis.error_reply('unknown webhook operation')
