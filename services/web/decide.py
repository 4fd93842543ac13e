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
from services.web.orders import order_of, payment_for
from services.web.pages import (
    SignedInForm,
    SignedInPost,
    not_found,
    person_of,
    redirect,
    refused,
    render,
    stage_refusal,
    to_login,
    token_of,
    typed_reason,
    web,
)
from services.web.params import Field, PaymentId
from services.web.timeline import timeline
from shared.app import client
from shared.app.deps import Deps
from shared.domain.errors import Refusal
from shared.domain.parties import Person

router = APIRouter(include_in_schema=False)


def _review_page(
    request: Request, who: Person, payment_id: str, errors: list[str], status: int = 200
) -> Response:
    deps = web(request).api.deps
    payment = payment_for(deps, who, payment_id)
    if payment is None:
        return not_found(request, who)
    try:
        order = order_of(payment)
    except Refusal as refusal:
        return refused(request, who, refusal)
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


#: A page of the decision form, shown again with the sentences of what went wrong.
Page = Callable[[Request, Person, str, list[str], int], Response]


def _decide(
    form: SignedInPost,
    payment_id: str,
    approve: bool,
    page: Page,
    send: Callable[[Deps, str, float], client.Sent],
    done: str,
) -> Response:
    """One decision posted from a form (past its preamble: CSRF token, then session):
    ``send`` (given the deps, the session token and the wait) through the application client;
    a bad request or a refusal shows the form again with its sentences, else the progress
    page."""
    api = form.web.api
    try:
        sent = send(api.deps, form.token, api.wait_seconds)
    except client.ClientError as error:
        return page(form.request, form.who, payment_id, messages.of_error(form.t, error), 422)
    lines = stage_refusal(form.t, sent)
    if lines is not None:
        return page(form.request, form.who, payment_id, lines, 409)
    notice = done if approve else "rejected"
    return redirect(f"/bank/payments/{quote(payment_id)}?notice={notice}")


@router.post("/bank/payments/{payment_id}/review", response_class=HTMLResponse)
def review(
    form: SignedInForm, payment_id: PaymentId, decision: Field = None, reason: Field = None
) -> Response:
    approve = decision != "reject"
    return _decide(
        form,
        payment_id,
        approve,
        _review_page,
        lambda deps, token, wait: client.review(
            deps, payment_id, approve=approve, reason=typed_reason(reason), session=token, wait=wait
        ),
        "approved",
    )


def _authorize_page(
    request: Request, who: Person, payment_id: str, errors: list[str], status: int = 200
) -> Response:
    w = web(request)
    token = token_of(request) or ""
    try:
        signed: dict[str, Any] = client.challenge(w.api.deps, payment_id, session=token)
    except client.AuthenticationFailed:
        return to_login(request)
    except client.PaymentNotFound:
        return not_found(request, who)
    except Refusal as refusal:
        return refused(request, who, refusal)
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
    form: SignedInForm,
    payment_id: PaymentId,
    decision: Field = None,
    reason: Field = None,
    otp: Field = None,
) -> Response:
    approve = decision != "reject"
    return _decide(
        form,
        payment_id,
        approve,
        _authorize_page,
        lambda deps, token, wait: client.authorize(
            deps,
            payment_id,
            approve=approve,
            reason=typed_reason(reason),
            session=token,
            otp=(otp or "").strip(),
            wait=wait,
        ),
        "authorized",
    )
