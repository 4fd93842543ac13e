"""A payment's content as stored, and the check that it is still what was confirmed."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from pydantic import ValidationError

from shared.domain.contracts import PaymentContent, RequestedContent
from shared.domain.errors import ReasonCode, Refusal


@dataclass(frozen=True)
class StoredContent:
    """The content of a payment exactly as stored: the text of each field as written (or
    ``None`` where it is missing), and the content hash frozen at apply. Nothing here says
    the text is canonical or matches the hash: :meth:`check` does."""

    order_id: str | None
    enterprise_id: str | None
    payer_account: str | None
    payer_name: str | None
    payee_bank_code: str | None
    payee_account: str | None
    payee_name: str | None
    #: The canonical decimal text, such as ``1250.00``, once :meth:`check` passed.
    amount: str | None
    currency: str | None
    bank: str | None
    purpose: str = ""
    content_hash: str = ""

    @classmethod
    def of(cls, content: PaymentContent) -> StoredContent:
        """The content's canonical text, exactly the text the content hash is computed from,
        with that hash."""
        return cls(
            order_id=content.order_id,
            enterprise_id=content.payer.enterprise_id,
            payer_account=content.payer.account,
            payer_name=content.payer.name,
            payee_bank_code=content.payee.bank_code,
            payee_account=content.payee.account,
            payee_name=content.payee.name,
            amount=content.amount,
            currency=content.currency,
            bank=content.bank,
            purpose=content.purpose,
            content_hash=content.content_hash(),
        )

    def summary(self) -> dict[str, str | None]:
        """What every event about the payment repeats of it."""
        return {
            "order_id": self.order_id or None,
            "enterprise_id": self.enterprise_id or None,
            "amount": self.amount or None,
            "currency": self.currency or None,
        }

    @property
    def amount_value(self) -> Decimal | None:
        return Decimal(self.amount) if self.amount else None

    def parsed(self) -> PaymentContent:
        """The content parsed from the stored text. Parsing normalises (amounts formatted,
        whitespace stripped), so this alone does not say the stored text is canonical: use
        :meth:`check` for what may be shown or acted on."""
        return PaymentContent.model_validate(self._as_fields())

    def _as_fields(self) -> dict[str, object]:
        return {
            "order_id": self.order_id,
            "payer": {
                "enterprise_id": self.enterprise_id,
                "account": self.payer_account,
                "name": self.payer_name,
            },
            "payee": {
                "bank_code": self.payee_bank_code,
                "account": self.payee_account,
                "name": self.payee_name,
            },
            "amount": self.amount,
            "currency": self.currency,
            "bank": self.bank,
            "purpose": self.purpose,
        }

    def check_requested(self) -> RequestedContent:
        """The content of a platform's request (its bank may be missing), verified as
        :meth:`check` verifies a complete content: it hashes to the hash frozen at the
        request, and each stored field is exactly its canonical text."""
        try:
            content: RequestedContent | None = RequestedContent.model_validate(self._as_fields())
        except ValidationError:
            content = None
        if (
            content is None
            or content.content_hash() != self.content_hash
            or StoredContent.of(content) != self
        ):
            raise Refusal(
                ReasonCode.CONTENT_MISMATCH, "payment content differs from what was requested"
            )
        return content

    def check(self, expected_hash: str | None = None) -> PaymentContent:
        """The content, verified: refused unless the stored text hashes to the hash frozen at
        apply (and to the hash the previous stage handed on) *and* each stored field is
        exactly its canonical text. Without the second check someone who can write Redis
        could store "1.25E+3" or " DE0012345678", which parse to the same content and hash,
        and have that text shown or sent to clearing. Show and send only what this returns."""
        content = _verified(self)
        if content is None or (expected_hash is not None and expected_hash != self.content_hash):
            raise Refusal(
                ReasonCode.CONTENT_MISMATCH, "payment content differs from what was confirmed"
            )
        return content


@functools.lru_cache(maxsize=1024)
def _verified(stored: StoredContent) -> PaymentContent | None:
    """The content if the stored text parses, hashes to its frozen hash and is exactly its
    canonical text; else None. A pure function of the exact stored text (the key): a
    payment is checked at every stage and by every decision, and each text once per process
    (a bounded cache; any other text, however alike, is checked on its own)."""
    try:
        content: PaymentContent | None = stored.parsed()
    except ValidationError:
        return None
    if content is None or content.content_hash() != stored.content_hash:
        return None
    if StoredContent.of(content) != stored:
        return None
    return content


class HasContent(Protocol):
    """What holds a stored content: a :class:`~shared.domain.payment.Payment` (named so, this
    module needs nothing of the payment's)."""

    @property
    def content(self) -> StoredContent: ...


def content_of(payment: HasContent) -> PaymentContent:
    """The payment's content parsed, not verified (see :meth:`StoredContent.parsed`)."""
    return payment.content.parsed()


def check_content(payment: HasContent, expected_hash: str | None = None) -> PaymentContent:
    """The payment's content, verified (see :meth:`StoredContent.check`)."""
    return payment.content.check(expected_hash)
