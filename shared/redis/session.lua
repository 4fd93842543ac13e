-- Atomic bookkeeping of one session record, shared by every worker.
-- KEYS[1] the session record hash {username, epoch, last_used, expires_at, revoked}
-- KEYS[2] the user's session epoch: raising it revokes every session opened before
-- ARGV[1] "open" (login) | "check" (is it live?) | "touch" (a successful use: check, and the
--         idle timeout starts again) | "revoke" (logout)
-- ARGV[2] now, in seconds (the caller's clock)
-- ARGV[3] idle timeout, in seconds: the record's TTL, and the longest gap between uses
-- ARGV[4] the username the token names
-- ARGV[5] the token's expiry, in seconds (the end of its lifetime, however active)
-- (session_use.lua is prepended: session_check, session_touch.)
-- Replies: "ok" | "expired" (no record, or idle too long) | "revoked" | "invalid"
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local idle = tonumber(ARGV[3])
if mode == "open" then
  local epoch = redis.call("GET", KEYS[2]) or "0"
  redis.call("HSET", KEYS[1], "username", ARGV[4], "epoch", epoch, "last_used", ARGV[2],
    "expires_at", ARGV[5])
  redis.call("EXPIRE", KEYS[1], idle)
  return "ok"
end

local outcome, last_used = session_check(KEYS[1], KEYS[2], now, idle, ARGV[4])
if outcome ~= "ok" then
  return outcome
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
  session_touch(KEYS[1], now, ARGV[2], idle, last_used)
end
return "ok"
