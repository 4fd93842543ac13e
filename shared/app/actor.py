"""Thin dramatiq adapters: guard the size, call the stage's handler, keep unusable messages
in the dead-letter queue, log the outcome. Nothing else."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict
from typing import Any

import dramatiq
import redis
import structlog
from dramatiq.middleware import CurrentMessage

from shared.app.deps import Deps
from shared.app.guard import UNKNOWN_PAYMENT, Outcome
from shared.domain.errors import Refusal

log = structlog.get_logger()
Handler = Callable[[Any, Deps], Outcome]
StageActor = dramatiq.Actor[..., None]
#: What the stage actor did with the message its worker thread is processing, for the
#: metrics middleware (:mod:`shared.metrics.messages`) to count. Not a return value: dramatiq
#: warns about every actor that returns one without its Results middleware.
last_outcome: ContextVar[Outcome | None] = ContextVar("last_outcome", default=None)

#: No legitimate command comes near this; a larger one is dead-lettered unread.
MAX_MESSAGE_BYTES = 64 * 1024
#: How long a handler waits for Redis to come back before giving the message up to retries.
OUTAGE_PATIENCE_SECONDS = 300.0
REDIS_OUTAGE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


def _through_outages(handler: Handler, message: Any, deps: Deps) -> Outcome:
    """Run the handler; if Redis goes away under it, wait for Redis and run it again.

    Handing the message back to dramatiq instead would need Redis for the retry itself, and
    dramatiq acknowledges a message whose retry could not be enqueued: it would be lost.
    Running the handler again is safe: every handler is idempotent (a change already made
    is recognised by its command id or by the payment's state)."""
    deadline = time.monotonic() + OUTAGE_PATIENCE_SECONDS
    pause = 0.2
    while True:
        try:
            return handler(message, deps)
        except REDIS_OUTAGE as error:
            if time.monotonic() > deadline:
                raise
            log.warning("redis unavailable; will run the message again", error=type(error).__name__)
        while time.monotonic() < deadline:
            time.sleep(pause)  # waiting out an outage, bounded by the deadline
            pause = min(pause * 2, 2.0)
            try:
                if deps.redis.ping():
                    break
            except REDIS_OUTAGE:
                continue


def stage_actor(
    broker: dramatiq.Broker, deps: Deps, handler: Handler, queue: str, name: str
) -> StageActor:
    def run(*args: Any, **kwargs: Any) -> None:
        current = CurrentMessage.get_current_message()
        message_id = str(current.message_id) if current is not None else "?"
        if len(args) != 1 or kwargs:
            # Every stage message is exactly one JSON object; anything else is kept aside.
            reason = f"malformed message: {len(args)} arguments and {len(kwargs)} keywords"
            deps.deadletters.add(queue, name, message_id, reason, {"args": len(args)})
            log.warning("message dead-lettered", reason=reason)
            last_outcome.set(Outcome("dead_lettered", UNKNOWN_PAYMENT, dead_letter_reason=reason))
            return
        message = args[0]
        size = len(json.dumps(message, default=str))
        if size > MAX_MESSAGE_BYTES:
            reason = f"message too large: {size} bytes (limit {MAX_MESSAGE_BYTES})"
            dead_letter_id = deps.deadletters.add(queue, name, message_id, reason, {"size": size})
            log.warning("message dead-lettered", reason=reason, dead_letter_id=dead_letter_id)
            last_outcome.set(Outcome("dead_lettered", UNKNOWN_PAYMENT, dead_letter_reason=reason))
            return
        outcome = _through_outages(handler, message, deps)
        last_outcome.set(outcome)
        if outcome.dead_letter_reason is not None:
            dead_letter_id = deps.deadletters.add(
                queue, name, message_id, outcome.dead_letter_reason, message
            )
            log.warning(
                "message dead-lettered",
                reason=outcome.dead_letter_reason,
                dead_letter_id=dead_letter_id,
            )
            return
        log.info("message handled", **asdict(outcome))

    run.__name__ = name
    # Refusals are recorded by the handler and answered; should one ever escape, it is
    # still final: listed in throws, never retried.
    # Whether and how often a failure is retried is the broker's ``retry_when`` alone
    # (transient faults only, a bounded number of times); dramatiq ignores an actor's own
    # max_retries once that is set.
    declare = dramatiq.actor(broker=broker, queue_name=queue, actor_name=name, throws=(Refusal,))
    return declare(run)
