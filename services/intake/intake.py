"""``b2bpay worker intake``: payment requests from any AMQP client (kombu, RabbitMQ).

Consumes the durable queue ``b2bpay.requests`` (bound to the durable direct exchange of the
same name with routing key ``b2bpay.requests``, so a publisher may use either the exchange
or the default exchange). Each message is plain JSON (``content_type`` ``application/json``):
a PaymentRequest v2 in the name of the platform its RabbitMQ user is registered for
(:mod:`services.intake.reading`), or v1 with its applicant's session and code. A request is
sent to the apply stage as the HTTP API sends it (:func:`shared.app.client.send`); the same
``request_id`` again is the same payment (the apply stage answers ``duplicate``).

A message is acknowledged only once its request is on the apply queue, or once it was
published, confirmed, to the dead-letter exchange ``b2bpay.requests.dlx`` (the reason in
``x-b2bpay-reason``, the body stripped of secrets); never before. With ``reply_to``
(``reply-<user_id>``, nothing else: :mod:`services.intake.reading`), the
verdict (as the HTTP API tells it) is published there with the ``correlation_id`` before the
acknowledgement, so a crash in between answers twice rather than never. A lost connection
leaves the message unacknowledged: RabbitMQ delivers it again, and it is the same payment.

Replies are at least once, not exactly once: the reply is published with publisher confirms
(``confirm_publish``), so a reply the broker did not confirm leaves the message unacknowledged:
it is delivered again and answered then (``duplicate``, the payment id and its status). A reply
confirmed but not followed by the acknowledgement is sent twice, with one ``correlation_id``.
A reply confirmed into a queue that is gone (the platform's connection dropped, its exclusive
reply queue with it) reaches no one: the platform publishes the same request again and is
answered ``duplicate`` with the payment id. Each case has its test, cutting the connection at
the fault points ``intake.before_reply`` and ``intake.before_ack``: tests/e2e/test_amqp_intake.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from typing import Any

import redis
import structlog
from dramatiq.errors import BrokerConnectionError
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Consumer, Producer

from services.intake.reading import DeadReason, Envelope, Unusable, fingerprint, read_request
from shared.app import client
from shared.app.deps import Deps, platforms_of
from shared.app.guard import raw_id
from shared.domain.contracts import new_command_id, payment_id_for
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.payment import UNVERIFIED, Actor
from shared.domain.stages import Stage

QUEUE = "b2bpay.requests"
DEAD_LETTER_EXCHANGE = "b2bpay.requests.dlx"
#: Bound to the dead-letter exchange so that dead letters are kept until an operator reads.
DEAD_LETTER_QUEUE = "b2bpay.requests.dead"
REASON_HEADER = "x-b2bpay-reason"
DETAIL_HEADER = "x-b2bpay-detail"
PUBLISHER_HEADER = "x-b2bpay-user-id"
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0
log = structlog.get_logger()


class Intake:
    """One consumer of ``b2bpay.requests`` on a connection of its own, taking one message at
    a time (prefetch 1): run several (``--threads``) for more at once."""

    def __init__(
        self,
        deps: Deps,
        amqp_url: str,
        *,
        wait_seconds: float = 10.0,
        connect_timeout: float = 5.0,
        name: str = "intake",
    ) -> None:
        self._deps = deps
        #: Read at each (re)connection.
        self.amqp_url = amqp_url
        self._wait = wait_seconds
        self._connect_timeout = connect_timeout
        self._name = name
        self._platforms = platforms_of(deps)
        self._connection: Any = None
        self._producer: Any = None
        self._received: deque[Any] = deque()
        probe = Connection(amqp_url)  # connects to nothing: only names the transport's errors
        #: A broker or Redis outage: waited out, the message delivered again. Including a
        #: hand-off the stages' broker (RabbitMQ under B2BPAY_BROKER_URL) did not take.
        self._unavailable: tuple[type[BaseException], ...] = (
            *probe.connection_errors,
            *probe.channel_errors,
            redis.RedisError,
            BrokerConnectionError,
            OSError,
        )
        #: Requests sent to apply, messages dead-lettered, replies sent, failed connections.
        self.forwarded = 0
        self.dead_lettered = 0
        self.replied = 0
        self.failures = 0

    # -- the connection ----------------------------------------------------------------
    def _connect(self) -> Any:
        if self._connection is not None:
            return self._connection
        connection = Connection(
            self.amqp_url,
            connect_timeout=self._connect_timeout,
            heartbeat=30,
            transport_options={"confirm_publish": True},
        )
        try:
            connection.connect()
            channel = connection.channel()
            requests = Exchange(QUEUE, type="direct", durable=True)
            dead = Exchange(DEAD_LETTER_EXCHANGE, type="fanout", durable=True)
            Queue(QUEUE, requests, routing_key=QUEUE, durable=True)(channel).declare()
            Queue(DEAD_LETTER_QUEUE, dead, durable=True)(channel).declare()
            consumer = Consumer(
                channel,
                queues=[Queue(QUEUE, requests, routing_key=QUEUE, durable=True)],
                no_ack=False,
                prefetch_count=1,
                # The raw message, never kombu's decoding (which would accept pickle and
                # whose default on a decode error is to lose the message).
                on_message=self._received.append,
                on_decode_error=self._undecodable,
            )
            consumer.consume()
        except BaseException:
            connection.release()
            raise
        self._connection = connection
        self._producer = Producer(channel)
        log.info("intake connected to the broker", queue=QUEUE, consumer=self._name)
        return connection

    def _undecodable(self, message: Any, _error: Exception) -> None:
        # Not reached with on_message; if ever, the message is dead-lettered, not acked.
        self._received.append(message)

    def close(self) -> None:
        """Drop the connection: unacknowledged messages go back to the queue."""
        connection, self._connection, self._producer = self._connection, None, None
        self._received.clear()
        if connection is not None:
            try:
                connection.release()
            except Exception:  # a connection already broken has nothing left to close
                log.debug("intake: closing a broken connection failed")

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; a broker or Redis outage is waited out with backoff
        and the unacknowledged message is delivered again."""
        delay = BACKOFF_FIRST
        log.info("intake running", queue=QUEUE, consumer=self._name)
        try:
            while not stop.is_set():
                try:
                    connection = self._connect()
                    # Nothing within a second: go round, to see ``stop``.
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=1)
                    connection.heartbeat_check()
                    while self._received and not stop.is_set():
                        self.handle(self._received.popleft())
                    delay = BACKOFF_FIRST
                except self._unavailable as error:
                    self.failures += 1
                    log.warning(
                        "intake: broker or Redis unavailable; retrying",
                        error=f"{type(error).__name__}: {str(error)[:200]}",
                        retry_in=delay,
                    )
                    self.close()
                    stop.wait(delay)
                    delay = min(delay * 2, BACKOFF_CAP)
        finally:
            self.close()

    # -- one message -------------------------------------------------------------------
    def handle(self, message: Any) -> None:
        properties: dict[str, Any] = message.properties or {}
        reply_to = properties.get("reply_to")
        envelope = Envelope(
            message.content_type or None,
            message.content_encoding or None,
            properties.get("user_id"),
            None if reply_to is None else str(reply_to),
        )
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        structlog.contextvars.bind_contextvars(amqp_message_id=properties.get("message_id"))
        try:
            try:
                read = read_request(body, envelope, self._platforms.by_amqp_user)
            except Unusable as unusable:
                self._dead_letter(message, body, unusable, envelope)
                message.ack()
                return
            reply = envelope.may_reply()
            sent = client.send(self._deps, read.request, wait=self._wait if reply else None)
            self.forwarded += 1
            log.info(
                "intake forwarded a request",
                payment_id=sent.payment_id,
                command_id=sent.command_id,
                platform_id=read.platform.platform_id if read.platform else None,
                redelivered=bool((message.delivery_info or {}).get("redelivered")),
            )
            if reply:
                # A connection lost from here on leaves the message unacknowledged: it is
                # delivered again and answered then (``duplicate``, the same payment id).
                self._deps.faults.point("intake.before_reply")
                self._reply(message, _verdict_answer(sent))
            # Lost here, after a confirmed reply: the platform is answered twice, never none.
            self._deps.faults.point("intake.before_ack")
            message.ack()
        finally:
            structlog.contextvars.unbind_contextvars("amqp_message_id")

    def _dead_letter(
        self, message: Any, body: bytes, unusable: Unusable, envelope: Envelope
    ) -> None:
        properties: dict[str, Any] = message.properties or {}
        headers = {
            REASON_HEADER: unusable.reason.value,
            DETAIL_HEADER: unusable.detail[:500],
            PUBLISHER_HEADER: (envelope.user_id or "")[:128],
        }
        self._producer.publish(
            json.dumps(unusable.kept, default=str),
            exchange=DEAD_LETTER_EXCHANGE,
            routing_key=QUEUE,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            headers=headers,
            retry=False,
            **_kept_ids(properties),
        )
        self.dead_lettered += 1
        # A warning for every refusal of who publishes: an operator's alert is on these.
        warn = unusable.reason in (
            DeadReason.PLATFORM_UNKNOWN,
            DeadReason.PLATFORM_MISMATCH,
            DeadReason.REPLY_TO_INVALID,
        )
        if warn:
            self._record_refusal(unusable, envelope)
        (log.warning if warn else log.info)(
            "intake dead-lettered a message",
            reason_code=unusable.reason.value,
            detail=unusable.detail,
            amqp_user=envelope.user_id,
            size=fingerprint(body)["size"],
        )
        if envelope.may_reply():
            self._reply(
                message,
                {
                    "command_id": None,
                    "payment_id": None,
                    "outcome": "refused",
                    "status": None,
                    "reason_code": unusable.reason.value,
                    "reason": unusable.detail,
                },
            )

    def _record_refusal(self, unusable: Unusable, envelope: Envelope) -> None:
        """A publisher refused for whose name it used goes on the events stream (and so into
        the audit chain) as a refusal outside the payment's sequence: ``platform_invalid``,
        the AMQP user as the unverified actor; bounded per payment id and actor like every
        refusal to an outsider. Told nothing (its verdict expires unread)."""
        kept = unusable.kept if isinstance(unusable.kept, dict) else {}
        payer = kept.get("payer")
        request_id = raw_id(kept, "request_id")
        enterprise_id = raw_id(payer, "enterprise_id")
        if request_id is None or enterprise_id is None:
            return  # names no payment: the dead letter and the log line are the record
        self._deps.store.refuse_unattached(
            payment_id_for(enterprise_id, request_id),
            Actor(Stage.INTAKE, UNVERIFIED, envelope.user_id or None),
            Refusal(ReasonCode.PLATFORM_INVALID, f"{unusable.reason.value}: {unusable.detail}"),
            new_command_id(),
            (ReasonCode.PLATFORM_INVALID.value, unusable.detail),
        )

    def _reply(self, message: Any, answer: dict[str, Any]) -> None:
        properties: dict[str, Any] = message.properties or {}
        self._producer.publish(
            json.dumps(answer),
            exchange="",
            routing_key=str(properties["reply_to"]),
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            correlation_id=properties.get("correlation_id"),
            retry=False,
        )
        self.replied += 1
        # Confirmed by the broker (publisher confirms): the correlation id is the platform's
        # own, so an operator can tell which request was answered, and how often.
        log.info(
            "intake replied",
            correlation_id=properties.get("correlation_id"),
            outcome=answer.get("outcome"),
            payment_id=answer.get("payment_id"),
        )


def _kept_ids(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: properties[k] for k in ("message_id", "correlation_id") if properties.get(k)}


def _verdict_answer(sent: client.Sent) -> dict[str, Any]:
    """The verdict as the HTTP API and the client tell it; ``queued`` when none came in
    time (the payment's status is then on ``b2bpay.events`` and ``GET /v1/payments/{id}``)."""
    verdict = sent.verdict
    if verdict is None:
        return {
            "command_id": sent.command_id,
            "payment_id": sent.payment_id,
            "outcome": "queued",
            "status": None,
            "reason_code": None,
            "reason": None,
        }
    return verdict.model_dump(mode="json")
