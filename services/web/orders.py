"""What the screens show of a payment: its content (only as verified against the content
hash frozen at apply), the banks its payer may pay through, and the payment as seen by one
person (their enterprise's, or not found)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.app.deps import Deps
from shared.domain.content import check_content
from shared.domain.parties import Bank, Person
from shared.domain.payment import Payment


@dataclass(frozen=True)
class Order:
    payment_id: str
    status: str
    order_id: str
    payer_id: str
    payer_name: str
    payer_account: str
    payee_name: str
    payee_account: str
    payee_bank: str
    amount: str
    currency: str
    bank: str | None
    purpose: str
    content_hash: str
    applicant: str | None
    reviewer: str | None
    authorizer: str | None
    created_at: str | None
    deadline_ms: float | None


def order_of(payment: Payment) -> Order:
    """The payment's content as its hash covers it; :class:`Refusal` ``content_mismatch``
    if the stored fields are not what the hash covers (never shown then)."""
    stored = payment.content
    content = _checked(payment)
    created = next((e.at for e in payment.history if e.kind == "transition"), None)
    return Order(
        payment_id=payment.payment_id,
        status=payment.status.value,
        order_id=content["order_id"],
        payer_id=content["enterprise_id"],
        payer_name=content["payer_name"],
        payer_account=content["payer_account"],
        payee_name=content["payee_name"],
        payee_account=content["payee_account"],
        payee_bank=content["payee_bank_code"],
        amount=content["amount"],
        currency=content["currency"],
        bank=content["bank"],
        purpose=content["purpose"],
        content_hash=stored.content_hash,
        applicant=payment.applicant_id,
        reviewer=payment.reviewer_id,
        authorizer=payment.authorizer_id,
        created_at=created,
        deadline_ms=payment.deadline_ms,
    )


def _checked(payment: Payment) -> dict[str, str]:
    stored = payment.content
    content = check_content(payment) if stored.bank else stored.check_requested()
    return {
        "order_id": content.order_id,
        "enterprise_id": content.payer.enterprise_id,
        "payer_name": content.payer.name,
        "payer_account": content.payer.account,
        "payee_name": content.payee.name,
        "payee_account": content.payee.account,
        "payee_bank_code": content.payee.bank_code,
        "amount": content.amount,
        "currency": content.currency,
        # A platform's request names no bank until its applicant chooses one.
        "bank": content.bank or "",
        "purpose": content.purpose,
    }


def payable_banks(deps: Deps, payment: Payment) -> list[Bank]:
    """The banks the payer may pay this payment through
    (:meth:`~shared.domain.parties.Enterprise.payable_banks`); none for an unknown payer."""
    enterprise = deps.directory.enterprise(payment.content.enterprise_id or "")
    if enterprise is None:
        return []
    return enterprise.payable_banks(payment.content.bank, deps.directory.bank)


def payment_for(deps: Deps, who: Person, payment_id: str) -> Payment | None:
    """A payment of the person's enterprise; None for a missing one and another enterprise's
    alike."""
    payment = deps.store.get(payment_id)
    if payment is None or not who.sees(payment):
        return None
    return payment
