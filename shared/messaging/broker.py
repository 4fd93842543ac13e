"""The one place that builds the dramatiq broker, before any actor is declared."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeGuard
from urllib.parse import urlsplit

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import BrokerConnectionError, ConnectionClosed, DecodeError
from dramatiq.middleware import CurrentMessage, Retries

from shared.config import Settings, SettingsError
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
    transient = isinstance(
        exception,
        # BrokerConnectionError: a hand-off RabbitMQ did not confirm (Redis raises its own).
        TransientError | redis.ConnectionError | redis.TimeoutError | BrokerConnectionError,
    )
    return transient and retries_so_far < 20


def build_broker(settings: Settings, client: redis.Redis | None = None) -> dramatiq.Broker:
    """Build and set the broker. ``client`` lets the demo pass an embedded Redis; an
    ``amqp://`` URL (``B2BPAY_BROKER_URL``) runs the queues on RabbitMQ instead."""
    url = settings.effective_broker_url()
    if client is None and url.startswith(AMQP_SCHEMES):
        return _equipped(_rabbitmq(settings, url))
    if not url.startswith(REDIS_SCHEMES) and client is None:
        raise SettingsError(unsupported_scheme(url))
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
    return _equipped(broker)


def _equipped(broker: dramatiq.Broker) -> dramatiq.Broker:
    """The middleware and queues every broker gets, whichever it is; set as dramatiq's."""
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


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
AMQP_SCHEMES = ("amqp://", "amqps://")


def unsupported_scheme(url: str) -> str:
    """Why a broker URL is refused: names its scheme (never the rest: it may hold a
    password) and the schemes there are."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    named = repr(scheme) if scheme.isascii() and scheme.isalnum() and len(scheme) < 16 else "?"
    return (
        f"B2BPAY_BROKER_URL: unsupported scheme {named}; use redis://, rediss:// or unix:// "
        "(Redis) or amqp:// or amqps:// (RabbitMQ)"
    )


def _rabbitmq(settings: Settings, url: str) -> dramatiq.Broker:
    # Imported here: pika is loaded only by a process whose broker is RabbitMQ.
    from shared.messaging.rabbitmq import rabbitmq_broker

    broker: dramatiq.Broker = rabbitmq_broker(
        url, settings.dead_message_ttl_ms, settings.heartbeat_timeout_ms
    )
    return broker


class SetsAsideUndecodable(Protocol):
    """A broker that hands a body it cannot decode to a callback (both of ours)."""

    on_undecodable: Callable[[str, str, bytes], None] | None


def sets_aside_undecodable(broker: dramatiq.Broker) -> TypeGuard[SetsAsideUndecodable]:
    return hasattr(broker, "on_undecodable")


def declare_up_front(broker: dramatiq.Broker) -> None:
    """At a worker's start: on RabbitMQ, connect and declare every queue now (an unreachable
    RabbitMQ is said at once, and hand-offs are routable before the next stage runs); a
    Redis broker needs nothing."""
    declare = getattr(broker, "declare_up_front", None)
    if declare is not None:
        declare()


def broker_answers(broker: dramatiq.Broker) -> bool:
    """For readiness: whether a RabbitMQ broker answers; a Redis broker is the Redis the
    caller pings anyway."""
    answers = getattr(broker, "answers", None)
    return answers is None or bool(answers())


def send(broker: dramatiq.Broker, queue: str, actor_name: str, payload: dict[str, Any]) -> str:
    """Enqueue one message by name, without importing the consuming stage's code."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=actor_name, args=(payload,), kwargs={}, options={}
    )
    broker.enqueue(message)
    return str(message.message_id)
