"""The SQL read model: one row per payment, one per event. SQLite by default, any
SQLAlchemy URL (PostgreSQL in production)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from shared.domain.contracts import StatusEvent
from shared.domain.views import HistoryEntry, PaymentListItem, PaymentView, RefusalEntry
from shared.metrics.collectors import StatusCount

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(64), primary_key=True),
    Column("status", String(32), index=True),
    Column("order_id", String(64)),
    Column("enterprise_id", String(64), index=True),
    Column("amount", String(32)),
    Column("currency", String(3)),
    Column("seq", Integer, nullable=False),
    Column("created_at", String(40)),
    Column("updated_at", String(40)),
)

events = Table(
    "events",
    metadata,
    Column("event_id", String(96), primary_key=True),
    Column("stream_id", String(40), nullable=False),
    Column("payment_id", String(64), index=True, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(32)),
    Column("previous_status", String(32)),
    Column("stage", String(16)),
    Column("actor_role", String(16)),
    Column("actor_id", String(64)),
    Column("reason_code", String(48)),
    Column("reason", Text),
    Column("at", String(40)),
    Column("command_id", String(64)),
)

HISTORY_FIELDS = (
    "seq",
    "kind",
    "status",
    "previous_status",
    "at",
    "stage",
    "actor_role",
    "actor_id",
    "reason_code",
    "reason",
    "command_id",
)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url)


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    """Create the tables if missing. Processes starting together (``b2bpay serve`` and the
    query worker) race between "is it there?" and "create it": the loser is told the table
    already exists, and checks again."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError as err:
            # SQLite: "table ... already exists"; PostgreSQL: the same, or a duplicate key
            # in pg_type when both create the table at once.
            told = str(err)
            if ("already exists" not in told and "duplicate key" not in told) or (
                attempt == attempts - 1
            ):
                raise


class ReadModel:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        _create_tables(engine)

    def reset(self) -> None:
        """Drop and recreate the tables (for a rebuild from the stream)."""
        metadata.drop_all(self._engine)
        metadata.create_all(self._engine)

    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every payment and every event, in a stable order: to compare two read models."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(payments).order_by(payments.c.payment_id)).all()
            evs = conn.execute(select(events).order_by(events.c.event_id)).all()
        return [dict(r._mapping) for r in rows], [dict(e._mapping) for e in evs]

    def apply(self, stream_id: str, event: StatusEvent) -> bool:
        """Project one event; a repeated event (same event_id) changes nothing."""
        return self.apply_batch([(stream_id, event)]) == 1

    def apply_batch(self, entries: list[tuple[str, StatusEvent]]) -> int:
        """Project events in one transaction; returns how many were new."""
        with self._engine.begin() as conn:
            return sum(self._apply(conn, sid, event) for sid, event in entries)

    @staticmethod
    def _apply(conn: Connection, stream_id: str, event: StatusEvent) -> bool:
        if conn.execute(
            select(events.c.event_id).where(events.c.event_id == event.event_id)
        ).first():
            return False
        conn.execute(
            events.insert().values(
                event_id=event.event_id,
                stream_id=stream_id,
                payment_id=event.payment_id,
                **{f: getattr(event, f) for f in HISTORY_FIELDS},
            )
        )
        if event.kind != "transition":
            return True
        row = conn.execute(
            select(payments.c.seq).where(payments.c.payment_id == event.payment_id)
        ).first()
        if row is None:
            conn.execute(
                payments.insert().values(
                    payment_id=event.payment_id,
                    status=event.status,
                    order_id=event.order_id,
                    enterprise_id=event.enterprise_id,
                    amount=event.amount,
                    currency=event.currency,
                    seq=event.seq,
                    created_at=event.at,
                    updated_at=event.at,
                )
            )
        elif row.seq < event.seq:
            conn.execute(
                payments.update()
                .where(payments.c.payment_id == event.payment_id)
                .values(status=event.status, seq=event.seq, updated_at=event.at)
            )
        return True

    def payment(self, payment_id: str) -> PaymentView | None:
        """The payment with its history and refusals; None until its first transition is
        projected."""
        with self._engine.connect() as conn:
            row = conn.execute(select(payments).where(payments.c.payment_id == payment_id)).first()
            if row is None:
                return None
            history = conn.execute(
                select(events).where(events.c.payment_id == payment_id).order_by(events.c.seq)
            ).all()
        return PaymentView(
            **row._mapping,
            history=tuple(
                HistoryEntry(**{f: h._mapping[f] for f in HistoryEntry.model_fields})
                for h in history
                if h.kind == "transition"
            ),
            refusals=tuple(
                RefusalEntry(**{f: h._mapping[f] for f in RefusalEntry.model_fields})
                for h in history
                if h.kind == "refusal"
            ),
        )

    def list(
        self,
        status: str | None = None,
        enterprise_id: str | None = None,
        limit: int = 1000,
        after: tuple[str, str] | None = None,
    ) -> list[PaymentListItem]:
        """Payments oldest first (ties by id); ``after`` is the (``created_at``,
        ``payment_id``) of the last one of the previous page."""
        query = select(payments).order_by(payments.c.created_at, payments.c.payment_id).limit(limit)
        if after is not None:
            query = query.where(
                tuple_(payments.c.created_at, payments.c.payment_id) > tuple_(*after)
            )
        if status:
            query = query.where(payments.c.status == status)
        if enterprise_id:
            query = query.where(payments.c.enterprise_id == enterprise_id)
        with self._engine.connect() as conn:
            return [PaymentListItem(**r._mapping) for r in conn.execute(query).all()]

    def count_events(self) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(select(events.c.event_id)).all())

    def status_counts(self) -> dict[str, StatusCount]:
        """Payments per status, and when the one longest in each status entered it: one
        grouped query (``status`` is indexed), for ``/metrics``."""
        query = select(payments.c.status, func.count(), func.min(payments.c.updated_at)).group_by(
            payments.c.status
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return {
            str(status): StatusCount(int(count), _unix_time(oldest))
            for status, count, oldest in rows
            if status is not None
        }


def _unix_time(at: str | None) -> float | None:
    """An event's ``at`` (ISO 8601, UTC, milliseconds) as Unix time; None if absent or
    not a time."""
    if not at:
        return None
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
