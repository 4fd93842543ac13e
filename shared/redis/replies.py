"""Decoding of Redis replies: byte strings, and entries of the events stream."""

from __future__ import annotations

from typing import Any

from shared.domain.contracts import StatusEvent
from shared.domain.status_events import decode_status_event


def as_text(value: Any) -> str:
    """A Redis reply value as text (redis-py returns bytes unless told otherwise)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def stream_entries(reply: Any) -> list[tuple[str, bytes | None]]:
    """``(entry_id, event_json)`` pairs from an XRANGE reply (a list of entries) or an
    XREAD/XREADGROUP reply (a list of ``[stream, entries]``). An entry without an ``event``
    field yields ``None`` so the caller can skip it loudly."""
    if not reply:
        return []
    first = reply[0]
    nested = isinstance(first, list | tuple) and len(first) == 2 and isinstance(first[1], list)
    entries = [e for _stream, batch in reply for e in batch] if nested else reply
    return [(as_text(entry_id), (data or {}).get(b"event")) for entry_id, data in entries]


def status_events(reply: Any) -> list[tuple[str, StatusEvent]]:
    """``(entry_id, event)`` pairs of the status events in a stream reply, each decoded by
    :func:`~shared.domain.status_events.decode_status_event` (which raises
    :class:`~shared.domain.status_events.UndecodableEvent`); entries without an ``event``
    field are passed over."""
    return [(sid, decode_status_event(body)) for sid, body in stream_entries(reply) if body]
