"""Progress (seed step 16): ``/bank/payments/{id}`` for the payer's people and
``/pay/{id}/status`` for the buyer holding the pay link; the timeline of the manual's steps,
refreshed live by htmx when the payment's events arrive over SSE
(:func:`services.api.events.payment_stream`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from services.api.events import payment_stream
from services.web.orders import order_of, payment_for
from services.web.pages import (
    invalid_link,
    not_found,
    opened,
    partial,
    person_of,
    render,
    to_login,
    token_of,
    web,
)
from services.web.params import Cap, PaymentId
from services.web.timeline import timeline
from shared.app import client

router = APIRouter(include_in_schema=False)

#: What a notice after a decision may say (only these keys, never free text from the URL).
NOTICES = {"approved", "rejected", "authorized", "cancelled"}
_SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@router.get("/bank/payments/{payment_id}", response_class=HTMLResponse)
def bank_progress(
    request: Request,
    payment_id: PaymentId,
    notice: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    who = person_of(request)
    if who is None:
        return to_login(request)
    payment = payment_for(web(request).api.deps, who, payment_id)
    if payment is None:
        return not_found(request, who)
    base = f"/bank/payments/{quote(payment_id)}"
    return render(
        request,
        "progress.html",
        person=who,
        order=order_of(payment),
        progress=timeline(payment),
        notice=notice if notice in NOTICES else None,
        timeline_url=f"{base}/timeline",
        events_url=f"{base}/events",
    )


@router.get("/bank/payments/{payment_id}/timeline", response_class=HTMLResponse)
def bank_timeline(request: Request, payment_id: PaymentId) -> Response:
    who = person_of(request, active=False)
    if who is None:
        return Response(status_code=401)
    payment = payment_for(web(request).api.deps, who, payment_id)
    if payment is None:
        return Response(status_code=404)
    base = f"/bank/payments/{quote(payment_id)}"
    return partial(
        request,
        "timeline.html",
        progress=timeline(payment),
        timeline_url=f"{base}/timeline",
        events_url=f"{base}/events",
    )


@router.get("/bank/payments/{payment_id}/events")
def bank_events(request: Request, payment_id: PaymentId) -> Response:
    w = web(request)
    who = person_of(request, active=False)
    token = token_of(request)
    if who is None or token is None or payment_for(w.api.deps, who, payment_id) is None:
        return Response(status_code=404)

    def alive() -> bool:
        try:
            client.person(w.api.deps, token)
        except client.AuthenticationFailed:
            return False
        return True

    stream = payment_stream(w.api, who.scope, payment_id, alive)
    return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)


@router.get("/pay/{payment_id}/status", response_class=HTMLResponse)
def pay_progress(request: Request, payment_id: PaymentId, k: Cap = None) -> Response:
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return invalid_link(request)
    query = urlencode({"k": k})
    return render(
        request,
        "progress.html",
        order=order_of(payment),
        progress=timeline(payment),
        notice=None,
        timeline_url=f"/pay/{quote(payment_id)}/timeline?{query}",
        events_url=f"/pay/{quote(payment_id)}/events?{query}",
    )


@router.get("/pay/{payment_id}/timeline", response_class=HTMLResponse)
def pay_timeline(request: Request, payment_id: PaymentId, k: Cap = None) -> Response:
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return Response(status_code=404)
    query = urlencode({"k": k})
    return partial(
        request,
        "timeline.html",
        progress=timeline(payment),
        timeline_url=f"/pay/{quote(payment_id)}/timeline?{query}",
        events_url=f"/pay/{quote(payment_id)}/events?{query}",
    )


@router.get("/pay/{payment_id}/events")
def pay_events(request: Request, payment_id: PaymentId, k: Cap = None) -> Response:
    w = web(request)
    payment = opened(request, payment_id, k)
    if payment is None or payment.content.enterprise_id is None:
        return Response(status_code=404)
    enterprise = payment.content.enterprise_id
    stream = payment_stream(w.api, enterprise, payment_id, lambda: True)
    return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)
