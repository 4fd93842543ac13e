-- The one atomic write of b2bpay: every change of a payment's state, and every refusal,
-- goes through here, so there is never a state change without its event nor an event
-- without its change.
--
-- KEYS[1] payment hash      KEYS[2] history list     KEYS[3] events stream
-- KEYS[4] event seq counter KEYS[5] verdict list     KEYS[6] idempotency key
-- KEYS[7] order lock        KEYS[8] deadlines sorted set
-- KEYS[9] refusals of this window naming this payment id
-- KEYS[10] refusals of this window by this (claimed) actor
-- KEYS[11] the session record, KEYS[12] its user's session epoch (with spec.session: the
--   person's use of the session this change admits; session_use.lua is prepended)
-- KEYS[13] a lease the caller works under (with spec.lease_token: the change is made only
--   if the lease is still the caller's)
-- ARGV[1] mode: "create" | "transition" | "refuse" | "refuse_unattached"
--   ("refuse_unattached": KEYS[4] is the counter numbering refusals attached to no payment)
-- ARGV[2] JSON spec (see shared/redis/store.py)
--
-- Replies: {"ok", status, version} | {"duplicate", payment_id, content_hash}
--          {"conflict", status, version} | {"not_found"} | {"refused", reason_code, detail}
--          {"past_deadline", status, version} | {"lease_lost"} | {"session", outcome} (the session is not
--          live: "expired" | "revoked" | "invalid"; nothing was written but a DEL of an idle
--          record)

local mode = ARGV[1]
local spec = cjson.decode(ARGV[2])
local pid = spec.payment_id

-- The person's session, checked before anything else (as a separate call did before); its
-- idle timeout restarts only if the change is made, atomically with it.
local session_last = nil
local function session_refusal()
  if spec.session == nil or spec.session == cjson.null then
    return nil
  end
  local s = spec.session
  local outcome, last = session_check(KEYS[11], KEYS[12], tonumber(s.now), s.idle, s.username)
  if outcome ~= "ok" then
    return {"session", outcome}
  end
  session_last = last
  return nil
end
local function session_used()
  if session_last ~= nil then
    local s = spec.session
    session_touch(KEYS[11], tonumber(s.now), s.now, s.idle, session_last)
  end
end

local function event_for(step, seq)
  local e = {
    schema = "b2bpay.status_event.v1",
    event_id = step.event_id or (pid .. ":" .. seq),
    kind = step.kind,
    payment_id = pid,
    seq = seq,
    status = step.status,
    previous_status = step.previous_status,
    stage = spec.stage,
    actor_role = spec.actor_role,
    actor_id = spec.actor_id,
    reason_code = step.reason_code,
    reason = step.reason,
    at = spec.at,
    order_id = spec.order_id,
    enterprise_id = spec.enterprise_id,
    amount = spec.amount,
    currency = spec.currency,
    command_id = spec.command_id,
  }
  return cjson.encode(e)
end

-- The history entries this call added, in order (returned with an "ok").
local added = {}

-- ``seq``: the step's number if the caller took it already (several steps take theirs
-- with one INCRBY).
local function publish(step, seq)
  seq = seq or redis.call("INCR", KEYS[4])
  local body = event_for(step, seq)
  if step.kind == "transition" then
    redis.call("RPUSH", KEYS[2], body)
    added[#added + 1] = body
  end
  redis.call("XADD", KEYS[3], "*", "event", body)
  return seq
end

local function answer(outcome, status, reason_code, reason)
  if spec.command_id ~= cjson.null and spec.command_id ~= nil then
    -- What the sender is told may be less than what is recorded (shared.security.disclosure).
    if spec.told_code ~= nil and spec.told_code ~= cjson.null then
      reason_code = spec.told_code
      reason = spec.told_reason
    end
    local verdict = cjson.encode({
      command_id = spec.command_id, outcome = outcome, payment_id = pid,
      status = status, reason_code = reason_code, reason = reason,
    })
    redis.call("RPUSH", KEYS[5], verdict)
    redis.call("EXPIRE", KEYS[5], spec.verdict_ttl)
  end
end

-- The payment's fields are written with one HSET (``fields`` may already hold some: a
-- create's content); ``had_deadline`` says whether the payment had a deadline to clear.
local function apply_steps(status, version, fields, had_deadline)
  local before = redis.call("INCRBY", KEYS[4], #spec.steps) - #spec.steps
  for i, step in ipairs(spec.steps) do
    step.kind = "transition"
    step.previous_status = status
    publish(step, before + i)
    status = step.status
    version = version + 1
  end
  local n = #fields
  local function put(field, value)
    fields[n + 1] = field
    fields[n + 2] = value
    n = n + 2
  end
  put("status", status)
  put("version", version)
  put("updated_at", spec.at)
  for field, value in pairs(spec.set or {}) do
    put(field, value)
  end
  if spec.command_id ~= cjson.null and spec.command_id ~= nil then
    put("cmd:" .. spec.command_id, status)
  end
  -- Deadline of the new status (otp_verified, pending_review, pending_auth), or none.
  local ttl = spec.deadlines[status]
  local deadline_at = nil
  if ttl then
    deadline_at = tonumber(spec.now_ms) + tonumber(ttl)
    put("deadline_at", deadline_at)
  end
  redis.call("HSET", KEYS[1], unpack(fields))
  local cleared = 0
  if deadline_at then
    redis.call("ZADD", KEYS[8], deadline_at, pid)
  elseif had_deadline then
    cleared = 1
    redis.call("HDEL", KEYS[1], "deadline_at")
    redis.call("ZREM", KEYS[8], pid)
  end
  for _, released in ipairs(spec.releases_order) do
    if status == released and redis.call("GET", KEYS[7]) == pid then
      redis.call("DEL", KEYS[7])
    end
  end
  session_used()
  answer("accepted", status, cjson.null, cjson.null)
  -- What was written (the hash fields, the history entries, whether deadline_at was
  -- deleted): with the payment as it was read at the version just checked, the caller has
  -- the payment as it is now without reading it again.
  for i = 1, n do
    fields[i] = tostring(fields[i])
  end
  return {"ok", status, tostring(version), fields, added, cleared}
end

-- A refusal naming a payment that does not exist (yet) still gets its event and seq; the
-- counter is let go after a week unless the payment is created, so garbage naming made-up
-- payments cannot grow Redis for ever.
local ORPHAN_SEQ_TTL = 604800
local function forget_later_if_orphan()
  if redis.call("EXISTS", KEYS[1]) == 0 then
    redis.call("EXPIRE", KEYS[4], ORPHAN_SEQ_TTL)
  end
end

-- Every refusal is counted per payment id and per (claimed) actor in fixed windows; beyond
-- the first spec.refusal_cap of either, it is only counted, not recorded as an event: so
-- garbage naming made-up payments, or sent by anyone at all, cannot grow the stream for ever.
local function within_refusal_bound()
  local by_payment = redis.call("INCR", KEYS[9])
  redis.call("EXPIRE", KEYS[9], spec.refusal_window)
  local by_actor = redis.call("INCR", KEYS[10])
  redis.call("EXPIRE", KEYS[10], spec.refusal_window)
  return by_payment <= spec.refusal_cap and by_actor <= spec.refusal_cap
end

-- A refusal on a payment's own numbered sequence; bounded unless it is to a verified person
-- of the payer (spec.to_verified_person) about a payment that exists. A stage's refusal (a
-- forged hand-off) or one to an unverified claim is bounded even on an existing payment:
-- anyone who can write the broker could otherwise add audit entries to it without limit.
local function publish_refusal(step)
  local unbounded = spec.to_verified_person == true and redis.call("EXISTS", KEYS[1]) == 1
  if not unbounded and not within_refusal_bound() then
    return
  end
  publish(step)
  forget_later_if_orphan()
end

if mode == "refuse" then
  local current = redis.call("HGET", KEYS[1], "status")
  local step = {kind = "refusal", status = current or cjson.null,
                previous_status = current or cjson.null,
                reason_code = spec.reason_code, reason = spec.reason}
  publish_refusal(step)
  answer("refused", current or cjson.null, spec.reason_code, spec.reason)
  return {"refused", spec.reason_code, spec.reason}
end

if mode == "refuse_unattached" then
  -- A refusal to someone not known as a person of the payer: the payment (if any) is not
  -- read, its sequence not touched, and the answer is the same whether it exists or not.
  if within_refusal_bound() then
    local n = redis.call("INCR", KEYS[4])
    local step = {kind = "refusal", status = cjson.null, previous_status = cjson.null,
                  reason_code = spec.reason_code, reason = spec.reason,
                  event_id = "refusal:" .. n}
    redis.call("XADD", KEYS[3], "*", "event", event_for(step, 0))
  end
  answer("refused", cjson.null, spec.reason_code, spec.reason)
  return {"refused", spec.reason_code, spec.reason}
end

if mode == "create" then
  local refused = session_refusal()
  if refused then
    return refused
  end
  local idem = redis.call("GET", KEYS[6])
  if idem then
    local sep = string.find(idem, "|", 1, true)
    local existing_pid = string.sub(idem, 1, sep - 1)
    local existing_hash = string.sub(idem, sep + 1)
    if existing_hash ~= spec.fields.content_hash then
      local step = {kind = "refusal", status = cjson.null, previous_status = cjson.null,
                    reason_code = "idempotency_conflict",
                    reason = "request_id was used for a different payment content"}
      publish_refusal(step)
      answer("refused", cjson.null, step.reason_code, step.reason)
      return {"refused", step.reason_code, step.reason}
    end
    session_used()
    answer("duplicate", redis.call("HGET", KEYS[1], "status") or cjson.null, cjson.null, cjson.null)
    return {"duplicate", existing_pid, existing_hash}
  end
  local holder = redis.call("GET", KEYS[7])
  if holder and holder ~= pid then
    local step = {kind = "refusal", status = cjson.null, previous_status = cjson.null,
                  reason_code = "duplicate_order",
                  reason = "the order already has a live payment"}
    publish_refusal(step)
    answer("refused", cjson.null, step.reason_code, step.reason)
    return {"refused", step.reason_code, step.reason}
  end
  local fields = {}
  for field, value in pairs(spec.fields) do
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
  redis.call("SET", KEYS[6], pid .. "|" .. spec.fields.content_hash)
  redis.call("SET", KEYS[7], pid)
  redis.call("PERSIST", KEYS[4])
  return apply_steps(cjson.null, 0, fields, false)
end

-- mode == "transition"
local refused = session_refusal()
if refused then
  return refused
end
if spec.lease_token ~= nil and spec.lease_token ~= cjson.null then
  -- Lost (expired, or another worker's now): what the caller read may be stale.
  if redis.call("GET", KEYS[13]) ~= spec.lease_token then
    return {"lease_lost"}
  end
end
local current = redis.call("HMGET", KEYS[1], "status", "version", "deadline_at")
local status = current[1]
if not status then
  return {"not_found"}
end
local version = tonumber(current[2])
if status ~= spec.expected_status or version ~= tonumber(spec.expected_version) then
  return {"conflict", status, tostring(version)}
end
local deadline_at = current[3]
if spec.enforce_deadline then
  -- A person's decision after the deadline loses, even if no sweeper has expired it yet.
  if deadline_at and tonumber(spec.now_ms) >= tonumber(deadline_at) then
    return {"past_deadline", status, tostring(version)}
  end
end
return apply_steps(status, version, {}, deadline_at ~= false)
