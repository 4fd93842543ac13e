-- The check of one session record, shared by session.lua and the payment transition (which
-- restarts the idle timeout in the same atomic call as the change it admits). Defines
-- functions only; the script it is prepended to calls them.
--
-- rec_key: the session record hash {username, epoch, last_used, expires_at, revoked}
-- epoch_key: the user's session epoch (raising it revokes every session opened before)
-- now, idle: seconds (the caller's clock), the idle timeout in seconds
-- username: the username the token names
-- Returns "ok" | "expired" (no record, or idle too long: the record is deleted) |
-- "revoked" | "invalid", and the record's last use (when "ok").
local function session_check(rec_key, epoch_key, now, idle, username)
  local epoch = redis.call("GET", epoch_key) or "0"
  local record = redis.call("HMGET", rec_key, "username", "epoch", "last_used", "revoked")
  if not record[1] then
    return "expired"
  end
  if record[1] ~= username then
    return "invalid"
  end
  if record[4] == "1" or record[2] ~= epoch then
    return "revoked"
  end
  if now - tonumber(record[3]) >= idle then
    redis.call("DEL", rec_key)
    return "expired"
  end
  return "ok", tonumber(record[3])
end

-- A successful use of a session that session_check found live (last_used as it returned):
-- the idle timeout starts again. now_text is now as the caller wrote it.
local function session_touch(rec_key, now, now_text, idle, last_used)
  if now > last_used then
    redis.call("HSET", rec_key, "last_used", now_text)
  end
  redis.call("EXPIRE", rec_key, idle)
end
