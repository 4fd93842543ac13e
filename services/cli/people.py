"""What the people's views (``status``, ``list``, ``challenge``) check and say: a live session
first, then only that person's enterprise, with refusals as :mod:`shared.security.disclosure`
allows."""

from __future__ import annotations

from typing import Any, NoReturn

from services.cli import context
from services.cli.output import REFUSED, fail
from shared.domain.errors import ReasonCode, Refusal
from shared.messaging.guard import Person, identify
from shared.security.disclosure import AUTHENTICATION_FAILED, GENERIC_REASON, for_person


def person_or_fail(token: str, as_json: bool) -> Person:
    """The person behind a live session, or exit with ``authentication_failed``. A view is
    not a command: it does not restart the session's idle timeout."""
    try:
        return identify(context.deps(), token)
    except Refusal:
        fail(GENERIC_REASON, as_json, REFUSED, reason_code=AUTHENTICATION_FAILED)


def not_found(payment_id: str, as_json: bool) -> NoReturn:
    """The one answer for a payment that is missing and for another enterprise's payment."""
    fail(
        f"no payment {payment_id} for your enterprise (or not yet in the read model)",
        as_json,
        REFUSED,
        reason_code=ReasonCode.PAYMENT_NOT_FOUND.value,
    )


def as_person_sees_it(found: dict[str, Any]) -> dict[str, Any]:
    """A read-model payment as its own people see it: generic codes for failed
    authentication, and without refusals to outsiders (``seq`` 0, not about the payment)."""
    shown = dict(found)
    shown["history"] = [_generic(h) for h in found["history"]]
    shown["refusals"] = [_generic(r) for r in found["refusals"] if r["seq"]]
    return shown


def _generic(entry: dict[str, Any]) -> dict[str, Any]:
    code, reason = for_person(entry["reason_code"], entry["reason"])
    return {**entry, "reason_code": code, "reason": reason}
