-- Appends one entry to the audit chain, atomically, once per events-stream entry.
-- KEYS[1] audit log list   KEYS[2] audit head hash {seq, mac}
-- KEYS[3] audited sources hash {events stream id -> seq}
-- ARGV[1] the events stream id the entry records
-- ARGV[2] the head seq the entry was computed against (its seq is that + 1)
-- ARGV[3] the entry (JSON)   ARGV[4] its mac, the new head
-- Replies: {"ok", seq} | {"duplicate", seq} | {"moved", head seq}
local done = redis.call("HGET", KEYS[3], ARGV[1])
if done then
  return {"duplicate", done}
end
local head = tonumber(redis.call("HGET", KEYS[2], "seq") or "0")
if head ~= tonumber(ARGV[2]) then
  -- Another auditor extended the chain meanwhile: the caller recomputes on the new head.
  return {"moved", tostring(head)}
end
redis.call("RPUSH", KEYS[1], ARGV[3])
redis.call("HSET", KEYS[2], "seq", head + 1, "mac", ARGV[4])
redis.call("HSET", KEYS[3], ARGV[1], head + 1)
return {"ok", tostring(head + 1)}
