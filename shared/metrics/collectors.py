"""Collectors evaluated at scrape time: the numbers are read when Prometheus asks, not kept
up to date in the background. Each read runs with a deadline: a slow Redis or database makes
its source report ``up 0`` and its other numbers absent, never a hanging scrape.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from shared.domain.states import PaymentStatus
from shared.metrics.system import SystemSnapshot

T = TypeVar("T")
log = structlog.get_logger()
#: How long a scrape waits for one source before reporting it down (seconds). Prometheus's
#: default scrape timeout is 10 s; this leaves room for every source of a process.
READ_TIMEOUT_SECONDS = 2.0


class Bounded(Generic[T]):
    """Runs ``read`` on a daemon thread and waits at most ``timeout`` seconds for it. A read
    that overruns is left to finish on its own; until it has, later scrapes report the
    source down at once instead of piling more threads on a hung connection (and a daemon
    thread never holds up the process's exit)."""

    def __init__(self, read: Callable[[], T], timeout: float = READ_TIMEOUT_SECONDS) -> None:
        self._read = read
        self._timeout = timeout
        self._lock = threading.Lock()
        self._overrunning: threading.Thread | None = None

    def __call__(self) -> T | None:
        with self._lock:
            if self._overrunning is not None and self._overrunning.is_alive():
                log.warning("metrics source still busy with an earlier read")
                return None
            box: dict[str, T | BaseException] = {}

            def run() -> None:
                try:
                    box["value"] = self._read()
                except Exception as error:  # reported below, as the source being down
                    box["error"] = error

            thread = threading.Thread(target=run, name="metrics-read", daemon=True)
            thread.start()
            thread.join(self._timeout)
            if thread.is_alive():
                self._overrunning = thread
                log.warning("metrics source too slow", timeout=self._timeout)
                return None
            if "error" in box:
                log.warning("metrics source unavailable", error=type(box["error"]).__name__)
                return None
            return cast(T, box["value"])


class SystemCollector(Collector):
    """The installation's queues, stream readers and dead letters (see
    :mod:`shared.metrics.system`), read from Redis at each scrape."""

    def __init__(self, read: Callable[[], SystemSnapshot], timeout: float = READ_TIMEOUT_SECONDS):
        self._read = Bounded(read, timeout)

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        snapshot = self._read()
        up = GaugeMetricFamily(
            "b2bpay_redis_up", "1 if the last scrape read the queues and streams in time."
        )
        up.add_metric([], 0 if snapshot is None else 1)
        yield up
        if snapshot is not None:
            yield from system_families(snapshot)


def system_families(s: SystemSnapshot) -> list[GaugeMetricFamily | CounterMetricFamily]:
    """The snapshot as metric families (what ``/metrics`` shows of it)."""
    messages = GaugeMetricFamily(
        "b2bpay_queue_messages",
        "Messages on a stage's queue: ready (waiting), in_flight (fetched, not yet "
        "acknowledged), delayed (retries waiting out their backoff).",
        labels=["queue", "state"],
    )
    age = GaugeMetricFamily(
        "b2bpay_queue_oldest_message_age_seconds",
        "Seconds since the message next in line on a queue was first enqueued (0: empty).",
        labels=["queue"],
    )
    for q in s.queues:
        messages.add_metric([q.queue, "ready"], q.ready)
        messages.add_metric([q.queue, "delayed"], q.delayed)
        if q.in_flight is not None:
            messages.add_metric([q.queue, "in_flight"], q.in_flight)
        if q.oldest_age_seconds is not None or q.ready == 0:
            age.add_metric([q.queue], q.oldest_age_seconds or 0.0)
    lag = GaugeMetricFamily(
        "b2bpay_stream_group_lag_events",
        "Events on the stream not yet delivered to a consumer group.",
        labels=["group"],
    )
    lag_seconds = GaugeMetricFamily(
        "b2bpay_stream_group_lag_seconds",
        "Seconds since the oldest event not yet delivered to a consumer group was written "
        "(0: it has read everything).",
        labels=["group"],
    )
    pending = GaugeMetricFamily(
        "b2bpay_stream_group_pending_events",
        "Events delivered to a consumer group's consumers and not yet acknowledged.",
        labels=["group"],
    )
    consumers = GaugeMetricFamily(
        "b2bpay_stream_group_consumers", "Consumers of a consumer group.", labels=["group"]
    )
    for g in s.groups:
        if g.lag is not None:
            lag.add_metric([g.group], g.lag)
        lag_seconds.add_metric([g.group], g.lag_seconds)
        pending.add_metric([g.group], g.pending)
        consumers.add_metric([g.group], g.consumers)
    length = GaugeMetricFamily("b2bpay_stream_events", "Entries on the events stream.")
    length.add_metric([], s.stream_length)
    dead = GaugeMetricFamily(
        "b2bpay_dead_letters", "Dead letters kept for an operator, per queue.", labels=["queue"]
    )
    for queue, n in s.dead_letters.items():
        dead.add_metric([queue], n)
    dropped = CounterMetricFamily(
        "b2bpay_dead_letters_dropped",
        "Dead letters dropped over the per-queue cap (B2BPAY_DEAD_LETTERS_MAX_PER_QUEUE).",
        labels=["queue"],
    )
    for queue in s.dead_letters:
        dropped.add_metric([queue], s.dead_letters_dropped.get(queue, 0))
    return [messages, age, lag, lag_seconds, pending, consumers, length, dead, dropped]


@dataclass(frozen=True)
class StatusCount:
    """Payments in one status in the read model, and when the longest-waiting entered it."""

    count: int
    #: Unix time the payment longest in this status entered it; None if unknown.
    oldest_since: float | None


class PaymentsCollector(Collector):
    """Payments by status and, for the statuses that wait on someone, the age of the
    longest-waiting one and its deadline; from the query read model (one grouped SQL
    query), never by scanning Redis."""

    def __init__(
        self,
        read: Callable[[], Mapping[str, StatusCount]],
        deadlines: Mapping[str, float],
        clock: Callable[[], float],
        timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self._read = Bounded(read, timeout)
        self._deadlines = dict(deadlines)
        self._clock = clock

    def collect(self) -> Iterable[GaugeMetricFamily]:
        counts = self._read()
        up = GaugeMetricFamily(
            "b2bpay_read_model_up", "1 if the last scrape read the read model in time."
        )
        up.add_metric([], 0 if counts is None else 1)
        yield up
        deadline = GaugeMetricFamily(
            "b2bpay_payment_deadline_seconds",
            "How long a payment may wait in a status before it expires (the settings).",
            labels=["status"],
        )
        for status, seconds in self._deadlines.items():
            deadline.add_metric([status], seconds)
        yield deadline
        if counts is None:
            return
        payments = GaugeMetricFamily(
            "b2bpay_payments", "Payments in the read model, by status.", labels=["status"]
        )
        oldest = GaugeMetricFamily(
            "b2bpay_payments_oldest_age_seconds",
            "Seconds the payment longest in a status that has a deadline has been in it (0: none).",
            labels=["status"],
        )
        now = self._clock()
        # Every status, 0 when none: a series that exists from the start, and label values
        # from the closed set only.
        for status in PaymentStatus:
            found = counts.get(status.value)
            payments.add_metric([status.value], found.count if found is not None else 0)
        for status in self._deadlines:
            waiting = counts.get(status)
            since = waiting.oldest_since if waiting is not None else None
            oldest.add_metric([status], max(now - since, 0.0) if since is not None else 0.0)
        yield payments
        yield oldest


def new_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of this process's own (never the library's global one), holding
    ``collectors``."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return registry
