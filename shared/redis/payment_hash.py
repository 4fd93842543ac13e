"""The one mapping between a payment's Redis hash and :class:`~shared.domain.payment.Payment`
(both ways), and the reading of what ``transition.lua`` answers; its field names are those of
the script. Nothing else reads or writes the hash's fields."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Any

from shared.domain.content import StoredContent
from shared.domain.contracts import StatusEvent
from shared.domain.payment import Application, Payment, Record, Step
from shared.domain.states import PaymentStatus
from shared.domain.status_events import decode_status_event
from shared.redis.replies import as_text


def version_of(raw: dict[Any, Any]) -> int | None:
    version = raw.get(b"version", raw.get("version"))
    try:
        return int(version) if version is not None else None
    except ValueError:
        return None


def payment_written(
    payment_id: str, fields: dict[str, str], history: list[StatusEvent], reply: list[Any]
) -> Payment:
    """The payment from an "ok" reply of the script, given its hash ``fields`` and
    ``history`` as they were at the version the script checked: the reply ends with the
    fields it wrote, the history entries it added and whether it deleted ``deadline_at``."""
    written, added, cleared = reply[3], reply[4], reply[5]
    fields.update({as_text(written[i]): as_text(written[i + 1]) for i in range(0, len(written), 2)})
    if cleared == "1":
        fields.pop("deadline_at", None)
    history.extend(decode_status_event(body) for body in added)
    return payment_of(payment_id, fields, history)


def step_spec(step: Step) -> dict[str, Any]:
    return {"status": step.status.value, "reason_code": step.reason_code, "reason": step.reason}


# -- the one mapping between the payment's hash and Payment -------------------------------

#: A recorded command: ``cmd:<command id>`` -> the status it left the payment at.
_COMMAND = "cmd:"


def payment_of(payment_id: str, fields: dict[str, str], history: list[StatusEvent]) -> Payment:
    """The payment its hash ``fields`` describes. A person or signature field that is empty
    reads as absent; a content field is kept as its exact stored text (or ``None``)."""

    def given(name: str) -> str | None:
        return fields.get(name) or None

    deadline = fields.get("deadline_at")
    return Payment(
        payment_id=payment_id,
        status=PaymentStatus(fields["status"]),
        version=int(fields["version"]),
        content=StoredContent(
            order_id=fields.get("order_id"),
            enterprise_id=fields.get("enterprise_id"),
            payer_account=fields.get("payer_account"),
            payer_name=fields.get("payer_name"),
            payee_bank_code=fields.get("payee_bank_code"),
            payee_account=fields.get("payee_account"),
            payee_name=fields.get("payee_name"),
            amount=fields.get("amount"),
            currency=fields.get("currency"),
            bank=fields.get("bank"),
            purpose=fields.get("purpose", ""),
            content_hash=fields.get("content_hash", ""),
        ),
        request_id=given("request_id"),
        applicant_id=given("applicant_id"),
        reviewer_id=given("reviewer_id"),
        authorizer_id=given("authorizer_id"),
        end_to_end_id=given("end_to_end_id"),
        apply_signature=given("apply_signature"),
        review_signature=given("review_signature"),
        authorize_signature=given("authorize_signature"),
        platform_id=given("platform_id"),
        deadline_ms=float(deadline) if deadline is not None else None,
        updated_at=given("updated_at"),
        updated_by=given("updated_by"),
        commands={
            name.removeprefix(_COMMAND): value
            for name, value in fields.items()
            if name.startswith(_COMMAND)
        },
        history=history,
    )


def fields_of(payment: Payment) -> dict[str, str]:
    """The hash fields :func:`_payment_of` reads ``payment`` from (its inverse)."""
    fields = _present(
        {
            "status": payment.status.value,
            "version": str(payment.version),
            **_content_fields(payment.content),
            "request_id": payment.request_id,
            "applicant_id": payment.applicant_id,
            "reviewer_id": payment.reviewer_id,
            "authorizer_id": payment.authorizer_id,
            "end_to_end_id": payment.end_to_end_id,
            "apply_signature": payment.apply_signature,
            "review_signature": payment.review_signature,
            "authorize_signature": payment.authorize_signature,
            "platform_id": payment.platform_id,
            "deadline_at": None if payment.deadline_ms is None else repr(payment.deadline_ms),
            "updated_at": payment.updated_at,
            "updated_by": payment.updated_by,
        }
    )
    fields.update({_COMMAND + name: value for name, value in payment.commands.items()})
    return fields


def _present(fields: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


def application_fields(application: Application) -> dict[str, str]:
    """What ``create`` writes (the Lua adds status, version and the rest)."""
    return _present(
        {
            "payment_id": application.payment_id,
            "request_id": application.request_id,
            **_content_fields(application.content),
            "applicant_id": application.applicant_id,
            "end_to_end_id": application.end_to_end_id,
            "apply_signature": application.apply_signature,
            "platform_id": application.platform_id,
        }
    )


def _content_fields(content: StoredContent) -> dict[str, str | None]:
    return {
        "order_id": content.order_id,
        "enterprise_id": content.enterprise_id,
        "payer_account": content.payer_account,
        "payer_name": content.payer_name,
        "payee_bank_code": content.payee_bank_code,
        "payee_account": content.payee_account,
        "payee_name": content.payee_name,
        "amount": content.amount,
        "currency": content.currency,
        "bank": content.bank,
        "purpose": content.purpose,
        "content_hash": content.content_hash,
    }


def record_fields(record: Record | None) -> dict[str, str]:
    """What a transition writes of who decided and the deciding stage's signature (each
    field of :class:`Record` is the hash field of the same name), and a completed content."""
    if record is None:
        return {}
    given = {f.name: getattr(record, f.name) for f in dataclass_fields(record)}
    content = given.pop("content")
    return _present({**given, **(_content_fields(content) if content is not None else {})})
