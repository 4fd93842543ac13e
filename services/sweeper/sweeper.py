"""The sweeper: expires payments nobody acted on in time (DESIGN §5) and trims the events stream
below what every consumer group has read (:mod:`shared.redis.trimming`). Any number of
sweepers may run: the atomic transition lets exactly one expire each payment."""

from __future__ import annotations

import threading
import time

import redis
import structlog

from shared.app.deps import Deps
from shared.app.expiry import expire_if_overdue
from shared.domain.states import PaymentStatus
from shared.redis.trimming import trim_events

log = structlog.get_logger()


def sweep(deps: Deps, now: float | None = None, limit: int = 200) -> int:
    """Expire every overdue payment; returns how many were expired."""
    moment = deps.store.now() if now is None else now
    expired = 0
    for payment_id in deps.store.overdue(moment, limit):
        payment = deps.store.get(payment_id)
        if payment is None:
            continue
        after = expire_if_overdue(deps, payment, moment)
        if after.status == PaymentStatus.EXPIRED and payment.status != PaymentStatus.EXPIRED:
            expired += 1
    return expired


def sweep_forever(deps: Deps, stop: threading.Event) -> None:
    """Expire overdue payments every few moments; several sweepers may run, the atomic
    transition lets exactly one expire each payment."""
    next_trim = 0.0
    while not stop.wait(deps.settings.sweep_interval_seconds):
        try:
            expired = sweep(deps)
            if time.monotonic() >= next_trim:
                next_trim = time.monotonic() + deps.settings.events_trim_interval_seconds
                _trim_events(deps)
        except redis.RedisError as error:
            log.warning("sweep failed; retrying", error=type(error).__name__)
            continue
        if expired:
            log.info("payments expired", count=expired)


def _trim_events(deps: Deps) -> None:
    """The events stream, cut below what every consumer group has read and acknowledged
    and below the retention (:mod:`shared.redis.trimming`); several sweepers may do it at once."""
    result = trim_events(
        deps.redis, deps.keys, deps.settings.events_retention_seconds, deps.store.now()
    )
    if result.removed:
        log.info("events trimmed", removed=result.removed, below=result.below)
