-- Atomic one-time-code bookkeeping for one user, shared by every worker.
-- KEYS[1] the user's otp state hash {last_step, failures, locked}
-- ARGV[1] the TOTP step the code matched, or -1 for no match
-- ARGV[2] consecutive failures that lock the user
-- ARGV[3] what the code is spent on: the same code presented again for the very same
--         purpose (a repeated, idempotent request) is not a replay; "" for none
-- Replies: {"ok"} | {"replayed", failures} | {"invalid", failures} | {"locked", failures}
local matched = tonumber(ARGV[1])
local max_failures = tonumber(ARGV[2])
-- One read of the whole state (one command, not four).
local state = redis.call("HMGET", KEYS[1], "locked", "failures", "last_step", "last_purpose")
if state[1] == "1" then
  return {"locked", state[2] or "0"}
end
local last = tonumber(state[3] or "-1")
local purpose = ARGV[3]
local outcome
if matched >= 0 and matched > last then
  redis.call("HSET", KEYS[1], "last_step", matched, "failures", 0, "last_purpose", purpose)
  return {"ok"}
elseif matched >= 0 and matched == last and purpose ~= ""
    and state[4] == purpose then
  return {"ok"}
elseif matched >= 0 then
  outcome = "replayed"
else
  outcome = "invalid"
end
local failures = redis.call("HINCRBY", KEYS[1], "failures", 1)
if failures >= max_failures then
  redis.call("HSET", KEYS[1], "locked", 1)
end
return {outcome, tostring(failures)}
