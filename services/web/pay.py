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
from services.web.i18n import Translator
from services.web.orders import Order, order_of, payable_banks
from services.web.pages import (
    csrf_ok,
    lang_of,
    person_of,
    redirect,
    render,
    set_session,
    web,
)
from services.web.params import Cap, Field, PaymentId
from shared.app import client
from shared.app.guard import Person
from shared.app.paylink import check_capability
from shared.domain.errors import Refusal
from shared.domain.payment import Payment
from shared.redis.throttle import Throttled

router = APIRouter(include_in_schema=False)


def _link(payment_id: str, k: str, **more: str) -> str:
    return f"/pay/{payment_id}?{urlencode({'k': k, **more})}"


def opened(request: Request, payment_id: str, k: str | None) -> Payment | None:
    """The payment behind a genuine pay link; None for a wrong link and a missing payment
    alike."""
    w = web(request)
    if not check_capability(w.key, payment_id, k):
        return None
    return w.api.deps.store.get(payment_id)


def invalid_link(request: Request) -> HTMLResponse:
    return render(request, "pay/invalid.html", 404)


def _applicant(request: Request, payment: Payment) -> Person | None:
    who = person_of(request)
    if who is None or who.user.role != "applicant":
        return None
    if who.user.enterprise_id != payment.content.enterprise_id:
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
        t = Translator(lang_of(request))
        lines = messages.refusal_lines(t, refusal.reason_code.value, refusal.detail)
        return render(request, "pay/closed.html", 409, order=None, errors=lines, k=k)
    status_link = f"/pay/{payment.payment_id}/status?{urlencode({'k': k})}"
    common: dict[str, Any] = {
        "order": order,
        "k": k,
        "status_link": status_link,
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
def choose_bank(
    request: Request,
    payment_id: PaymentId,
    k: Field = None,
    bank: Field = None,
    csrf_token: Field = None,
) -> Response:
    if not csrf_ok(request, csrf_token):
        return forbidden(request)
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return invalid_link(request)
    codes = {b.code for b in payable_banks(web(request).api.deps, payment)}
    if bank not in codes:
        t = Translator(lang_of(request))
        return _step(request, payment, k, None, errors=[t("pay.choose_bank_error")], status=422)
    return redirect(_link(payment_id, k, bank=bank or ""))


@router.post("/pay/{payment_id}/login", response_class=HTMLResponse)
def pay_login(
    request: Request,
    payment_id: PaymentId,
    k: Field = None,
    bank: Field = None,
    username: Field = None,
    password: Field = None,
    csrf_token: Field = None,
) -> Response:
    if not csrf_ok(request, csrf_token):
        return forbidden(request)
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return invalid_link(request)
    t = Translator(lang_of(request))
    deps = web(request).api.deps
    address = request.client.host if request.client else "unknown"
    try:
        logged = client.login(deps, username or "", password or "", client=f"ip:{address}")
    except (client.AuthenticationFailed, Throttled) as error:
        return _step(
            request,
            payment,
            k,
            bank,
            errors=messages.of_error(t, error),
            status=429 if isinstance(error, Throttled) else 401,
            username=username or "",
        )
    response = redirect(_link(payment_id, k, bank=bank or ""))
    set_session(request, response, logged.token)
    return response


@router.post("/pay/{payment_id}/confirm", response_class=HTMLResponse)
def pay_confirm(
    request: Request,
    payment_id: PaymentId,
    k: Field = None,
    bank: Field = None,
    otp: Field = None,
    csrf_token: Field = None,
) -> Response:
    if not csrf_ok(request, csrf_token):
        return forbidden(request)
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return invalid_link(request)
    t = Translator(lang_of(request))
    w = web(request)
    who = _applicant(request, payment)
    token = request.cookies.get("b2bpay_session")
    if who is None or token is None:
        return _step(request, payment, k, bank, errors=[t("reason.session_ended")], status=401)
    try:
        sent = client.confirm(
            w.api.deps,
            payment_id,
            session=token,
            otp=(otp or "").strip(),
            bank=bank or None,
            wait=w.api.wait_seconds,
        )
    except client.ClientError as error:
        return _step(request, payment, k, bank, errors=messages.of_error(t, error), status=422)
    verdict = sent.verdict
    if verdict is not None and verdict.outcome == "refused":
        fresh = w.api.deps.store.get(payment_id) or payment
        lines = messages.of_verdict(t, verdict)
        return _step(request, fresh, k, bank, errors=lines, status=409)
    return redirect(f"/pay/{payment_id}/started?{urlencode({'k': k})}")


@router.get("/pay/{payment_id}/started", response_class=HTMLResponse)
def started(request: Request, payment_id: PaymentId, k: Cap = None) -> Response:
    payment = opened(request, payment_id, k)
    if payment is None or k is None:
        return invalid_link(request)
    order: Order = order_of(payment)
    status_link = f"/pay/{payment_id}/status?{urlencode({'k': k})}"
    return render(request, "pay/started.html", order=order, status_link=status_link, k=k, errors=[])


def forbidden(request: Request) -> HTMLResponse:
    """A form posted without its CSRF token (or with another browser's): refused, nothing
    done."""
    return render(request, "error.html", 403, error_key="reason.csrf_failed")
