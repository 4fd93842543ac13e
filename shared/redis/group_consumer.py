"""A reader of the events stream with a consumer group of its own, for the services that
follow the stream (the query projector, the auditor).

An entry is acknowledged only after :meth:`GroupConsumer.handle` has made its effect
durable, so a crash loses nothing; handlers are idempotent, so a re-read changes nothing.
One consumer per process; the entries of a consumer silent for ``claim_idle_ms`` are taken
over by another, now and then while it runs, not only at start.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import redis
import structlog

from shared.domain.contracts import StatusEvent
from shared.domain.status_events import UndecodableEvent, decode_status_event
from shared.redis.keys import Keys
from shared.redis.replies import as_text, stream_entries

#: A consumer silent for this long is presumed dead; its unacknowledged entries are taken over.
CLAIM_IDLE_MS = 30_000
log = structlog.get_logger()

Entries = list[tuple[str, bytes | None]]


class GroupConsumer:
    #: The consumer group, one per following service.
    group: str = ""
    #: Faults that are waited out (the stream or the service's own store unavailable).
    unavailable: tuple[type[BaseException], ...] = (redis.RedisError,)

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self._redis = client
        self._stream = keys.events
        self._claim_idle_ms = claim_idle_ms
        self._consumer = consumer or f"{self.group}-{socket.gethostname()}-{os.getpid()}"
        try:
            # From the very first event: a new group covers the stream from its start.
            self._redis.xgroup_create(self._stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def handle(self, entries: Entries) -> None:
        """Make the entries' effect durable; called before they are acknowledged."""
        raise NotImplementedError

    def attached_events(self, entries: Entries) -> Iterator[tuple[str, StatusEvent]]:
        """The entries that are status events of a payment, with their stream ids. Skipped:
        deleted entries, undecodable ones (logged) and outsiders' refusals attached to no
        payment (``seq`` 0), which no subscriber is told about."""
        for sid, body in entries:
            if body is None:
                continue
            try:
                event = decode_status_event(body)
            except UndecodableEvent:
                log.warning("undecodable event skipped", group=self.group, stream_id=sid)
                continue
            if event.seq > 0:
                yield sid, event

    def _read(self, last_id: str, block_ms: int | None) -> int:
        reply = self._redis.xreadgroup(
            self.group, self._consumer, {self._stream: last_id}, count=500, block=block_ms
        )
        entries = stream_entries(reply)
        if entries:
            self.handle(entries)
            self._redis.xack(self._stream, self.group, *[sid for sid, _ in entries])
        return len(entries)

    def _forget_idle_consumers(self) -> None:
        """Consumers of crashed processes, once their entries were taken over."""
        for consumer in self._redis.xinfo_consumers(self._stream, self.group):
            name = as_text(consumer["name"])
            if (
                name != self._consumer
                and consumer["pending"] == 0
                and consumer["idle"] > self._claim_idle_ms
            ):
                self._redis.xgroup_delconsumer(self._stream, self.group, name)

    def _drain_pending(self) -> int:
        """Entries read but never acknowledged — by this consumer before a crash, or by one
        silent for longer than ``claim_idle_ms`` — are handled now."""
        start = "0-0"
        while True:
            # Takes the entries over (they become this consumer's pending ones, read below).
            reply = self._redis.xautoclaim(
                self._stream, self.group, self._consumer, self._claim_idle_ms, start, count=500
            )
            start = as_text(reply[0])
            if start == "0-0":
                break
        total = 0
        while (n := self._read("0", None)) > 0:
            total += n
        self._forget_idle_consumers()
        return total

    def catch_up(self) -> int:
        """Handle everything pending or new, without blocking; returns how many entries."""
        total = self._drain_pending()
        while (n := self._read(">", None)) > 0:
            total += n
        return total

    def run(self, stop: threading.Event, block_ms: int = 500) -> None:
        """Follow the stream until ``stop`` is set. An outage is waited out; anything else
        is a bug and ends the loop loudly (its process then exits non-zero)."""
        next_claim = 0.0
        log.info(f"{self.group} consumer running", consumer=self._consumer)
        while not stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    self._drain_pending()
                    next_claim = time.monotonic() + self._claim_idle_ms / 1000
                self._read(">", block_ms)
            except self.unavailable as error:
                log.warning(
                    f"{self.group}: events stream or store unavailable; retrying",
                    error=type(error).__name__,
                )
                stop.wait(1.0)
