"""Online banking ``/bank/``: login, logout, the worklist by role, an applicant's
cancellation, and keeping a session alive after the idle warning."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.web import messages
from services.web.formats import seconds_since
from services.web.i18n import LANGUAGES
from services.web.orders import Order, order_of, payment_for
from services.web.pages import (
    FormPost,
    SignedInForm,
    clear_session,
    client_address,
    person_of,
    redirect,
    render,
    set_session,
    stage_refusal,
    to_login,
    token_of,
    typed_reason,
    web,
)
from services.web.params import Field, PaymentId
from shared.app import client
from shared.app.deps import Deps
from shared.domain.errors import Refusal
from shared.domain.parties import Person
from shared.domain.states import BEFORE_AUTHORIZATION, PaymentStatus
from shared.redis.throttle import Throttled

router = APIRouter(include_in_schema=False)

#: What each role's worklist shows, and whether oldest first.
WORKLIST: dict[str, tuple[str | None, bool]] = {
    "reviewer": ("pending_review", True),
    "authorizer": ("pending_auth", True),
    "applicant": (None, False),
}


def local(next_url: str | None) -> str:
    """Only a path on this site is followed after login (never ``//host`` or a scheme)."""
    if next_url and next_url.startswith("/") and not next_url.startswith(("//", "/\\")):
        return next_url
    return "/bank/worklist"


@router.get("/lang/{lang}")
def switch_language(
    lang: str, next: Annotated[str | None, Query(max_length=2048)] = None
) -> Response:
    response = redirect(local(next) if next else "/bank/worklist")
    if lang in LANGUAGES:
        response.set_cookie(
            "b2bpay_lang", lang, max_age=365 * 86400, samesite="strict", httponly=True
        )
    return response


@router.get("/bank", response_class=HTMLResponse)
@router.get("/bank/", response_class=HTMLResponse)
def bank_home(request: Request) -> Response:
    return redirect("/bank/worklist" if person_of(request) else "/bank/login")


@router.get("/bank/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=2048)] = None,
    expired: Annotated[str | None, Query(max_length=4)] = None,
    out: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    notice = "login.expired" if expired else "login.logged_out" if out else None
    return render(
        request, "bank/login.html", next=local(next), notice=notice, errors=[], username=""
    )


@router.post("/bank/login", response_class=HTMLResponse)
def login(
    form: FormPost, username: Field = None, password: Field = None, next: Field = None
) -> Response:
    request = form.request
    deps = form.web.api.deps
    try:
        opened = client.login(deps, username or "", password or "", client=client_address(request))
    except (client.AuthenticationFailed, Throttled) as error:
        return render(
            request,
            "bank/login.html",
            429 if isinstance(error, Throttled) else 401,
            next=local(next),
            notice=None,
            errors=messages.of_error(form.t, error),
            username=username or "",
        )
    response = redirect(local(next))
    set_session(request, response, opened.token)
    return response


@router.post("/bank/logout", response_class=HTMLResponse)
def logout(form: FormPost) -> Response:
    token = token_of(form.request)
    if token is not None:
        with contextlib.suppress(client.AuthenticationFailed):
            client.logout(form.web.api.deps, token)
    response = redirect("/bank/login?out=1")
    clear_session(response)
    return response


@router.post("/bank/session/extend", response_class=HTMLResponse)
def extend(form: FormPost, next: Field = None) -> Response:
    """A use of the session that passed every check: its idle timeout starts again."""
    token = token_of(form.request)
    deps = form.web.api.deps
    try:
        session = deps.sessions.verify(token or "")
        deps.sessions.refresh(session)
    except Refusal:
        return to_login(form.request)
    return redirect(local(next))


@dataclass(frozen=True)
class Line:
    order: Order
    age: int | None
    left: int | None
    can_cancel: bool


@router.get("/bank/worklist", response_class=HTMLResponse)
def worklist(request: Request) -> Response:
    who = person_of(request)
    token = token_of(request)
    if who is None or token is None:
        return to_login(request)
    w = web(request)
    role = who.user.role
    status, oldest_first = WORKLIST.get(role, (None, False))
    try:
        rows = client.list_payments(
            w.api.deps, w.api.views, session=token, status=status, limit=200
        )
    except client.AuthenticationFailed:
        return to_login(request)
    lines = _lines(w.api.deps, who, [r.payment_id for r in rows], status)
    if not oldest_first:
        lines.reverse()
    return render(request, "bank/worklist.html", person=who, lines=lines, role=role)


def _lines(deps: Deps, who: Person, ids: list[str], status: str | None) -> list[Line]:
    now = time.time()
    lines = []
    for payment_id in ids:
        payment = payment_for(deps, who, payment_id)
        # The read model may lag the payment by a moment: the store has the truth.
        if payment is None or (status is not None and payment.status.value != status):
            continue
        if who.user.role == "applicant" and payment.applicant_id != who.user.username:
            continue
        try:
            order = order_of(payment)
        except Refusal:
            continue
        left = None
        if payment.deadline_ms is not None and payment.status not in (PaymentStatus.SETTLED,):
            left = int(payment.deadline_ms / 1000 - now)
        lines.append(
            Line(
                order,
                seconds_since(order.created_at, now),
                left,
                payment.status in BEFORE_AUTHORIZATION,
            )
        )
    return lines


@router.post("/bank/payments/{payment_id}/cancel", response_class=HTMLResponse)
def cancel(form: SignedInForm, payment_id: PaymentId, reason: Field = None) -> Response:
    request, who, api = form.request, form.who, form.web.api
    try:
        sent = client.cancel(
            api.deps,
            payment_id,
            reason=typed_reason(reason),
            session=form.token,
            wait=api.wait_seconds,
        )
    except client.ClientError as error:
        return render(
            request, "error.html", 422, person=who, lines=messages.of_error(form.t, error)
        )
    refusal = stage_refusal(form.t, sent)
    if refusal is not None:
        return render(request, "error.html", 409, person=who, lines=refusal)
    return redirect(f"/bank/payments/{quote(payment_id)}?notice=cancelled")
