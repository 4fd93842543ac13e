"""What a stage worker counts about the messages it handles, by stage and actor: how many and
with what outcome, refusals by reason code, dead letters, and how long the handler took.

Counted by a dramatiq middleware from the :class:`~shared.app.guard.Outcome` the stage
actor leaves in :data:`~shared.app.actor.last_outcome`, so no handler knows about
metrics. Label values are only ever a stage, an
actor name (both from the routes table), an outcome or a reason code (both closed sets):
never a payment id, a user or anything a sender wrote (``tests/unit/test_metrics_labels.py``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.common import q_name
from dramatiq.middleware import Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.app.actor import last_outcome
from shared.app.guard import Outcome
from shared.domain.errors import ReasonCode
from shared.messaging.routes import STAGE_OF_QUEUE

#: Handler latency buckets (seconds): a stage's handler takes milliseconds unless it waits
#: on Redis or on clearing; the upper buckets show those waits.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: The outcome of a message whose handler raised: retried later, or given up (dead-lettered).
RAISED = "error"
GIVEN_UP = "failed"
#: Every outcome label value (the handlers' outcomes and the two above).
OUTCOMES = frozenset(
    {"accepted", "refused", "duplicate", "ignored", "dead_lettered", RAISED, GIVEN_UP}
)
_REASONS = frozenset(code.value for code in ReasonCode)


class MessageMetrics:
    """The message counters and the latency histogram of one process, on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("stage", "actor")
        self.handled = Counter(
            "b2bpay_messages_handled",
            "Messages a stage handled, by outcome (accepted, refused, duplicate, ignored, "
            "dead_lettered; error: raised and retried; failed: given up and dead-lettered).",
            (*labels, "outcome"),
            registry=registry,
        )
        self.refused = Counter(
            "b2bpay_messages_refused",
            "Commands a stage refused, by reason code.",
            (*labels, "reason_code"),
            registry=registry,
        )
        self.dead_lettered = Counter(
            "b2bpay_messages_dead_lettered",
            "Messages a stage put in the dead-letter queue (invalid, malformed, too large, "
            "or failed after every retry).",
            labels,
            registry=registry,
        )
        self.latency = Histogram(
            "b2bpay_message_handler_seconds",
            "Time a stage's handler took for one message.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def expect(self, stage: str, actor: str) -> None:
        """Show ``actor``'s series at 0 before its first message, so that a rate over them
        exists from the worker's start."""
        self.handled.labels(stage, actor, "accepted")
        self.dead_lettered.labels(stage, actor)
        self.latency.labels(stage, actor)

    def observe(
        self,
        stage: str,
        actor: str,
        outcome: Outcome | None,
        *,
        raised: bool,
        given_up: bool,
        seconds: float,
    ) -> None:
        if raised:
            name = GIVEN_UP if given_up else RAISED
        elif outcome is not None and outcome.outcome in OUTCOMES:
            name = outcome.outcome
        else:
            # Every stage actor leaves an Outcome; without one it did nothing we know of.
            name = "ignored"
        self.handled.labels(stage, actor, name).inc()
        self.latency.labels(stage, actor).observe(seconds)
        if outcome is not None and outcome.reason_code in _REASONS:
            self.refused.labels(stage, actor, outcome.reason_code).inc()
        if name in ("dead_lettered", GIVEN_UP):
            self.dead_lettered.labels(stage, actor).inc()


class CountMessages(Middleware):
    """Times and counts every message a worker processes. Add it ``before=Retries``: dramatiq
    runs "after" hooks in reverse order, so this one then sees whether Retries gave the
    message up for good."""

    def __init__(self, metrics: MessageMetrics) -> None:
        self._metrics = metrics
        # One message at a time per worker thread: its start time is the thread's.
        self._started = threading.local()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        last_outcome.set(None)
        self._started.at = time.perf_counter()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        started = getattr(self._started, "at", None)
        seconds = time.perf_counter() - started if started is not None else 0.0
        queue = q_name(message.queue_name)
        stage = STAGE_OF_QUEUE.get(queue)
        self._metrics.observe(
            stage.value if stage is not None else "unknown",
            message.actor_name,
            last_outcome.get(),
            raised=exception is not None,
            given_up=exception is not None and bool(message.failed),
            seconds=seconds,
        )
