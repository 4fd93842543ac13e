"""``GET /v1/events``: the status events of the session's enterprise (a platform: of the
payments it created) as server-sent events.

Each event's ``id:`` is its entry id in the events stream, so a client that reconnects with
``Last-Event-ID`` gets every later event once: none missed, none repeated. People see what
:func:`shared.app.client.as_person_sees_it` shows: failed authentication as one generic code, and
no refusals of outsiders (``seq`` 0). The stream ends when the session does (checked between
blocking reads, so within ``events_block_ms``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from services.api.dependencies import Api, PlatformCaller, Principal, SessionHolder, api, principal
from services.api.problems import Problem
from shared.app import client
from shared.domain.contracts import StatusEvent
from shared.domain.errors import ReasonCode
from shared.security.disclosure import for_person

router = APIRouter(prefix="/v1", tags=["events"])

_STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def events(
    a: Annotated[Api, Depends(api)],
    who: Annotated[Principal, Depends(principal)],
    payment_id: Annotated[str | None, Query(max_length=64)] = None,
    last_event_id: Annotated[str | None, Header(max_length=41)] = None,
) -> StreamingResponse:
    """Every status event of your enterprise's payments (a platform: of the payments it
    created; ``?payment_id=`` for one), live."""
    if last_event_id is not None and not _STREAM_ID.fullmatch(last_event_id):
        raise Problem(ReasonCode.INVALID_REQUEST, "Last-Event-ID: not an event id of this API")
    stream = (
        _platform_stream(a, who, payment_id, last_event_id or "0-0")
        if isinstance(who, PlatformCaller)
        else _stream(a, who, payment_id, last_event_id or "0-0")
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _stream(a: Api, who: SessionHolder, payment_id: str | None, last: str) -> Iterator[str]:
    enterprise = who.person.scope
    yield ": connected\n\n"
    while True:
        batch = a.deps.store.follow_events(last, block_ms=a.events_block_ms)
        for sid, event in batch:
            last = sid
            if _visible(event, enterprise, payment_id):
                yield _frame(sid, event)
        if not batch:
            # Also lets the server notice a client that went away.
            yield ": keep-alive\n\n"
        try:
            client.person(a.deps, who.token)
        except client.AuthenticationFailed:
            return


def _platform_stream(
    a: Api, who: PlatformCaller, payment_id: str | None, last: str
) -> Iterator[str]:
    #: Whether the platform sees each payment seen so far (the store is asked once per payment).
    seen: dict[str, bool] = {}

    def created_by_us(event: StatusEvent) -> bool:
        if event.payment_id not in seen:
            payment = a.deps.store.get(event.payment_id)
            seen[event.payment_id] = payment is not None and who.platform.sees(payment)
        return seen[event.payment_id]

    yield ": connected\n\n"
    while True:
        batch = a.deps.store.follow_events(last, block_ms=a.events_block_ms)
        for sid, event in batch:
            last = sid
            if payment_id is not None and event.payment_id != payment_id:
                continue
            # Outsiders' refusals (seq 0) are never shown; nor are other platforms' payments.
            if (event.kind == "transition" or event.seq != 0) and created_by_us(event):
                yield _frame(sid, event)
        if not batch:
            yield ": keep-alive\n\n"


def latest_event_id(a: Api) -> str:
    """The id of the newest event on the stream (``0-0`` if none): where a follower that
    needs only what happens from now on starts."""
    newest = a.deps.redis.xrevrange(a.deps.keys.events, count=1)
    if not newest:
        return "0-0"
    sid = newest[0][0]
    return sid.decode() if isinstance(sid, bytes) else str(sid)


def payment_stream(
    a: Api, enterprise: str, payment_id: str, alive: Callable[[], bool]
) -> Iterator[str]:
    """The SSE frames of one payment's events from now on, as its people see them (the web's
    progress pages); ends once ``alive`` says the reader may no longer see it."""
    last = latest_event_id(a)
    yield ": connected\n\n"
    while True:
        batch = a.deps.store.follow_events(last, block_ms=a.events_block_ms)
        for sid, event in batch:
            last = sid
            if _visible(event, enterprise, payment_id):
                yield _frame(sid, event)
        if not batch:
            yield ": keep-alive\n\n"
        if not alive():
            return


def _visible(event: StatusEvent, enterprise: str, payment_id: str | None) -> bool:
    """Whether an event is shown to who sees the payments of ``enterprise`` (a person's
    :attr:`~shared.domain.parties.Person.scope`, or a pay link's payer)."""
    if event.enterprise_id != enterprise:
        return False
    if payment_id is not None and event.payment_id != payment_id:
        return False
    # A refusal not attached to the payment (seq 0) is an outsider's: never shown.
    return event.kind == "transition" or event.seq != 0


def _frame(sid: str, event: StatusEvent) -> str:
    shown = event.model_dump(mode="json", by_alias=True)
    shown["reason_code"], shown["reason"] = for_person(event.reason_code, event.reason)
    return f"id: {sid}\nevent: {event.kind}\ndata: {json.dumps(shown)}\n\n"
