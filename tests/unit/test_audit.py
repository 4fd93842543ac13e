"""The hash-chained audit log: an intact chain verifies; an edited, deleted, reordered or
cut-off entry is detected and named; the audit consumer chains every event once."""

from __future__ import annotations

import base64
import json
from typing import Any

import fakeredis
import pytest
from typer.testing import CliRunner

from services.audit.auditor import Auditor, audit_log_of
from services.cli import context
from services.cli.main import app
from shared.app.deps import Deps
from shared.domain.contracts import payment_id_for
from shared.redis.audit import AuditLog
from shared.redis.keys import Keys
from shared.redis.server_keys import audit_key_ring
from shared.security.audit_chain import GENESIS_MAC, AuditEntry, AuditKeys, sealed_message
from shared.security.keyring import KeyRingError
from tests.unit.support import PAYER, World

K1 = "k1:" + base64.b64encode(bytes(range(32))).decode()
K2 = "k2:" + base64.b64encode(bytes(range(50, 82))).decode()


@pytest.fixture
def audit(redis_client: fakeredis.FakeRedis, keys: Keys) -> AuditLog:
    return AuditLog(redis_client, keys, AuditKeys.parse(K1))


def fill(audit: AuditLog, count: int) -> None:
    for n in range(1, count + 1):
        event = json.dumps({"event_id": f"pay_1:{n}", "status": "pending_auth", "seq": n})
        assert audit.append(f"{1000 + n}-0", event) == n


def raw_entries(client: fakeredis.FakeRedis, keys: Keys) -> list[bytes]:
    return list(client.lrange(keys.audit_log, 0, -1))


def rewrite(client: fakeredis.FakeRedis, keys: Keys, entries: list[bytes]) -> None:
    client.delete(keys.audit_log)
    client.rpush(keys.audit_log, *entries)


# -- an intact chain -----------------------------------------------------------------------
def test_an_intact_chain_verifies_and_reports_its_head(audit: AuditLog) -> None:
    fill(audit, 5)
    result = audit.verify()
    assert result.ok and result.broken is None
    assert (result.entries, result.head_seq) == (5, 5)
    assert result.head_mac == audit.head()[1] != GENESIS_MAC


def test_an_empty_chain_verifies(audit: AuditLog) -> None:
    result = audit.verify()
    assert (result.ok, result.entries, result.head_seq, result.head_mac) == (
        True,
        0,
        0,
        GENESIS_MAC,
    )


def test_each_entry_commits_to_the_one_before(audit: AuditLog, keys: Keys) -> None:
    fill(audit, 3)
    entries = [AuditEntry.from_json(raw) for raw in raw_entries(audit._redis, keys)]  # type: ignore[arg-type]
    assert [e.seq for e in entries] == [1, 2, 3]
    assert [e.prev for e in entries] == [GENESIS_MAC, entries[0].mac, entries[1].mac]
    assert entries[2].source_id == "1003-0"


def test_the_same_stream_entry_is_chained_only_once(audit: AuditLog) -> None:
    fill(audit, 2)
    assert audit.append("1001-0", '{"again": true}') is None
    assert audit.verify().entries == 2


# -- tampering -----------------------------------------------------------------------------
def test_an_edited_entry_is_detected_and_named(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 5)
    entry = json.loads(redis_client.lindex(keys.audit_log, 2))
    entry["event"] = entry["event"].replace("pending_auth", "authorized")
    redis_client.lset(keys.audit_log, 2, json.dumps(entry))

    result = audit.verify()

    assert not result.ok and result.broken is not None
    assert (result.broken.position, result.broken.seq) == (3, 3)
    assert result.broken.reason == "entry 3 was altered: its mac does not match its content"
    assert result.entries == 2  # the entries before it verified


