"""A message that fails for good (here: a bug in a handler) reaches the dead-letter queue
without its secrets, and dramatiq's own copy with them does not linger — on Redis, and on
RabbitMQ, where dramatiq's copy goes to the queue's XQ."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis

from shared.app.actor import stage_actor
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.messaging import routes as q
from tests.rabbitmq import AmqpQueues, fresh_vhost
from tests.stack import wait_until

pytestmark = pytest.mark.integration


def _buggy(message: Any, deps: Deps) -> Outcome:
    raise RuntimeError("a bug, not a refusal")


def test_a_message_failing_for_good_is_kept_without_its_secrets(deps: Deps) -> None:
    stage_actor(deps.broker, deps, _buggy, q.APPLY, "buggy_actor")
    worker = dramatiq.Worker(deps.broker, queues={q.APPLY}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        deps.dispatch(
            q.APPLY,
            "buggy_actor",
            {"request_id": "r-1", "session": "v1.TOKEN.sig", "otp": "493817"},
        )
        [letter] = wait_until("a dead letter", lambda: deps.deadletters.list(), 15)
    finally:
        worker.stop()

    assert letter.actor == "buggy_actor"
    assert letter.reason.startswith("failed: RuntimeError")
    assert letter.payload == {"request_id": "r-1", "session": "[removed]", "otp": "[removed]"}
    assert deps.broker.dead_message_ttl == deps.settings.dead_message_ttl_ms == 60_000  # type: ignore[attr-defined]


XQ_TTL_MS = 3_000


@pytest.fixture
def on_rabbitmq(settings: Settings, redis_client: redis.Redis) -> Iterator[tuple[Deps, AmqpQueues]]:
    """Dependencies whose queues are on RabbitMQ (a vhost of this test's own)."""
    with fresh_vhost("failed") as url:
        update = {"broker_url": url, "dead_message_ttl_ms": XQ_TTL_MS}
        deps = bootstrap(settings.model_copy(update=update), redis_client)
        amqp = AmqpQueues(url)
        try:
            yield deps, amqp
        finally:
            amqp.close()
            deps.broker.close()


def test_on_rabbitmq_a_message_failing_for_good_is_kept_without_secrets_and_its_xq_copy_expires(
    on_rabbitmq: tuple[Deps, AmqpQueues],
) -> None:
    deps, amqp = on_rabbitmq
    stage_actor(deps.broker, deps, _buggy, q.APPLY, "buggy_actor")
    worker = dramatiq.Worker(deps.broker, queues={q.APPLY}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        deps.dispatch(
            q.APPLY,
            "buggy_actor",
            {"request_id": "r-1", "session": "v1.TOKEN.sig", "otp": "493817"},
        )
        [letter] = wait_until("a dead letter", lambda: deps.deadletters.list(), 15)
        # dramatiq's copy, secrets and all, is in the XQ, and only for the TTL set.
        wait_until("dramatiq's copy in the XQ", lambda: amqp.waiting(f"{q.APPLY}.XQ") == 1, 5)
        assert amqp.has_arguments(f"{q.APPLY}.XQ", {"x-message-ttl": XQ_TTL_MS})
        wait_until("dramatiq's copy to expire", lambda: amqp.waiting(f"{q.APPLY}.XQ") == 0, 10)
    finally:
        worker.stop()

    assert letter.actor == "buggy_actor"
    assert letter.reason.startswith("failed: RuntimeError")
    assert letter.payload == {"request_id": "r-1", "session": "[removed]", "otp": "[removed]"}
    assert amqp.waiting(q.APPLY) == 0
