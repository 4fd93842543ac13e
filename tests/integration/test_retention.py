"""Bounded growth on real Redis: the events stream is trimmed only below what every consumer
group has read and acknowledged and below the retention; dead letters are capped per queue,
loudly."""

from __future__ import annotations

import json
import threading
import time

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from services.cli import context
from services.cli.main import app
from services.sweeper.sweeper import sweep_forever
from shared.app.deps import Deps
from shared.redis.deadletter import DeadLetters
from shared.redis.trimming import trim_events
from tests.stack import wait_until

pytestmark = pytest.mark.integration

DAY = 86_400.0
WEEK = 7 * DAY


def _add(deps: Deps, age_seconds: float, count: int) -> list[str]:
    """``count`` events written ``age_seconds`` ago (stream ids carry their time)."""
    at_ms = int((time.time() - age_seconds) * 1000)
    return [
        deps.redis.xadd(deps.keys.events, {"event": "{}"}, id=f"{at_ms}-{n}").decode()
        for n in range(count)
    ]


def _group(deps: Deps, name: str) -> None:
    deps.redis.xgroup_create(deps.keys.events, name, id="0", mkstream=True)


def _read(deps: Deps, group: str, count: int, ack: bool = True) -> list[str]:
    reply = deps.redis.xreadgroup(group, f"{group}-1", {deps.keys.events: ">"}, count=count)
    ids = [entry_id.decode() for _stream, entries in reply for entry_id, _ in entries]
    if ack and ids:
        deps.redis.xack(deps.keys.events, group, *ids)
    return ids


def _left(deps: Deps) -> list[str]:
    return [entry_id.decode() for entry_id, _ in deps.redis.xrange(deps.keys.events)]


def _trim(deps: Deps, retention: float = WEEK) -> int:
    return trim_events(deps.redis, deps.keys, retention, time.time()).removed


def test_an_entry_a_group_has_not_read_yet_is_never_trimmed_however_old(deps: Deps) -> None:
    old = _add(deps, 30 * DAY, 5)
    _group(deps, "query")
    _group(deps, "audit")
    _read(deps, "query", 5)
    _read(deps, "audit", 2)  # the auditor is behind: 3 entries not delivered to it yet

    assert _trim(deps) == 2
    assert _left(deps) == old[2:]
    _group(deps, "archive")  # a subscriber that has read nothing holds everything left
    assert _trim(deps) == 0
    assert _left(deps) == old[2:]


def test_an_entry_delivered_but_not_acknowledged_is_never_trimmed(deps: Deps) -> None:
    old = _add(deps, 30 * DAY, 4)
    _group(deps, "query")
    _group(deps, "audit")
    _read(deps, "query", 4)
    _read(deps, "audit", 1)
    _read(deps, "audit", 3, ack=False)  # delivered, pending: a crash would re-read them

    assert _trim(deps) == 1
    assert _left(deps) == old[1:]


def test_entries_every_group_read_and_acknowledged_go_once_older_than_the_retention(
    deps: Deps,
) -> None:
    old = _add(deps, 8 * DAY, 3)
    recent = _add(deps, 1 * DAY, 2)
    _group(deps, "query")
    _group(deps, "audit")
    _read(deps, "query", 5)
    _read(deps, "audit", 5)

    result = trim_events(deps.redis, deps.keys, WEEK, time.time())

    assert result.removed == len(old)
    assert _left(deps) == recent
    assert result.held_by == "retention"


def test_nothing_is_trimmed_before_every_follower_of_b2bpay_has_its_group(deps: Deps) -> None:
    _add(deps, 30 * DAY, 3)
    _group(deps, "query")
    _read(deps, "query", 3)

    result = trim_events(deps.redis, deps.keys, WEEK, time.time())

    assert (result.removed, result.held_by) == (0, "group audit not created")
    assert len(_left(deps)) == 3


def test_the_sweeper_worker_trims_the_stream(deps: Deps) -> None:
    _add(deps, 30 * DAY, 3)
    recent = _add(deps, 0, 1)
    _group(deps, "query")
    _group(deps, "audit")
    _read(deps, "query", 4)
    _read(deps, "audit", 4)
    deps.settings.sweep_interval_seconds = 0.05
    stop = threading.Event()
    sweeper = threading.Thread(target=sweep_forever, args=(deps, stop), daemon=True)
    sweeper.start()
    try:
        wait_until("the old events trimmed", lambda: _left(deps) == recent, 15)
    finally:
        stop.set()
        sweeper.join(timeout=10)


def test_the_operator_command_says_how_many_were_removed_and_below_which_id(
    monkeypatch: pytest.MonkeyPatch, deps: Deps
) -> None:
    old = _add(deps, 30 * DAY, 2)
    _group(deps, "query")
    _group(deps, "audit")
    _read(deps, "query", 2)
    _read(deps, "audit", 2)
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)

    result = CliRunner().invoke(app, ["stream", "trim", "--json"])

    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["removed"] == 2
    ms, seq = old[-1].split("-")
    assert data["below"] == data["groups"]["audit"] == f"{ms}-{int(seq) + 1}"
    assert "consumer group" in data["archive"]


def test_dead_letters_over_the_cap_drop_the_oldest_of_that_queue_with_an_alert(
    deps: Deps,
) -> None:
    letters = DeadLetters(deps.redis, deps.keys, max_per_queue=3)
    with capture_logs() as logs:
        flooded = [letters.add("apply", "a", f"m-{n}", "invalid", {"n": n}) for n in range(5)]
        other = letters.add("interbank", "b", "m-x", "invalid", {"n": "x"})

    kept = [d.dead_letter_id for d in letters.list(100)]
    assert kept == [*flooded[2:], other]
    assert all(letters.get(i) is None for i in flooded[:2])
    assert letters.dropped() == {"apply": 2}
    alerts = [e for e in logs if e["event"] == "dead letters over cap"]
    assert [(e["queue"], e["dropped"], e["log_level"]) for e in alerts] == [
        ("apply", 1, "warning"),
        ("apply", 1, "warning"),
    ]
    assert alerts[-1]["dropped_total"] == 2
    # Removing one frees its place under the cap.
    assert letters.remove(flooded[2])
    letters.add("apply", "a", "m-6", "invalid", {"n": 6})
    assert letters.dropped() == {"apply": 2}
