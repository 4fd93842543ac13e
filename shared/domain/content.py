"""How a payment's content is stored, and the check that it is still what was confirmed."""

from __future__ import annotations

from pydantic import ValidationError

from shared.domain.contracts import PaymentContent, PaymentRequest
from shared.domain.errors import ReasonCode, Refusal
from shared.redis.store import Payment


def _stored(content: PaymentContent) -> dict[str, str]:
    """The content's fields as stored in the payment's hash: its canonical text, exactly the
    text the content hash is computed from."""
    return {
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
    }


def fields_for(request: PaymentRequest) -> dict[str, str]:
    content = request.content()
    return {
        "request_id": request.request_id,
        **_stored(content),
        "content_hash": content.content_hash(),
    }


def content_of(payment: Payment) -> PaymentContent:
    """The content parsed from the stored fields. Parsing normalises (amounts formatted,
    whitespace stripped), so this alone does not say the stored text is canonical: use
    :func:`check_content` for what may be shown or acted on."""
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


def check_content(payment: Payment, expected_hash: str | None = None) -> PaymentContent:
    """The payment's content, verified: refused unless the stored fields hash to the hash
    frozen at apply (and to the hash the previous stage handed on) *and* each stored field
    is exactly its canonical text. Without the second check someone who can write Redis
    could store "1.25E+3" or " DE0012345678", which parse to the same content and hash,
    and have that text shown or sent to clearing. Show and send only what this returns."""
    frozen = payment.fields.get("content_hash", "")
    try:
        content: PaymentContent | None = content_of(payment)
    except ValidationError:
        content = None
    if (
        content is None
        or content.content_hash() != frozen
        or (expected_hash is not None and expected_hash != frozen)
        or any(
            payment.fields.get(name, "" if name == "purpose" else None) != text
            for name, text in _stored(content).items()
        )
    ):
        raise Refusal(
            ReasonCode.CONTENT_MISMATCH, "payment content differs from what was confirmed"
        )
    return content
