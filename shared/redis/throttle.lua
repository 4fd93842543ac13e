-- Failed-login bookkeeping for one login attempt, shared by every process. One script, so
-- that parallel attempts (in one process or many) can neither all slip under a threshold
-- nor lose a count.
-- KEYS[1] the username's counter {start, count, until}; KEYS[2] the client's, if any
-- ARGV[1] "begin" | "success"
-- ARGV[2] now (seconds, the caller's clock)
-- ARGV[3] window seconds: failures counted from the first of a run, forgotten after it
-- ARGV[4] lockout seconds
-- ARGV[5] threshold of KEYS[1]; ARGV[6] threshold of KEYS[2]
-- begin:   while a subject is locked out, refuses: {"limited", seconds left}. Otherwise counts
--          the attempt as a failure in advance (so that parallel attempts cannot all pass
--          before any failure is recorded) and locks out a subject that goes over its
--          threshold: {"limited", lockout seconds}; else {"ok"}.
-- success: the attempt did not fail after all: the username's failures are forgotten (a
--          success ends a run of consecutive failures) and the attempt is taken back from
--          the client's count. {"ok"}
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local lockout = tonumber(ARGV[4])

if mode == "success" then
  redis.call("DEL", KEYS[1])
  if KEYS[2] and tonumber(redis.call("HGET", KEYS[2], "count") or "0") > 0 then
    redis.call("HINCRBY", KEYS[2], "count", -1)
  end
  return {"ok"}
end

-- A lockout that has run out ends the run: the next failure starts a new one.
local function locked_until(key)
  local until_ = tonumber(redis.call("HGET", key, "until") or "0")
  if until_ > 0 and until_ <= now then
    redis.call("DEL", key)
    return 0
  end
  return until_
end

local left = 0
for i = 1, #KEYS do
  local until_ = locked_until(KEYS[i])
  if until_ > now and until_ - now > left then
    left = until_ - now
  end
end
if left > 0 then
  return {"limited", tostring(math.ceil(left))}
end

local limited = false
for i = 1, #KEYS do
  local start = tonumber(redis.call("HGET", KEYS[i], "start") or "-1")
  if start < 0 or now - start >= window then
    redis.call("HSET", KEYS[i], "start", ARGV[2], "count", 0)
  end
  local count = redis.call("HINCRBY", KEYS[i], "count", 1)
  if count > tonumber(ARGV[4 + i]) then
    redis.call("HSET", KEYS[i], "until", tostring(now + lockout))
    limited = true
  end
  -- Only to collect the garbage; the decisions rest on the fields above.
  redis.call("PEXPIRE", KEYS[i], math.ceil((window + lockout) * 1000))
end
if limited then
  return {"limited", tostring(math.ceil(lockout))}
end
return {"ok"}
