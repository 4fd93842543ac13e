"""Follows the events stream with the ``relay`` consumer group and publishes each event to the
durable topic exchange ``b2bpay.events`` (kombu, RabbitMQ) as persistent JSON, routing key
``payment.<status>`` or ``refusal.<reason_code>``.

Publisher confirms are on: each publish returns only once the broker confirmed it, and the
stream entries are acknowledged only after every one of them was confirmed, so delivery is
at-least-once and in stream order. A broker outage is waited out with backoff; the entries
not yet acknowledged are re-read first after reconnecting (subscribers deduplicate by
``message_id``, the event's ``event_id``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
import structlog
from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.messaging import Producer

from shared.domain.routing_keys import routing_key
from shared.redis.group_consumer import CLAIM_IDLE_MS, Entries, GroupConsumer
from shared.redis.keys import Keys

GROUP = "relay"
EXCHANGE = "b2bpay.events"
#: Waits between reconnection attempts: doubled after each failure, up to the cap.
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0
log = structlog.get_logger()


class BrokerUnavailable(Exception):
    """The AMQP broker could not be reached, or did not confirm a publish."""


class Relay(GroupConsumer):
    group = GROUP
    unavailable = (redis.RedisError, BrokerUnavailable)

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        amqp_url: str,
        exchange: str = EXCHANGE,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__(client, keys, consumer, claim_idle_ms)
        #: Read at each (re)connection.
        self.amqp_url = amqp_url
        self._exchange = Exchange(exchange, type="topic", durable=True)
        self._connect_timeout = connect_timeout
        self._connection: Any = None
        self._producer: Any = None
        #: Events published and confirmed, and failed attempts to reach the broker.
        self.published = 0
        self.failures = 0

    def _producer_now(self) -> Any:
        if self._producer is None:
            connection = Connection(
                self.amqp_url,
                connect_timeout=self._connect_timeout,
                transport_options={"confirm_publish": True},
            )
            try:
                connection.connect()
                channel = connection.channel()
                self._exchange(channel).declare()
            except BaseException:
                connection.release()
                raise
            self._connection = connection
            self._producer = Producer(channel, exchange=self._exchange)
            log.info("relay connected to the broker", exchange=self._exchange.name)
        return self._producer

    def close(self) -> None:
        """Drop the broker connection (the next publish reconnects)."""
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # a connection already broken has nothing left to close
                log.debug("relay: closing a broken connection failed")

    def handle(self, entries: Entries) -> None:
        for _sid, event in self.attached_events(entries):
            try:
                self._producer_now().publish(
                    event.model_dump_json(by_alias=True),
                    routing_key=routing_key(event),
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=event.event_id,
                    retry=False,
                )
            except Exception as error:
                # Connection refused or lost, channel closed, or the publish nacked.
                self.close()
                raise BrokerUnavailable(f"{type(error).__name__}: {error}") from error
            self.published += 1

    def run(self, stop: threading.Event, block_ms: int = 500) -> None:
        """Follow the stream until ``stop`` is set. An outage (broker or Redis) is waited out
        with backoff; after it, the unacknowledged entries are re-read before new ones, so
        the order of the stream is kept."""
        delay = BACKOFF_FIRST
        drain_now = True
        next_claim = 0.0
        log.info("relay running", consumer=self._consumer, exchange=self._exchange.name)
        try:
            while not stop.is_set():
                try:
                    if drain_now or time.monotonic() >= next_claim:
                        self._drain_pending()
                        drain_now = False
                        next_claim = time.monotonic() + self._claim_idle_ms / 1000
                    self._read(">", block_ms)
                    delay = BACKOFF_FIRST
                except self.unavailable as error:
                    self.failures += 1
                    log.warning(
                        "relay: broker or events stream unavailable; retrying",
                        error=str(error)[:200],
                        retry_in=delay,
                    )
                    drain_now = True
                    stop.wait(delay)
                    delay = min(delay * 2, BACKOFF_CAP)
        finally:
            self.close()
