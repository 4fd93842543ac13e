"""The one place that builds the dramatiq broker, before any actor is declared."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeGuard
from urllib.parse import urlsplit

import dramatiq
import redis
import structlog
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import BrokerConnectionError, ConnectionClosed, DecodeError
from dramatiq.middleware import CurrentMessage, Retries

from shared.config import Settings, SettingsError
from shared.domain.errors import TransientError
from shared.logging import LogContext
from shared.messaging.routes import QUEUES, STAGE_OF_QUEUE
from shared.redis.replies import as_text

log = structlog.get_logger()


class _GuardedConsumer(_RedisConsumer):
    """dramatiq's Redis consumer, except that:

    - a body that is not a message at all is set aside in the dead-letter queue and
      acknowledged, instead of crashing the consumer (which would then restart, and meet the
      same body again after every requeue);
    - an empty queue is waited on, not polled: the consumer blocks in ``BLMOVE q q LEFT
      LEFT`` (which moves the head of the list onto itself: nothing changes, but it returns
      the moment the list has an element), then fetches as dramatiq does. A message is
      taken up within a round trip of being enqueued instead of after a back-off sleep of
      up to the worker timeout, and an idle worker sends one command per second per queue.

    Fetching, acknowledging, requeueing and heartbeats are dramatiq's own: the wait takes
    nothing off the queue, so a worker killed while waiting loses nothing."""

    #: After this many wake-ups in a row whose fetch found nothing (another consumer was
    #: quicker), back off with a sleep instead: never a busy loop.
    MAX_EMPTY_WAKES = 3

    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self._empty_wakes = 0
        #: Whether the last fetch got fewer messages than it asked for (the queue was empty).
        self._drained = False

    def __next__(self) -> dramatiq.MessageProxy | None:
        while True:
            try:
                return self._next_or_wait()
            except DecodeError as error:
                self._set_aside(error.data)
            except ConnectionClosed:
                self._take_new_identity()
                raise

    def _next_or_wait(self) -> dramatiq.MessageProxy | None:
        if not self.message_cache and self.outstanding_message_count < self.prefetch:
            if self._drained:
                # The last fetch emptied the queue: wait for the next message rather than
                # fetch again (one round trip less per message at low load).
                self._drained = False
                self._wait_for_work()
                return None
            wanted = self.prefetch - self.outstanding_message_count
            try:
                self.message_cache = self.broker.do_fetch(self.queue_name, wanted)
            except redis.ConnectionError as e:
                raise ConnectionClosed(e) from None
            if not self.message_cache:
                self._wait_for_work()
                return None
            self._empty_wakes = 0
            self._drained = len(self.message_cache) < wanted
        # A message from the cache; or, with as many outstanding as it may prefetch,
        # dramatiq's short back-off while the worker threads are busy.
        proxy: dramatiq.MessageProxy | None = super().__next__()
        if proxy is None or proxy.queue_name == self.queue_name:
            return proxy
        # An envelope naming another queue than the one it came from (no stage sends one; a
        # broker writer can): dramatiq would hand it, once processed, to the consumer of the
        # queue it names, and a worker without one loses the thread. It is taken for what it
        # is, a message of this queue (and its handler refuses what it carries).
        log.warning("message named another queue; taken as this queue's", queue=self.queue_name)
        return dramatiq.MessageProxy(proxy._message.copy(queue_name=self.queue_name))

    def _wait_for_work(self) -> None:
        broker: GuardedRedisBroker = self.broker
        if self._empty_wakes >= self.MAX_EMPTY_WAKES or self.queue_name.endswith(".DQ"):
            # Delayed messages are held in memory until due, and the thread that holds
            # them must look at them at least every worker timeout: the same wait as
            # dramatiq's, but cut short when one arrives.
            self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
            wait = backoff_ms / 1000
            if self._empty_wakes >= self.MAX_EMPTY_WAKES:
                self._empty_wakes = 0
                time.sleep(wait)  # backing off after wake-ups that found nothing
                return
        else:
            wait = broker.idle_wait_seconds
        key = f"{broker.namespace}:{self.queue_name}"
        try:
            # Redis takes a fractional timeout; 0 would block for ever.
            woken = broker.client.blmove(key, key, max(wait, 0.001), "LEFT", "LEFT")  # type: ignore[arg-type]
        except redis.ConnectionError as e:
            raise ConnectionClosed(e) from None
        if woken is not None:
            self._empty_wakes += 1

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
    #: How long an idle consumer blocks on its empty queue before it fetches again (which
    #: also renews the worker's heartbeat); also how long a stopping worker may wait for it.
    idle_wait_seconds: float = 1.0
    #: At least this often a fetch on each queue also does dramatiq's maintenance (hands
    #: the messages of dead workers back to the queue). dramatiq does it on a random share
    #: of calls, which sufficed while idle consumers polled many times a second; a consumer
    #: that waits instead of polling makes few calls, so it is also done on a clock.
    maintenance_interval_seconds: float = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._maintenance_due: dict[str, float] = {}
        self._forced = threading.local()

    def do_fetch(self, queue_name: str, count: int) -> list[bytes | None]:
        now = time.monotonic()
        due = now >= self._maintenance_due.get(queue_name, 0.0)
        if due:
            self._maintenance_due[queue_name] = now + self.maintenance_interval_seconds
        self._forced.maintenance = due
        try:
            return self._dispatch("fetch")(queue_name, count)  # type: ignore[no-any-return]
        finally:
            self._forced.maintenance = False

    def _should_do_maintenance(self, command: str) -> int:
        if getattr(self._forced, "maintenance", False):
            return 1
        return super()._should_do_maintenance(command)

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
    # Well inside the heartbeat timeout: a waiting consumer's fetches keep it alive.
    broker.idle_wait_seconds = min(1.0, settings.heartbeat_timeout_ms / 4000)
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
