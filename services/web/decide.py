"""Review (seed steps 9-10) and authorization (12-14) in online banking: the payment as it
stands, and a form to approve, or reject with a reason. Both decide through the application
client (:func:`shared.app.client.review`, :func:`shared.app.client.authorize`), as the API does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
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
from services.web.params import Field, PaymentId
from services.web.pay import forbidden
from services.web.timeline import timeline
from shared.app import client
from shared.app.deps import Deps
from shared.app.guard import Person
from shared.domain.errors import Refusal

router = APIRouter(include_in_schema=False)


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


#: A page of the decision form, shown again with the sentences of what went wrong.
Page = Callable[[Request, Person, str, list[str], int], Response]


def _decide(
    request: Request,
    payment_id: str,
    csrf_token: str | None,
    approve: bool,
    page: Page,
    send: Callable[[Deps, str, float], client.Sent],
    done: str,
) -> Response:
    """One decision posted from a form: the CSRF token and the session first, then ``send``
    (given the deps, the session token and the wait) through the application client; a bad
    request or a refusal shows the form again with its sentences, else the progress page."""
    if not csrf_ok(request, csrf_token):
        return forbidden(request)
    who, token = person_of(request), token_of(request)
    if who is None or token is None:
        return to_login(request)
    w = web(request)
    try:
        sent = send(w.api.deps, token, w.api.wait_seconds)
    except client.ClientError as error:
        return page(
            request, who, payment_id, messages.of_error(Translator(lang_of(request)), error), 422
        )
    outcome = _decided(request, who, payment_id, sent, done if approve else "rejected")
    if isinstance(outcome, list):
        return page(request, who, payment_id, outcome, 409)
    return outcome


@router.post("/bank/payments/{payment_id}/review", response_class=HTMLResponse)
def review(
    request: Request,
    payment_id: PaymentId,
    decision: Field = None,
    reason: Field = None,
    csrf_token: Field = None,
) -> Response:
    approve = decision != "reject"
    return _decide(
        request,
        payment_id,
        csrf_token,
        approve,
        _review_page,
        lambda deps, token, wait: client.review(
            deps,
            payment_id,
            approve=approve,
            reason=(reason or "").strip()[:280],
            session=token,
            wait=wait,
        ),
        "approved",
    )


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
    approve = decision != "reject"
    return _decide(
        request,
        payment_id,
        csrf_token,
        approve,
        _authorize_page,
        lambda deps, token, wait: client.authorize(
            deps,
            payment_id,
            approve=approve,
            reason=(reason or "").strip()[:280],
            session=token,
            otp=(otp or "").strip(),
            wait=wait,
        ),
        "authorized",
    )
