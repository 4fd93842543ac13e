"""Reads the events stream with its own consumer group into the read model.

An entry is acknowledged only after its row is committed, and on start the consumer first
re-reads its own pending entries, so a crash loses nothing and projects nothing twice.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import redis
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from services.query.readmodel import ReadModel
from shared.faults import FaultPoints
from shared.keys import Keys
from shared.messages import StatusEvent
from shared.streams import as_text, stream_entries

GROUP = "query"
#: A consumer silent for this long is presumed dead; its unacknowledged entries are taken over.
CLAIM_IDLE_MS = 30_000
log = structlog.get_logger()


class Projector:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        model: ReadModel,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        faults: FaultPoints | None = None,
    ) -> None:
        self._claim_idle_ms = claim_idle_ms
        self._faults = faults
        self._redis = client
        self._stream = keys.events
        self._model = model
        # One consumer per process: a crashed one's entries are taken over by the next.
        self._consumer = consumer or f"query-{socket.gethostname()}-{os.getpid()}"
        try:
            self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _read(self, last_id: str, block_ms: int | None) -> int:
        reply = self._redis.xreadgroup(
            GROUP, self._consumer, {self._stream: last_id}, count=500, block=block_ms
        )
        entries = stream_entries(reply)
        batch: list[tuple[str, StatusEvent]] = []
        for sid, body in entries:
            try:
                batch.append((sid, StatusEvent.model_validate_json(body or b"")))
            except ValidationError:
                log.error("undecodable status event skipped", stream_id=sid)
        # One transaction for the batch, and only then the acknowledgement: a crash in
        # between re-projects the batch, which the event_id check makes harmless. A database
        # outage (OperationalError) propagates: nothing is acknowledged, all is read again.
        try:
            self._model.apply_batch(batch)
        except (IntegrityError, DataError):
            # A projector racing this one, or one entry the database will not take: project
            # them one at a time so one bad entry does not hold up the rest.
            for sid, event in batch:
                self._apply_one(sid, event)
        if self._faults is not None and entries:
            self._faults.point("query.before_ack")
        if entries:
            self._redis.xack(self._stream, GROUP, *[sid for sid, _ in entries])
        return len(entries)

    def _apply_one(self, stream_id: str, event: StatusEvent) -> None:
        for attempt in (1, 2):
            try:
                self._model.apply(stream_id, event)
                return
            except IntegrityError:
                if attempt == 2:
                    raise
            except DataError as error:
                log.error(
                    "status event cannot be stored in the read model; skipped",
                    stream_id=stream_id,
                    payment_id=event.payment_id,
                    error=type(error).__name__,
                )
                return

    def _forget_idle_consumers(self) -> None:
        """Consumers of crashed processes, once their entries were taken over."""
        for consumer in self._redis.xinfo_consumers(self._stream, GROUP):
            name = as_text(consumer["name"])
            if (
                name != self._consumer
                and consumer["pending"] == 0
                and consumer["idle"] > self._claim_idle_ms
            ):
                self._redis.xgroup_delconsumer(self._stream, GROUP, name)

    def _drain_pending(self) -> int:
        """Entries read but never acknowledged — by this consumer before a crash, or by
        another consumer idle for longer than ``CLAIM_IDLE_MS`` — are projected now."""
        total = 0
        start = "0-0"
        while True:
            # Takes the entries over (they become this consumer's pending ones, read below).
            reply = self._redis.xautoclaim(
                self._stream, GROUP, self._consumer, self._claim_idle_ms, start, count=500
            )
            start = as_text(reply[0])
            if start == "0-0":
                break
        while (n := self._read("0", None)) > 0:
            total += n
        self._forget_idle_consumers()
        return total

    def catch_up(self) -> int:
        """Project everything pending or new, without blocking; returns how many entries."""
        total = self._drain_pending()
        while True:
            n = self._read(">", None)
            total += n
            if n == 0:
                return total

    def rebuild(self) -> int:
        """Recreate the read model from the whole stream; returns how many events."""
        self._model.reset()
        total, last = 0, "-"
        while True:
            start = "-" if last == "-" else f"({last}"
            entries = stream_entries(self._redis.xrange(self._stream, min=start, count=1000))
            if not entries:
                return total
            batch = [(sid, StatusEvent.model_validate_json(body)) for sid, body in entries if body]
            total += self._model.apply_batch(batch)
            last = entries[-1][0]

    def run(self, stop: threading.Event, block_ms: int = 500) -> None:
        """Project until ``stop`` is set. A Redis outage is waited out; anything else is a bug
        and ends the projector loudly (its process then exits non-zero)."""
        next_claim = 0.0
        log.info("query projector running", consumer=self._consumer)
        while not stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    # Now and then, not only at start: a projector that died a moment ago has
                    # entries that become claimable only once they have been idle long enough.
                    self._drain_pending()
                    next_claim = time.monotonic() + self._claim_idle_ms / 1000
                self._read(">", block_ms)
            except (redis.RedisError, OperationalError) as error:
                log.warning(
                    "events stream or read model unavailable; retrying", error=type(error).__name__
                )
                stop.wait(1.0)
