-- For each queue (ARGV[i], under the namespace ARGV[1]): the ready list's length, the
-- bodies hash's length (ready + fetched and unacknowledged), the delay queue's bodies, and
-- the body of the message next in line. One round trip, one consistent view, a fixed number
-- of O(1) commands per queue. dramatiq's layout, as its dispatch.lua documents it:
-- <ns>:<queue> a list of message ids, <ns>:<queue>.msgs a hash id -> body, the same
-- two for <queue>.DQ.
local out = {}
for i = 2, #ARGV do
  local queue = ARGV[1] .. ":" .. ARGV[i]
  local head = redis.call("LINDEX", queue, 0)
  local body = false
  if head then
    body = redis.call("HGET", queue .. ".msgs", head)
  end
  table.insert(out, {
    redis.call("LLEN", queue),
    redis.call("HLEN", queue .. ".msgs"),
    redis.call("HLEN", queue .. ".DQ.msgs"),
    body or "",
  })
end
return out
