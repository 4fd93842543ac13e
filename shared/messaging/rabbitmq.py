"""dramatiq's RabbitMQ broker, the way the stages need it (``B2BPAY_BROKER_URL=amqp://…``).

What it keeps equal to the Redis broker (:mod:`shared.messaging.broker`), which adds the
same middleware (retries of transient faults only, log context, current message) to both:

- **publisher confirms**: every enqueue waits until RabbitMQ has taken the message (and
  ``mandatory``: a message no queue takes is an error, not silently dropped);
- **the queues**: the names of :data:`~shared.messaging.routes.QUEUES`, durable, in the vhost
  of the URL (the installation's namespace there, as the key prefix is on Redis), declared
  up front by every worker (:meth:`GuardedRabbitmqBroker.declare_up_front`);
- **failed messages**: dramatiq moves a message that failed for good to ``<queue>.XQ``
  (a dead-letter route of RabbitMQ); the secret-free copy is in our dead-letter queue, and
  the XQ keeps its copy, secrets and all, only ``B2BPAY_DEAD_MESSAGE_TTL_MS``
  (``x-message-ttl`` of the XQ);
- **undecodable bodies** are set aside in our dead-letter queue (size and hash, never a byte
  of the body) and acknowledged: dramatiq's own consumer would log a traceback and move the
  body, whatever secrets it holds, to the XQ; an envelope naming another queue than the one
  it came from is taken as a message of its queue (dramatiq would lose a worker thread);
- **a dead worker's messages**: RabbitMQ returns unacknowledged messages as soon as the
  consumer's connection drops (a killed process) or misses its heartbeats
  (``B2BPAY_HEARTBEAT_TIMEOUT_MS``, for a host that vanished without closing it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pika
import pika.exceptions
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer, _RabbitmqMessage
from dramatiq.common import xq_name
from dramatiq.errors import BrokerConnectionError, ConnectionClosed, DecodeError
from dramatiq.message import Message

from shared.config import SettingsError

log = structlog.get_logger()
Delivery = tuple[Any, Any, bytes]


class BrokerUnreachable(BrokerConnectionError):
    """RabbitMQ did not answer (or refused the login): said plainly, without the URL (its
    password) or a traceback."""


class QueueMismatch(SettingsError):
    """A queue exists in the vhost with other arguments than this deployment declares."""


class _GuardedRabbitmqConsumer(_RabbitmqConsumer):
    """dramatiq's RabbitMQ consumer, except that a body that is not a message at all is set
    aside in the dead-letter queue and acknowledged (see the module's docstring)."""

    def __init__(self, broker: GuardedRabbitmqBroker, queue_name: str, prefetch: int, timeout: int):
        super().__init__(broker, queue_name, prefetch, timeout)
        self.iterator = self._decodable(self.iterator)

    def __next__(self) -> MessageProxy | None:
        message: MessageProxy | None = super().__next__()
        if message is None or message.queue_name == self.queue_name:
            return message
        # An envelope naming another queue than the one it came from (no stage sends one:
        # a retry names the delay queue it goes to). dramatiq would hand it, once processed,
        # to the consumer of the queue it names: a worker without one loses the thread. It
        # is taken for what it is, a message of this queue.
        log.warning("message named another queue; taken as this queue's", queue=self.queue_name)
        corrected = message._message.copy(queue_name=self.queue_name)
        return _RabbitmqMessage(message.redelivered, message._tag, corrected)

    def _decodable(self, deliveries: Iterator[Delivery]) -> Iterator[Delivery]:
        """The deliveries, less those whose body does not decode (set aside on the way);
        an idle tick (``method`` None) passes through."""
        for method, properties, body in deliveries:
            if method is None or _decodes(body):
                yield method, properties, body
            else:
                self._set_aside(method.delivery_tag, properties, body)

    def _set_aside(self, tag: int, properties: Any, body: bytes) -> None:
        broker: GuardedRabbitmqBroker = self.broker
        if broker.on_undecodable is None:
            # Nowhere to keep it: RabbitMQ's dead-letter route (the XQ) takes it.
            self._nack(tag)
            return
        message_id = _printable(getattr(properties, "message_id", None))
        try:
            broker.on_undecodable(self.queue_name, message_id, body)
        except Exception as error:
            # Not acknowledged: RabbitMQ hands the body out again once the consumer has
            # restarted, and it is set aside then. A connection error restarts it quietly.
            raise ConnectionClosed(f"setting aside failed: {type(error).__name__}") from None
        self.channel.basic_ack(tag)
        log.warning("undecodable message set aside", queue=self.queue_name, size=len(body))


class GuardedRabbitmqBroker(RabbitmqBroker):
    #: Called with (queue, message id or "-", body) for a body that cannot be decoded.
    on_undecodable: Callable[[str, str, bytes], None] | None = None

    def __init__(self, *, url: str, dead_message_ttl: int, heartbeat_seconds: int) -> None:
        super().__init__(url=url, confirm_delivery=True)
        #: How long the XQ keeps a failed message (ms); the same name as on RedisBroker.
        self.dead_message_ttl = dead_message_ttl
        self._url = url
        query = parse_qs(urlsplit(url.split(";")[0]).query)
        if "heartbeat" not in query:
            for parameters in _each(self.parameters):
                parameters.heartbeat = heartbeat_seconds

    @property
    def consumer_class(self) -> type[_RabbitmqConsumer]:
        return _GuardedRabbitmqConsumer

    def _declare_xq_queue(self, queue_name: str) -> Any:
        # dramatiq keeps failed messages a week (a module constant); ours hold secrets.
        return self.channel.queue_declare(
            queue=xq_name(queue_name),
            durable=True,
            arguments={"x-message-ttl": self.dead_message_ttl},
        )

    def where(self) -> str:
        """Host, port and vhost of the URL, for messages: never its user or password."""
        parts = urlsplit(self._url.split(";")[0])
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        return f"RabbitMQ at {parts.hostname}:{port}, vhost {vhost!r}"

    def answers(self) -> bool:
        """Whether RabbitMQ answers on this thread's connection (opened if need be). A
        connection found broken (RabbitMQ closes one left idle past its heartbeat) is
        dropped and a new one tried once."""
        for _ in range(2):
            try:
                self.connection.process_data_events(time_limit=0)
            except pika.exceptions.AMQPError:
                del self.connection
            else:
                return True
        return False

    def declare_up_front(self) -> None:
        """Connect and declare every queue this broker knows, with its delay queue and its
        XQ, now: a worker learns at start that RabbitMQ is unreachable (instead of retrying
        in the background), and a message a stage hands on is routable before the next
        stage's worker ever started."""
        for queue in sorted(self.queues):
            try:
                self.declare_queue(queue, ensure=True)
            except BrokerConnectionError as error:
                told = str(error)
                if "PRECONDITION_FAILED" in told:
                    raise QueueMismatch(
                        f"{self.where()}: queue {queue!r} (or its .DQ/.XQ) exists with other "
                        "arguments than b2bpay declares (x-message-ttl of the .XQ is "
                        "B2BPAY_DEAD_MESSAGE_TTL_MS): drain and delete it, or set the same "
                        "value"
                    ) from None
                raise BrokerUnreachable(
                    f"{self.where()} is not reachable ({_reason(error)})"
                ) from None


def rabbitmq_broker(url: str, dead_message_ttl_ms: int, heartbeat_timeout_ms: int) -> Any:
    """The broker for ``url``: publisher confirms on, the XQ's TTL and the heartbeat from the
    settings (a ``heartbeat=`` in the URL wins). Connects on first use."""
    return GuardedRabbitmqBroker(
        url=url,
        dead_message_ttl=dead_message_ttl_ms,
        heartbeat_seconds=max(1, round(heartbeat_timeout_ms / 1000)),
    )


def _decodes(body: bytes) -> bool:
    """Whether ``body`` is a dramatiq envelope dramatiq's worker can take: JSON of the right
    shape, not only JSON. An actor name that is a list or a dict (any broker writer can send
    one) makes dramatiq's consumer thread raise on the actor lookup; RabbitMQ then hands the
    same body out again at once, and the queue stalls behind it."""
    try:
        message = Message.decode(body)
    except DecodeError:
        return False
    return (
        isinstance(message.queue_name, str)
        and isinstance(message.actor_name, str)
        and isinstance(message.kwargs, dict)
        and isinstance(message.options, dict)
        and isinstance(message.message_id, str)
        and isinstance(message.message_timestamp, int)
    )


def _each(parameters: Any) -> list[Any]:
    return parameters if isinstance(parameters, list) else [parameters]


def _printable(message_id: Any) -> str:
    """The sender's message id if it looks like one, else "-" (it is any sender's text)."""
    if isinstance(message_id, str) and re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", message_id):
        return message_id
    return "-"


def _reason(error: BrokerConnectionError) -> str:
    """The kind of failure, from pika's exception dramatiq wrapped: its class name only (its
    text may name hosts or users)."""
    cause = error.message
    if isinstance(cause, pika.exceptions.ProbableAuthenticationError):
        return "login refused"
    if isinstance(cause, pika.exceptions.ConnectionClosedByBroker):
        # e.g. "NOT_ALLOWED - vhost b2bpay not found": RabbitMQ's words, no credentials.
        return f"{type(cause).__name__}: {cause.reply_text}"
    if isinstance(cause, BaseException):
        return type(cause).__name__
    return type(error).__name__