def test_an_entry_edited_and_resealed_without_the_key_is_detected_and_named(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    """Someone who can write Redis but lacks the key re-seals the edited entry and every one
    after it with a key of their own (or a plain SHA-256 chain): still named at the edit."""
    fill(audit, 5)
    forger = AuditKeys.parse(K2.replace("k2:", "k1:"))
    entries = [json.loads(raw) for raw in raw_entries(redis_client, keys)]
    entries[1]["event"] = entries[1]["event"].replace("pending_auth", "authorized")
    prev = entries[0]["mac"]
    for entry in entries[1:]:
        entry["prev"] = prev
        message = sealed_message(
            entry["seq"], entry["source_id"], entry["kid"], prev, entry["event"]
        )
        entry["mac"] = prev = forger.mac("k1", message)
    rewrite(redis_client, keys, [json.dumps(e).encode() for e in entries])
    redis_client.hset(keys.audit_head, "mac", prev)

    result = audit.verify()

    assert result.broken is not None
    assert (result.broken.position, result.broken.seq) == (2, 2)
    assert "entry 2 was altered" in result.broken.reason


def test_a_deleted_entry_is_detected_and_named(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 5)
    entries = raw_entries(redis_client, keys)
    rewrite(redis_client, keys, entries[:3] + entries[4:])  # entry 4 removed

    result = audit.verify()

    assert result.broken is not None
    assert (result.broken.position, result.broken.seq) == (4, 5)
    assert result.broken.reason.startswith("entry 4 is missing: entry 5 stands in its place")


def test_a_deleted_first_entry_is_detected_and_named(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 3)
    redis_client.lpop(keys.audit_log)
    broken = audit.verify().broken
    assert broken is not None and (broken.position, broken.seq) == (1, 2)
    assert broken.reason.startswith("entry 1 is missing")


def test_a_deleted_entry_renumbered_is_still_detected_and_named(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 5)
    entries = [json.loads(raw) for raw in raw_entries(redis_client, keys)]
    del entries[2]
    for position, entry in enumerate(entries, start=1):
        entry["seq"] = position
    rewrite(redis_client, keys, [json.dumps(e).encode() for e in entries])

    broken = audit.verify().broken

    assert broken is not None and (broken.position, broken.seq) == (3, 3)
    assert broken.reason == "entry 3 does not link to entry 2 (previous mac differs)"


def test_reordered_entries_are_detected_and_named(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 5)
    entries = raw_entries(redis_client, keys)
    entries[1], entries[3] = entries[3], entries[1]
    rewrite(redis_client, keys, entries)

    result = audit.verify()

    assert result.broken is not None
    assert (result.broken.position, result.broken.seq) == (2, 4)
    assert result.broken.reason.startswith("entry 2 is missing: entry 4 stands in its place")


def test_an_entry_that_does_not_read_as_one_is_named(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 3)
    redis_client.lset(keys.audit_log, 1, b"garbage")
    broken = audit.verify().broken
    assert broken is not None and (broken.position, broken.seq) == (2, None)


def test_entries_cut_off_the_end_are_detected_by_the_head(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 5)
    redis_client.rpop(keys.audit_log)
    broken = audit.verify().broken
    assert broken is not None and broken.position == 5
    assert broken.reason.startswith("the chain ends at entry 4 but its head records entry 5")


def test_entries_cut_off_with_the_head_rewritten_are_detected_by_an_anchor(
    audit: AuditLog, redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(audit, 5)
    anchor = (5, audit.head()[1])
    entries = [AuditEntry.from_json(raw) for raw in raw_entries(redis_client, keys)]
    redis_client.rpop(keys.audit_log)
    redis_client.hset(keys.audit_head, mapping={"seq": 4, "mac": entries[3].mac})
    assert audit.verify().ok  # the head alone cannot tell

    broken = audit.verify(anchor).broken

    assert broken is not None and broken.position == 5
    assert "entry 5 of the anchor recorded earlier is missing" in broken.reason
    assert audit.verify((4, entries[3].mac)).ok


def test_an_anchor_whose_mac_differs_is_named(audit: AuditLog) -> None:
    fill(audit, 3)
    broken = audit.verify((2, "f" * 64)).broken
    assert broken is not None and (broken.position, broken.seq) == (2, 2)


# -- keys ----------------------------------------------------------------------------------
def test_entries_sealed_under_an_older_key_verify_while_the_ring_holds_it(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    fill(AuditLog(redis_client, keys, AuditKeys.parse(K1)), 2)
    rotated = AuditLog(redis_client, keys, AuditKeys.parse(f"{K2},{K1}"))
    assert rotated.append("2000-0", "{}") == 3
    assert rotated.verify().ok
    kids = [AuditEntry.from_json(raw).kid for raw in raw_entries(redis_client, keys)]
    assert kids == ["k1", "k1", "k2"]

    broken = AuditLog(redis_client, keys, AuditKeys.parse(K2)).verify().broken

    assert broken is not None and broken.position == 1
    assert "sealed with key 'k1', which is not in the ring" in broken.reason


def test_in_development_mode_without_configured_keys_one_key_is_shared_through_redis(
    redis_client: fakeredis.FakeRedis, keys: Keys
) -> None:
    first = audit_key_ring(redis_client, keys, None, dev_mode=True)
    second = audit_key_ring(redis_client, keys, None, dev_mode=True)
    assert first.current_id == "dev"
    assert first.mac("dev", b"x") == second.mac("dev", b"x") is not None


def test_a_malformed_key_ring_is_refused_without_echoing_it() -> None:
    with pytest.raises(KeyRingError) as raised:
        AuditKeys.parse("k1:" + base64.b64encode(b"short").decode())
    assert "32 bytes" in str(raised.value) and "short" not in str(raised.value)


# -- concurrency: the head is compared and set atomically ---------------------------------
def test_an_append_that_lost_a_race_chains_onto_the_new_head(audit: AuditLog) -> None:
    fill(audit, 1)
    stale = audit.head()
    real_head = audit.head
    calls = {"n": 0}

    def head_once_stale() -> tuple[int, str]:
        calls["n"] += 1
        if calls["n"] == 1:
            # Another auditor appends between this one's read of the head and its write.
            assert audit.append("3000-0", "{}") == 2
            return stale
        return real_head()

    audit.head = head_once_stale  # type: ignore[method-assign]
    assert audit.append("3001-0", "{}") == 3
    audit.head = real_head  # type: ignore[method-assign]
    assert audit.verify().ok


# -- the audit consumer --------------------------------------------------------------------
def test_the_auditor_chains_every_transition_and_refusal_once_in_stream_order(
    world: World,
) -> None:
    deps = world.deps
    world.to_pending_review()
    assert world.review(payment_id_for(PAYER, "nope")).reason_code == "payment_not_found"
    stream = [
        (sid.decode(), body[b"event"].decode())
        for sid, body in deps.redis.xrange(deps.keys.events, "-", "+")
    ]
    auditor = Auditor(deps.redis, deps.keys, audit_log_of(deps), consumer="audit-test")

    assert auditor.catch_up() == len(stream)
    assert auditor.catch_up() == 0

    log = audit_log_of(deps)
    entries = [AuditEntry.from_json(raw) for raw in log.entries()]
    assert [(e.source_id, e.event) for e in entries] == stream
    assert {json.loads(e.event)["kind"] for e in entries} == {"transition", "refusal"}
    assert log.verify().ok


def test_entries_read_but_not_acknowledged_before_a_crash_are_chained_once(
    world: World,
) -> None:
    deps = world.deps
    world.to_pending_review()
    Auditor(deps.redis, deps.keys, audit_log_of(deps), consumer="audit-1")  # the group
    # The first consumer reads and chains, then "crashes" before its acknowledgement.
    reply = deps.redis.xreadgroup("audit", "audit-1", {deps.keys.events: ">"}, count=2)
    for sid, fields in reply[0][1]:
        audit_log_of(deps).append(sid.decode(), fields[b"event"].decode())
    events = deps.redis.xlen(deps.keys.events)

    again = Auditor(deps.redis, deps.keys, audit_log_of(deps), consumer="audit-1")
    again.catch_up()

    log = audit_log_of(deps)
    assert log.verify().ok and log.verify().entries == events


# -- the CLI -------------------------------------------------------------------------------
def run(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str) -> Any:
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, json.loads(lines[-1]) if lines else {}


def test_audit_verify_exits_0_on_an_intact_chain_and_1_naming_the_first_broken_entry(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    deps = world.deps
    world.to_pending_review()
    Auditor(deps.redis, deps.keys, audit_log_of(deps), consumer="audit-cli").catch_up()

    code, shown = run(monkeypatch, deps, "audit", "verify")
    assert (code, shown["ok"], shown["entries"], shown["broken"]) == (0, True, 3, None)
    assert shown["events_not_yet_chained"] == 0
    anchor = f"{shown['head_seq']}:{shown['head_mac']}"
    assert run(monkeypatch, deps, "audit", "verify", "--anchor", anchor)[0] == 0

    deps.redis.lrem(deps.keys.audit_log, 1, deps.redis.lindex(deps.keys.audit_log, 1))
    code, shown = run(monkeypatch, deps, "audit", "verify")
    assert (code, shown["ok"], shown["broken"]["position"], shown["broken"]["seq"]) == (
        1,
        False,
        2,
        3,
    )
    assert shown["broken"]["reason"].startswith("entry 2 is missing")


def test_audit_verify_refuses_a_malformed_anchor(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    code, shown = run(monkeypatch, world.deps, "audit", "verify", "--anchor", "3:xyz")
    assert code == 2 and "SEQ:MAC" in shown["error"]
