"""The audit chain on a real Redis: concurrent auditors extend one chain, each event once."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
import redis

from services.audit.auditor import Auditor, audit_log_of
from shared.app.deps import Deps
from shared.security.audit_chain import AuditEntry
from tests.integration.support import run_in_threads

pytestmark = pytest.mark.integration


def add_events(deps: Deps, count: int) -> list[str]:
    ids = []
    for n in range(count):
        body = json.dumps({"event_id": f"pay_x:{n + 1}", "kind": "transition", "seq": n + 1})
        ids.append(deps.redis.xadd(deps.keys.events, {"event": body}).decode())
    return ids


def test_eight_threads_chaining_the_same_events_chain_each_exactly_once(
    deps: Deps, client_factory: Callable[[], redis.Redis]
) -> None:
    ids = add_events(deps, 50)

    def chain_all(i: int) -> int:
        log = audit_log_of(dataclasses.replace(deps, redis=client_factory()))
        return sum(1 for sid in ids if log.append(sid, f"event {sid}") is not None)

    results = run_in_threads(8, chain_all)

    assert sum(r for r in results if isinstance(r, int)) == 50, results
    log = audit_log_of(deps)
    assert log.verify().ok and log.verify().entries == 50
    entries = [AuditEntry.from_json(raw) for raw in log.entries()]
    assert sorted(e.source_id for e in entries) == sorted(ids)


def test_two_auditor_processes_share_the_stream_and_build_one_intact_chain(
    deps: Deps, client_factory: Callable[[], redis.Redis]
) -> None:
    ids = add_events(deps, 400)

    def audit(i: int) -> int:
        client = client_factory()
        own = dataclasses.replace(deps, redis=client)
        auditor = Auditor(client, deps.keys, audit_log_of(own), consumer=f"audit-{i}")
        return auditor.catch_up()

    results = run_in_threads(2, audit)

    assert sum(r for r in results if isinstance(r, int)) == 400, results
    log = audit_log_of(deps)
    verified = log.verify()
    assert verified.ok and verified.entries == 400
    assert sorted(AuditEntry.from_json(raw).source_id for raw in log.entries()) == sorted(ids)
    assert deps.redis.xpending(deps.keys.events, "audit")["pending"] == 0
