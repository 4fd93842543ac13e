"""The one place that builds the dramatiq broker, before any actor is declared."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed, DecodeError
from dramatiq.middleware import CurrentMessage, Retries

from shared.config import Settings
from shared.domain.errors import TransientError
from shared.logging import LogContext
from shared.messaging.routes import QUEUES, STAGE_OF_QUEUE
from shared.redis.replies import as_text


class _GuardedConsumer(_RedisConsumer):
    """dramatiq's Redis consumer, except that a body that is not a message at all is set
    aside in the dead-letter queue and acknowledged, instead of crashing the consumer (which
    would then restart, and meet the same body again after every requeue)."""

    def __next__(self) -> dramatiq.MessageProxy | None:
        while True:
            try:
                return super().__next__()  # type: ignore[no-any-return]
            except DecodeError as error:
                self._set_aside(error.data)
            except ConnectionClosed:
                self._take_new_identity()
                raise

    def _take_new_identity(self) -> None:
        """After losing Redis, acknowledgements of messages fetched before may have been lost
        with it; the messages would then wait forever in this worker's set of unacknowledged
        messages, since the worker keeps its heartbeat alive. A new identity lets the old set
        look dead, so maintenance hands its messages out again (handlers are idempotent)."""
        self.broker.broker_id = str(uuid.uuid4())

    def _set_aside(self, data: bytes) -> None:
        broker: GuardedRedisBroker = self.broker
        hash_key = f"{broker.namespace}:{self.queue_name}.msgs"
        for message_id, body in broker.client.hscan_iter(hash_key, count=1000):
            if body == data:
                mid = as_text(message_id)
                if broker.on_undecodable is not None:
                    broker.on_undecodable(self.queue_name, mid, data)
                broker.do_ack(self.queue_name, mid)
                return


class GuardedRedisBroker(RedisBroker):
    #: Called with (queue, redis message id, body) for a body that cannot be decoded.
    on_undecodable: Callable[[str, str, bytes], None] | None = None

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _GuardedConsumer


def _retry_when(retries_so_far: int, exception: BaseException) -> bool:
    """Only transient faults are retried; refusals and bugs are not."""
    transient = isinstance(exception, TransientError | redis.ConnectionError | redis.TimeoutError)
    return transient and retries_so_far < 20


def build_broker(settings: Settings, client: redis.Redis | None = None) -> dramatiq.Broker:
    """Build and set the broker. ``client`` lets the demo pass an embedded Redis."""
    url = settings.effective_broker_url()
    if not url.startswith(("redis://", "rediss://", "unix://")) and client is None:
        raise ValueError(f"unsupported broker URL scheme in {url.split('://')[0]!r}; use redis://")
    kwargs: dict[str, Any] = {
        "namespace": settings.queue_namespace(),
        "heartbeat_timeout": settings.heartbeat_timeout_ms,
        "maintenance_chance": settings.maintenance_chance,
        # Failed messages may carry a session token and a one-time code: dramatiq keeps
        # them only this long; the secret-free copy is in our dead-letter queue.
        "dead_message_ttl": settings.dead_message_ttl_ms,
    }
    broker = (
        GuardedRedisBroker(client=client, **kwargs)
        if client is not None
        else GuardedRedisBroker(url=url, **kwargs)
    )
    for middleware in list(broker.middleware):
        if isinstance(middleware, Retries):
            broker.middleware.remove(middleware)
    broker.add_middleware(Retries(retry_when=_retry_when, min_backoff=100, max_backoff=5_000))
    broker.add_middleware(LogContext({q: s.value for q, s in STAGE_OF_QUEUE.items()}))
    broker.add_middleware(CurrentMessage())
    for queue in QUEUES:
        broker.declare_queue(queue)
    dramatiq.set_broker(broker)
    return broker


def send(broker: dramatiq.Broker, queue: str, actor_name: str, payload: dict[str, Any]) -> str:
    """Enqueue one message by name, without importing the consuming stage's code."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=actor_name, args=(payload,), kwargs={}, options={}
    )
    broker.enqueue(message)
    return str(message.message_id)
