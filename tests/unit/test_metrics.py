"""What ``/metrics`` exposes (no I/O: fakeredis with the real Lua): nothing but numbers named
by b2bpay's own closed vocabularies; the percentile arithmetic of ``b2bpay top``; a slow
source reported down instead of hanging the scrape."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.app.guard import Outcome
from shared.domain.errors import ReasonCode
from shared.domain.states import PaymentStatus
from shared.messaging import routes
from shared.metrics.collectors import (
    SystemCollector,
    new_registry,
)
from shared.metrics.messages import OUTCOMES, MessageMetrics
from shared.metrics.scrape import StageTotals, quantile, stage_rates, stage_totals
from shared.metrics.system import RedisQueueProbe
from tests.unit.metrics_support import metrics_exposition
from tests.unit.support import World

#: Every label a b2bpay metric may carry; each takes values only from a closed set.
ALLOWED_LABELS = {"stage", "actor", "outcome", "reason_code", "queue", "state", "group", "status"}


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_carry_only_stage_queue_reason_and_status_names_never_a_person_or_secret(
    world: World,
) -> None:
    text, secrets_seen = metrics_exposition(world)

    for secret in secrets_seen:
        assert secret not in text, f"{secret!r} is exposed on /metrics"
    closed_sets = {
        "stage": {s.value for s in routes.STAGE_OF_QUEUE.values()},
        "actor": set(routes.ACTORS),
        "outcome": set(OUTCOMES),
        "reason_code": {c.value for c in ReasonCode},
        "queue": set(routes.QUEUES),
        "state": {"ready", "in_flight", "delayed"},
        "group": {"query", "audit", "relay", "webhooks"},
        "status": {s.value for s in PaymentStatus},
    }
    seen_labels: set[str] = set()
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("b2bpay_"), family.name
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            assert set(labels) <= ALLOWED_LABELS, (sample.name, labels)
            for name, value in labels.items():
                assert value in closed_sets[name], (sample.name, name, value)
            seen_labels |= set(labels)
    # The check above looked at every kind of label, not at an empty page.
    assert {"stage", "actor", "outcome", "reason_code", "queue", "status"} <= seen_labels


def test_handled_refused_and_queue_numbers_are_the_handlers_outcomes(world: World) -> None:
    families = _families(metrics_exposition(world)[0])

    handled = {
        (s.labels["stage"], s.labels["outcome"]): s.value
        for s in families["b2bpay_messages_handled"].samples
        if s.name.endswith("_total")
    }
    assert handled == {
        ("apply", "accepted"): 1,
        ("apply", "refused"): 1,
        ("interbank", "failed"): 1,
    }
    dead_lettered = [
        s for s in families["b2bpay_messages_dead_lettered"].samples if s.name.endswith("_total")
    ]
    assert [(s.labels["stage"], s.value) for s in dead_lettered] == [("interbank", 1)]
    lag = {s.labels["group"]: s.value for s in families["b2bpay_stream_group_lag_events"].samples}
    # Every event on the stream (two transitions and a refusal) is unread by the new group.
    (length,) = families["b2bpay_stream_events"].samples
    assert lag == {"relay": 3} and length.value == 3
    refused = {
        s.labels["reason_code"]: s.value
        for s in families["b2bpay_messages_refused"].samples
        if s.name.endswith("_total")
    }
    assert refused == {"otp_invalid": 1}
    ready = {
        s.labels["queue"]: s.value
        for s in families["b2bpay_queue_messages"].samples
        if s.labels["state"] == "ready"
    }
    # The accepted request was handed on to review; the garbage decision waits for authorize.
    assert ready == {
        "apply": 0,
        "otp-verified": 1,
        "pending-review": 0,
        "pending-auth": 1,
        "interbank": 0,
    }
    dead = {s.labels["queue"]: s.value for s in families["b2bpay_dead_letters"].samples}
    assert dead["pending-review"] == 1
    payments = {s.labels["status"]: s.value for s in families["b2bpay_payments"].samples}
    assert payments["pending_review"] == 1 and payments["settled"] == 0
    oldest = families["b2bpay_payments_oldest_age_seconds"].samples[0]
    assert oldest.value == pytest.approx(5.0)


def test_a_queue_s_oldest_age_is_that_of_the_message_next_in_line(world: World) -> None:
    deps = world.deps
    probe = RedisQueueProbe(deps.redis, deps.settings.queue_namespace(), clock=time.time)
    deps.dispatch(routes.INTERBANK, routes.SUBMIT_TO_CLEARING, {"payment_id": "x"})
    state = {q.queue: q for q in probe.read(routes.QUEUES)}

    assert state["interbank"].ready == 1
    assert state["interbank"].oldest_age_seconds is not None
    assert 0 <= state["interbank"].oldest_age_seconds < 5
    assert state["apply"].oldest_age_seconds is None


def test_a_source_slower_than_its_deadline_is_reported_down_without_holding_the_scrape() -> None:
    release = threading.Event()

    def hung() -> Any:
        release.wait(30)
        raise RuntimeError("never answers in time")

    # A deadline well above a loaded machine's scheduling hiccups, so "waited for it" and
    # "did not wait" stay apart.
    registry = new_registry(SystemCollector(hung, timeout=1.0))
    started = time.monotonic()
    families = _families(generate_latest(registry).decode())
    took = time.monotonic() - started
    # The next scrape finds the first read still hung: down at once, no second thread.
    started = time.monotonic()
    again = _families(generate_latest(registry).decode())
    took_again = time.monotonic() - started
    threads = sum(t.name == "metrics-read" for t in threading.enumerate())
    release.set()

    assert 0.9 <= took < 5 and took_again < 0.5
    assert families["b2bpay_redis_up"].samples[0].value == 0
    assert again["b2bpay_redis_up"].samples[0].value == 0
    assert "b2bpay_queue_messages" not in families
    assert threads == 1


def test_percentiles_interpolate_within_the_bucket_as_histogram_quantile_does() -> None:
    # 100 observations: 50 at or below 10 ms, 99 at or below 100 ms, 1 above 1 s.
    buckets = {0.01: 50.0, 0.1: 99.0, 1.0: 99.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.01)
    assert quantile(0.99, buckets) == pytest.approx(0.1)
    assert quantile(0.25, buckets) == pytest.approx(0.005)
    # Above the highest finite bound: that bound, as Prometheus answers.
    assert quantile(0.999, buckets) == pytest.approx(1.0)
    assert quantile(0.5, {0.01: 0.0, float("inf"): 0.0}) is None


def test_stage_rates_come_from_the_deltas_between_two_scrapes_summed_over_processes() -> None:
    def text(handled: int, fast: int, slow: int) -> str:
        return (
            "# TYPE b2bpay_messages_handled counter\n"
            f'b2bpay_messages_handled_total{{stage="review",actor="x",outcome="accepted"}} '
            f"{handled}\n"
            "# TYPE b2bpay_message_handler_seconds histogram\n"
            f'b2bpay_message_handler_seconds_bucket{{stage="review",actor="x",le="0.01"}} {fast}\n'
            f'b2bpay_message_handler_seconds_bucket{{stage="review",actor="x",le="1.0"}} '
            f"{fast + slow}\n"
            f'b2bpay_message_handler_seconds_bucket{{stage="review",actor="x",le="+Inf"}} '
            f"{fast + slow}\n"
            f'b2bpay_message_handler_seconds_count{{stage="review",actor="x"}} {fast + slow}\n'
            f'b2bpay_message_handler_seconds_sum{{stage="review",actor="x"}} 1.0\n'
        )

    # Two processes of the stage; between the scrapes 20 fast and 20 slow messages each.
    before = stage_totals([text(10, 10, 0), text(10, 10, 0)])
    after = stage_totals([text(50, 30, 20), text(50, 30, 20)])
    (review,) = stage_rates(before, after, seconds=8.0)

    assert review.handled == 100
    assert review.rate_per_second == pytest.approx(80 / 8)
    assert review.p50_seconds == pytest.approx(0.01)
    assert review.p99_seconds is not None and 0.5 < review.p99_seconds <= 1.0
    # A restarted process's counters start again from zero: counted from there.
    (restarted,) = stage_rates(after, {"review": StageTotals(handled=5.0)}, seconds=1.0)
    assert restarted.rate_per_second == 5.0


def test_an_outcome_outside_the_known_set_is_counted_as_ignored() -> None:
    registry = new_registry()
    metrics = MessageMetrics(registry)
    metrics.observe(
        "apply",
        routes.APPLY_PAYMENT,
        Outcome("whatever-a-bug-says", "pay_x", reason_code="made_up_code"),
        raised=False,
        given_up=False,
        seconds=0.1,
    )
    families = _families(generate_latest(registry).decode())
    (sample,) = [s for s in families["b2bpay_messages_handled"].samples if s.name.endswith("total")]
    assert sample.labels["outcome"] == "ignored"
    assert all(s.name.endswith("_created") for s in families["b2bpay_messages_refused"].samples)
