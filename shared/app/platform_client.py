"""The application client for upstream platforms: what a platform does, authenticated by its
API key (:func:`authenticate_platform`), as typed functions the HTTP API calls. Like
:mod:`shared.app.client` (whose :func:`~shared.app.client.send` and views it uses), nothing here
prints or exits, and the stages decide.

A platform creates payments only for the payers registered with it (PaymentRequest v2, left
in ``requested`` for the applicant to take up with :func:`shared.app.client.confirm`), cancels
them only while they are ``requested``, and sees only the payments it created: any other
payment is :class:`~shared.app.client.PaymentNotFound`, word for word as a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from shared.app.client import (
    InvalidCommand,
    PaymentNotFound,
    PaymentViews,
    Sent,
    as_person_sees_it,
    send,
)
from shared.app.deps import Deps, platforms_of
from shared.app.guard import describe_validation_error
from shared.domain.contracts import PaymentRequestV2, PlatformCancel
from shared.domain.parties import Platform
from shared.domain.views import PaymentListItem, PaymentView

#: The schema a platform's payment request is read as when it names none.
PLATFORM_REQUEST_SCHEMA = "b2bpay.payment_request.v2"

__all__ = [
    "Platform",
    "authenticate_platform",
    "cancel_for_platform",
    "create_request",
    "platform_list",
    "platform_request",
    "platform_status",
]


def authenticate_platform(deps: Deps, api_key: str) -> Platform:
    """The platform an API key belongs to; else a
    :class:`~shared.domain.errors.Refusal` ``platform_invalid``, the same whether the key
    is unknown, wrong, or its platform's record was tampered with."""
    return platforms_of(deps).authenticate(api_key)


def platform_request(request: Mapping[str, Any], platform: Platform) -> PaymentRequestV2:
    """A valid PaymentRequest v2 from its fields, created by ``platform``. A ``session`` or
    ``otp`` in it makes it invalid: those belong to the applicant's confirmation."""
    fields = {"schema": PLATFORM_REQUEST_SCHEMA, **request, "platform_id": platform.platform_id}
    try:
        return PaymentRequestV2.model_validate(fields)
    except ValidationError as e:
        raise InvalidCommand(f"invalid payment request: {describe_validation_error(e)}") from e


def create_request(
    deps: Deps, request: Mapping[str, Any], platform: Platform, *, wait: float | None = None
) -> Sent:
    """Ask for a payment as ``platform`` (see :func:`platform_request`); the apply stage
    leaves it in ``requested``, awaiting its applicant. Same ``request_id`` and content:
    the same payment (``duplicate``); other content: ``idempotency_conflict``."""
    return send(deps, platform_request(request, platform), wait)


def cancel_for_platform(
    deps: Deps, payment_id: str, platform: Platform, *, reason: str = "", wait: float | None = None
) -> Sent:
    """Withdraw a payment ``platform`` created, while its applicant has not taken it up."""
    try:
        command = PlatformCancel(
            payment_id=payment_id, platform_id=platform.platform_id, reason=reason
        )
    except ValidationError as e:
        raise InvalidCommand(describe_validation_error(e)) from e
    return send(deps, command, wait)


def _created_by(deps: Deps, payment_id: str, platform: Platform) -> bool:
    payment = deps.store.get(payment_id)
    return payment is not None and platform.sees(payment)


def platform_status(
    deps: Deps, views: Callable[[], PaymentViews], payment_id: str, platform: Platform
) -> PaymentView:
    """A payment ``platform`` created, with its history, as the payer's people see it;
    any other payment is :class:`PaymentNotFound`."""
    if not _created_by(deps, payment_id, platform):
        raise PaymentNotFound(payment_id)
    found = views().payment(payment_id)
    if found is None:
        raise PaymentNotFound(payment_id)
    return as_person_sees_it(found)


def platform_list(
    deps: Deps,
    views: Callable[[], PaymentViews],
    platform: Platform,
    *,
    status: str | None = None,
) -> list[PaymentListItem]:
    """The payments ``platform`` created, optionally with one status."""
    read = views()
    return [
        entry
        for enterprise_id in sorted(platform.enterprises)
        for entry in read.list(status, enterprise_id)
        if _created_by(deps, entry.payment_id, platform)
    ]
