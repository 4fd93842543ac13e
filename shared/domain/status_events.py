"""The one decoder of status events: from the JSON body the transition script writes (on the
events stream, and in a payment's history list) to a :class:`StatusEvent` of the current
schema.

A body names its schema version in ``schema``. Before it is validated, a body of an older
(or another) version goes through the upcaster registered for that version, which returns
the raw dict of the next version; upcasters are applied until the body is of
:data:`CURRENT`. So when the event changes, the stream keeps its old entries as written and
every reader (store, query projector, ``b2bpay events``) reads them as the new model: add
the new model, make :data:`CURRENT` its schema, and register an upcaster from the old one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from shared.domain.contracts import StatusEvent
from shared.domain.errors import B2bpayError

#: The schema version every decoded event is brought to (what the transition script writes).
CURRENT: str = StatusEvent.model_fields["schema_"].default

#: A function from the raw dict of one schema version to the raw dict of a later one.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _unchanged(raw: dict[str, Any]) -> dict[str, Any]:
    return raw


#: Schema version -> its upcaster. The current version is its own (the identity); a body of a
#: version without an entry here is undecodable.
UPCASTERS: dict[str, Upcaster] = {CURRENT: _unchanged}
#: At most this many upcasts per body: a registry that cycles is a bug, not a hang.
_MAX_UPCASTS = 16


class UndecodableEvent(B2bpayError):
    """Raised when a body is not a status event: not JSON, of a schema version no upcaster
    knows, or not valid as the current model once upcast."""


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` brought to the :data:`CURRENT` schema by the registered upcasters. A body
    without ``schema`` is taken as the current version (the model's default)."""
    for _ in range(_MAX_UPCASTS):
        version = raw.get("schema", CURRENT)
        if version == CURRENT:
            return raw
        upcaster = UPCASTERS.get(version)
        if upcaster is None:
            raise UndecodableEvent(f"no upcaster for status event schema {version!r}")
        raw = upcaster(dict(raw))
    raise UndecodableEvent(f"status event schema {raw.get('schema')!r} is never upcast")


def decode_status_event(body: bytes | str | dict[str, Any]) -> StatusEvent:
    """The :class:`StatusEvent` a stored body stands for, whatever its schema version."""
    if isinstance(body, bytes | str):
        return _decoded(body)
    return _decode(body)


@functools.lru_cache(maxsize=2048)
def _decoded(body: bytes | str) -> StatusEvent:
    """A stored body is never changed, and a :class:`StatusEvent` is immutable: a payment's
    history is read at every step of its way, and each body is decoded once (a bounded
    cache; a body that does not decode raises each time, as it is not cached)."""
    return _decode(body)


def _decode(body: bytes | str | dict[str, Any]) -> StatusEvent:
    try:
        raw = json.loads(body) if isinstance(body, bytes | str) else body
    except (ValueError, UnicodeDecodeError) as e:
        raise UndecodableEvent("status event body is not JSON") from e
    if not isinstance(raw, dict):
        raise UndecodableEvent("status event body is not a JSON object")
    try:
        return StatusEvent.model_validate(upcast(raw))
    except ValidationError as e:
        raise UndecodableEvent(f"status event does not match its schema: {e}") from e
