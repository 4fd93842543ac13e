"""The stages' Redis consumer waits on an empty queue instead of polling it: a message is
taken up as soon as it is enqueued, waiting takes nothing off the queue, and the messages of
a dead worker are still handed back while every consumer waits."""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
import pytest

from shared.config import Settings
from shared.messaging.broker import GuardedRedisBroker, build_broker

pytestmark = pytest.mark.integration

QUEUE = "apply"


def _message(n: int) -> dramatiq.Message[Any]:
    return dramatiq.Message(
        queue_name=QUEUE, actor_name="apply_payment", args=({"n": n},), kwargs={}, options={}
    )


def _broker(settings: Settings, idle_wait: float) -> GuardedRedisBroker:
    broker = build_broker(settings)
    assert isinstance(broker, GuardedRedisBroker)
    broker.idle_wait_seconds = idle_wait
    return broker


def test_a_consumer_waiting_on_an_empty_queue_returns_as_soon_as_a_message_is_enqueued(
    settings: Settings,
) -> None:
    # A wait far longer than the test may take: only the arrival can end it in time.
    broker = _broker(settings, idle_wait=30.0)
    consumer = broker.consume(QUEUE, prefetch=1, timeout=100)
    sender = build_broker(settings)
    threading.Timer(0.3, lambda: sender.enqueue(_message(1))).start()
    began = time.monotonic()
    assert next(consumer) is None  # the queue was empty: it waited, then came back
    waited = time.monotonic() - began
    assert waited >= 0.25, "it came back before anything was enqueued: a poll, not a wait"
    assert waited < 10, "the wait was not cut short by the message"
    message = next(consumer)
    assert message is not None and message.args == ({"n": 1},)
    consumer.ack(message)
    consumer.close()


def test_waiting_takes_nothing_off_the_queue_and_keeps_the_order(settings: Settings) -> None:
    broker = _broker(settings, idle_wait=0.05)
    waiting = broker.consume(QUEUE, prefetch=1, timeout=100)
    assert next(waiting) is None
    for n in (1, 2, 3):
        broker.enqueue(_message(n))
    # The wait of another consumer on the now non-empty queue moves nothing.
    assert next(_broker(settings, idle_wait=0.05).consume(QUEUE, prefetch=0, timeout=100)) is None
    taken = []
    for _ in range(3):
        message = next(waiting)
        assert message is not None
        taken.append(message.args[0]["n"])
        waiting.ack(message)
    assert taken == [1, 2, 3]
    waiting.close()


def test_a_dead_workers_unacknowledged_message_is_handed_back_while_consumers_only_wait(
    settings: Settings,
) -> None:
    # No maintenance by chance at all: only the timed one can hand the message back.
    quick = settings.model_copy(update={"heartbeat_timeout_ms": 1000, "maintenance_chance": 0})
    dead = _broker(quick, idle_wait=0.05)
    dead.enqueue(_message(7))
    lost = next(dead.consume(QUEUE, prefetch=1, timeout=100))
    assert lost is not None  # fetched, never acknowledged: its worker "dies" here
    alive = _broker(quick, idle_wait=0.2)
    consumer = alive.consume(QUEUE, prefetch=1, timeout=100)
    deadline = time.monotonic() + 20
    found = None
    while found is None and time.monotonic() < deadline:
        found = next(consumer)
    assert found is not None and found.args == ({"n": 7},)
    consumer.ack(found)
    consumer.close()
