"""Projects the events stream, with the consumer group ``query``, into the read model
(:class:`shared.redis.group_consumer.GroupConsumer` does the reading, acknowledging and taking
over)."""

from __future__ import annotations

import redis
import structlog
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from services.query.readmodel import ReadModel
from shared.domain.contracts import StatusEvent
from shared.domain.status_events import UndecodableEvent, decode_status_event
from shared.redis.faults import FaultPoints
from shared.redis.group_consumer import CLAIM_IDLE_MS, Entries, GroupConsumer
from shared.redis.keys import Keys
from shared.redis.replies import stream_entries

GROUP = "query"
log = structlog.get_logger()


class Projector(GroupConsumer):
    group = GROUP
    unavailable = (redis.RedisError, OperationalError)

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        model: ReadModel,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        faults: FaultPoints | None = None,
    ) -> None:
        super().__init__(client, keys, consumer, claim_idle_ms)
        self._model = model
        self._faults = faults

    def handle(self, entries: Entries) -> None:
        batch: list[tuple[str, StatusEvent]] = []
        for sid, body in entries:
            try:
                batch.append((sid, decode_status_event(body or b"")))
            except UndecodableEvent:
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
        if self._faults is not None:
            self._faults.point("query.before_ack")

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

    def rebuild(self) -> int:
        """Recreate the read model from the whole stream; returns how many events."""
        self._model.reset()
        total, last = 0, "-"
        while True:
            start = "-" if last == "-" else f"({last}"
            entries = stream_entries(self._redis.xrange(self._stream, min=start, count=1000))
            if not entries:
                return total
            batch = [(sid, decode_status_event(body)) for sid, body in entries if body]
            total += self._model.apply_batch(batch)
            last = entries[-1][0]
