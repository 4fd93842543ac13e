"""Review (seed steps 9-10) and authorization (12-14) in online banking: the payment as it
stands, and a form to approve, or reject with a reason. Both decide through the application
client (:func:`shared.client.review`, :func:`shared.client.authorize`), as the API does."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from services.web import messages
from services.web.i18n import Translator
from services.web.orders import order_of, payment_for
from services.web.pages import (
    csrf_ok,
    lang_of,
    person_of,
    redirect,
    render,
    to_login,
    token_of,
    web,
)
from services.web.pay import forbidden
from services.web.timeline import timeline
from shared import client
from shared.domain.errors import Refusal
from shared.messaging.guard import Person

router = APIRouter(include_in_schema=False)

PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Field = Annotated[str | None, Form(max_length=1024)]


def not_found(request: Request, who: Person) -> HTMLResponse:
    t = Translator(lang_of(request))
    return render(request, "error.html", 404, person=who, lines=[t("reason.payment_not_found")])


def _review_page(
    request: Request, who: Person, payment_id: str, errors: list[str], status: int = 200
) -> Response:
    deps = web(request).api.deps
    payment = payment_for(deps, who, payment_id)
    if payment is None:
        return not_found(request, who)
    t = Translator(lang_of(request))
    try:
        order = order_of(payment)
    except Refusal as refusal:
        lines = messages.refusal_lines(t, refusal.reason_code.value, refusal.detail)
        return render(request, "error.html", 409, person=who, lines=lines)
    history = [e for e in payment.history if e.kind == "transition"]
    return render(
        request,
        "bank/review.html",
        status,
        person=who,
        order=order,
        history=history,
        errors=errors,
        open=payment.status.value == "pending_review",
    )


@router.get("/bank/payments/{payment_id}/review", response_class=HTMLResponse)
def review_page(request: Request, payment_id: PaymentId) -> Response:
    who = person_of(request)
    if who is None:
        return to_login(request)
    return _review_page(request, who, payment_id, [])


def _decided(
    request: Request, who: Person, payment_id: str, sent: client.Sent, notice: str
) -> Response | list[str]:
    """Where to go after a decision: the progress page, or the refusal's sentences."""
    verdict = sent.verdict
    if verdict is not None and verdict.outcome == "refused":
        return messages.of_verdict(Translator(lang_of(request)), verdict)
    return redirect(f"/bank/payments/{quote(payment_id)}?notice={notice}")


@router.post("/bank/payments/{payment_id}/review", response_class=HTMLResponse)
def review(
    request: Request,
    payment_id: PaymentId,
    decision: Field = None,
    reason: Field = None,
    csrf_token: Field = None,
) -> Response:
    if not csrf_ok(request, csrf_token):
        return forbidden(request)
    who, token = person_of(request), token_of(request)
    if who is None or token is None:
        return to_login(request)
    w = web(request)
    t = Translator(lang_of(request))
    approve = decision != "reject"
    try:
        sent = client.review(
            w.api.deps,
            payment_id,
            approve=approve,
            reason=(reason or "").strip()[:280],
            session=token,
            wait=w.api.wait_seconds,
        )
    except client.ClientError as error:
        return _review_page(request, who, payment_id, messages.of_error(t, error), 422)
    outcome = _decided(request, who, payment_id, sent, "approved" if approve else "rejected")
    if isinstance(outcome, list):
        return _review_page(request, who, payment_id, outcome, 409)
    return outcome


def _authorize_page(
    request: Request, who: Person, payment_id: str, errors: list[str], status: int = 200
) -> Response:
    w = web(request)
    t = Translator(lang_of(request))
    token = token_of(request) or ""
    try:
        signed: dict[str, Any] = client.challenge(w.api.deps, payment_id, session=token)
    except client.AuthenticationFailed:
        return to_login(request)
    except client.PaymentNotFound:
        return not_found(request, who)
    except Refusal as refusal:
        lines = messages.refusal_lines(t, refusal.reason_code.value, refusal.detail)
        return render(request, "error.html", 409, person=who, lines=lines)
    payment = payment_for(w.api.deps, who, payment_id)
    if payment is None:
        return not_found(request, who)
    return render(
        request,
        "bank/authorize.html",
        status,
        person=who,
        signed=signed,
        order=order_of(payment),
        progress=timeline(payment),
        errors=errors,
        open=payment.status.value == "pending_auth",
    )


@router.get("/bank/payments/{payment_id}/authorize", response_class=HTMLResponse)
def authorize_page(request: Request, payment_id: PaymentId) -> Response:
    who = person_of(request)
    if who is None:
        return to_login(request)
    return _authorize_page(request, who, payment_id, [])


@router.post("/bank/payments/{payment_id}/authorize", response_class=HTMLResponse)
def authorize(
    request: Request,
    payment_id: PaymentId,
    decision: Field = None,
    reason: Field = None,
    otp: Field = None,
    csrf_token: Field = None,
) -> Response:
    if not csrf_ok(request, csrf_token):
        return forbidden(request)
    who, token = person_of(request), token_of(request)
    if who is None or token is None:
        return to_login(request)
    w = web(request)
    t = Translator(lang_of(request))
    approve = decision != "reject"
    try:
        sent = client.authorize(
            w.api.deps,
            payment_id,
            approve=approve,
            reason=(reason or "").strip()[:280],
            session=token,
            otp=(otp or "").strip(),
            wait=w.api.wait_seconds,
        )
    except client.ClientError as error:
        return _authorize_page(request, who, payment_id, messages.of_error(t, error), 422)
    outcome = _decided(request, who, payment_id, sent, "authorized" if approve else "rejected")
    if isinstance(outcome, list):
        return _authorize_page(request, who, payment_id, outcome, 409)
    return outcome
