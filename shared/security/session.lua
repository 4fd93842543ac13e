-- Atomic bookkeeping of one session record, shared by every worker.
-- KEYS[1] the session record hash {username, epoch, last_used, expires_at, revoked}
-- KEYS[2] the user's session epoch: raising it revokes every session opened before
-- ARGV[1] "open" (login) | "check" (is it live?) | "touch" (a successful use: check, and the
--         idle timeout starts again) | "revoke" (logout)
-- ARGV[2] now, in seconds (the caller's clock)
-- ARGV[3] idle timeout, in seconds: the record's TTL, and the longest gap between uses
-- ARGV[4] the username the token names
-- ARGV[5] the token's expiry, in seconds (the end of its lifetime, however active)
-- Replies: "ok" | "expired" (no record, or idle too long) | "revoked" | "invalid"
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local idle = tonumber(ARGV[3])
local epoch = redis.call("GET", KEYS[2]) or "0"

if mode == "open" then
  redis.call("HSET", KEYS[1], "username", ARGV[4], "epoch", epoch, "last_used", ARGV[2],
    "expires_at", ARGV[5])
  redis.call("EXPIRE", KEYS[1], idle)
  return "ok"
end

local record = redis.call("HMGET", KEYS[1], "username", "epoch", "last_used", "revoked")
if not record[1] then
  return "expired"
end
if record[1] ~= ARGV[4] then
  return "invalid"
end
if record[4] == "1" or record[2] ~= epoch then
  return "revoked"
end
if now - tonumber(record[3]) >= idle then
  redis.call("DEL", KEYS[1])
  return "expired"
end

if mode == "revoke" then
  -- Kept (as revoked) until the token's own expiry, so a later use is told it was revoked.
  local left = math.ceil(tonumber(ARGV[5]) - now)
  redis.call("HSET", KEYS[1], "revoked", "1")
  if left > 0 then
    redis.call("EXPIRE", KEYS[1], left)
  else
    redis.call("DEL", KEYS[1])
  end
elseif mode == "touch" then
  if now > tonumber(record[3]) then
    redis.call("HSET", KEYS[1], "last_used", ARGV[2])
  end
  redis.call("EXPIRE", KEYS[1], idle)
end
return "ok"
