"""How a payment's content is stored, and the check that it is still what was confirmed."""

from __future__ import annotations

from pydantic import ValidationError

from shared.domain.contracts import PaymentContent, PaymentRequest
from shared.domain.errors import ReasonCode, Refusal
from shared.redis.store import Payment


def fields_for(request: PaymentRequest) -> dict[str, str]:
    content = request.content()
    return {
        "request_id": request.request_id,
        "order_id": content.order_id,
        "enterprise_id": content.payer.enterprise_id,
        "payer_account": content.payer.account,
        "payer_name": content.payer.name,
        "payee_bank_code": content.payee.bank_code,
        "payee_account": content.payee.account,
        "payee_name": content.payee.name,
        "amount": content.amount,
        "currency": content.currency,
        "bank": content.bank,
        "purpose": content.purpose,
        "content_hash": content.content_hash(),
    }


def content_of(payment: Payment) -> PaymentContent:
    f = payment.fields
    return PaymentContent.model_validate(
        {
            "order_id": f.get("order_id"),
            "payer": {
                "enterprise_id": f.get("enterprise_id"),
                "account": f.get("payer_account"),
                "name": f.get("payer_name"),
            },
            "payee": {
                "bank_code": f.get("payee_bank_code"),
                "account": f.get("payee_account"),
                "name": f.get("payee_name"),
            },
            "amount": f.get("amount"),
            "currency": f.get("currency"),
            "bank": f.get("bank"),
            "purpose": f.get("purpose", ""),
        }
    )


def check_content(payment: Payment, expected_hash: str | None = None) -> None:
    """Refuse if the stored content no longer hashes to the hash frozen at apply, or to the
    hash the previous stage handed on."""
    frozen = payment.fields.get("content_hash", "")
    try:
        actual = content_of(payment).content_hash()
    except ValidationError:
        actual = ""
    if actual != frozen or (expected_hash is not None and expected_hash != frozen):
        raise Refusal(
            ReasonCode.CONTENT_MISMATCH, "payment content differs from what was confirmed"
        )
