"""The pay page ``/pay/{payment_id}?k=…`` (seed steps 1-6): the order as the platform
confirmed it, the bank, the applicant's login and one-time code; then "payment started" with
the progress link. It confirms through the application client (:func:`shared.app.client.confirm`),
the path ``POST /v1/payments/{id}/confirmation`` takes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.web import messages
from services.web.orders import Order, order_of, payable_banks
from services.web.pages import (
    PayLinkForm,
    client_address,
    invalid_link,
    opened,
    person_of,
    redirect,
    render,
    set_session,
    stage_refusal,
    token_of,
    translator,
    web,
)
from services.web.params import Cap, Field, PaymentId
from shared.app import client
from shared.domain.errors import Refusal
from shared.domain.parties import Person
from shared.domain.payment import Payment
from shared.redis.throttle import Throttled

router = APIRouter(include_in_schema=False)


def _link(payment_id: str, k: str, **more: str) -> str:
    return f"/pay/{payment_id}?{urlencode({'k': k, **more})}"


def _status_link(payment_id: str, k: str) -> str:
    return f"/pay/{payment_id}/status?{urlencode({'k': k})}"


def _applicant(request: Request, payment: Payment) -> Person | None:
    who = person_of(request)
    if who is None or who.user.role != "applicant":
        return None
    if not who.sees(payment):
        return None
    return who


@router.get("/pay/{payment_id}", response_class=HTMLResponse)
def pay_page(
    request: Request,
    payment_id: PaymentId,
    k: Cap = None,
    bank: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return invalid_link(request)
    return _step(request, payment, k, bank)


def _step(
    request: Request,
    payment: Payment,
    k: str,
    bank: str | None,
    *,
    errors: list[str] | None = None,
    status: int = 200,
    username: str = "",
) -> Response:
    try:
        order = order_of(payment)
    except Refusal as refusal:
        t = translator(request)
        lines = messages.refusal_lines(t, refusal.reason_code.value, refusal.detail)
        return render(request, "pay/closed.html", 409, order=None, errors=lines, k=k)
    common: dict[str, Any] = {
        "order": order,
        "k": k,
        "status_link": _status_link(payment.payment_id, k),
        "errors": errors or [],
    }
    if payment.status.value != "requested":
        return render(request, "pay/closed.html", status, **common)
    banks = payable_banks(web(request).api.deps, payment)
    chosen = next((b for b in banks if b.code == bank), None)
    if chosen is None:
        return render(request, "pay/order.html", status, banks=banks, **common)
    who = _applicant(request, payment)
    if who is None:
        return render(request, "pay/login.html", status, bank=chosen, username=username, **common)
    return render(request, "pay/code.html", status, bank=chosen, person=who, **common)


@router.post("/pay/{payment_id}/bank", response_class=HTMLResponse)
def choose_bank(form: PayLinkForm, payment_id: PaymentId, bank: Field = None) -> Response:
    payment, k = form.payment, form.k
    codes = {b.code for b in payable_banks(form.web.api.deps, payment)}
    if bank not in codes:
        errors = [form.t("pay.choose_bank_error")]
        return _step(form.request, payment, k, None, errors=errors, status=422)
    return redirect(_link(payment_id, k, bank=bank or ""))


@router.post("/pay/{payment_id}/login", response_class=HTMLResponse)
def pay_login(
    form: PayLinkForm,
    payment_id: PaymentId,
    bank: Field = None,
    username: Field = None,
    password: Field = None,
) -> Response:
    request, k = form.request, form.k
    deps = form.web.api.deps
    try:
        logged = client.login(deps, username or "", password or "", client=client_address(request))
    except (client.AuthenticationFailed, Throttled) as error:
        return _step(
            request,
            form.payment,
            k,
            bank,
            errors=messages.of_error(form.t, error),
            status=429 if isinstance(error, Throttled) else 401,
            username=username or "",
        )
    response = redirect(_link(payment_id, k, bank=bank or ""))
    set_session(request, response, logged.token)
    return response


@router.post("/pay/{payment_id}/confirm", response_class=HTMLResponse)
def pay_confirm(
    form: PayLinkForm, payment_id: PaymentId, bank: Field = None, otp: Field = None
) -> Response:
    request, payment, k, t, api = form.request, form.payment, form.k, form.t, form.web.api
    who = _applicant(request, payment)
    token = token_of(request)
    if who is None or token is None:
        return _step(request, payment, k, bank, errors=[t("reason.session_ended")], status=401)
    try:
        sent = client.confirm(
            api.deps,
            payment_id,
            session=token,
            otp=(otp or "").strip(),
            bank=bank or None,
            wait=api.wait_seconds,
        )
    except client.ClientError as error:
        return _step(request, payment, k, bank, errors=messages.of_error(t, error), status=422)
    lines = stage_refusal(t, sent)
    if lines is not None:
        fresh = api.deps.store.get(payment_id) or payment
        return _step(request, fresh, k, bank, errors=lines, status=409)
    return redirect(f"/pay/{payment_id}/started?{urlencode({'k': k})}")


@router.get("/pay/{payment_id}/started", response_class=HTMLResponse)
def started(request: Request, payment_id: PaymentId, k: Cap = None) -> Response:
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return invalid_link(request)
    order: Order = order_of(payment)
    status_link = _status_link(payment_id, k)
    return render(request, "pay/started.html", order=order, status_link=status_link, k=k, errors=[])
