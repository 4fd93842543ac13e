"""Dynamic linking (PSD2 RTS Art. 5): the authorizer's one-time code is bound to the payment.

The challenge of a payment is

    SHA-256( "b2bpay.auth-challenge.v1" LF payment_id LF content_hash )   as 64 hex digits

where ``content_hash`` is the hash frozen at apply (SHA-256 over the canonical JSON of the
payment content: payer, payee bank/account/name, amount, currency, bank, order, purpose; see
:meth:`shared.domain.contracts.PaymentContent.content_hash`). The authorizer's code is the OCRA
response (:mod:`shared.security.ocra`) of their token to that challenge in the current 30-second
step. So a code made for one payment is not valid for another (another payment id), nor for
the same payment once its amount, currency or payee changed (another content hash); the
payment id is in the challenge too, so two payments with equal content still get different
challenges.

``b2bpay challenge PAYMENT_ID`` shows the challenge with the amount, currency and payee it
stands for, taken from the content verified against that content hash (refused as
``content_mismatch`` if the stored fields are not exactly what the hash covers);
``b2bpay otp --challenge C`` is the token emulator that answers it.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from shared.domain.content import check_content
from shared.domain.payment import Payment
from shared.security.ocra import SUITE, code_for_challenge
from shared.security.totp import code_for

_DOMAIN = "b2bpay.auth-challenge.v1"


class AuthorizerOtp(StrEnum):
    """How the authorizer's one-time code is checked (setting ``B2BPAY_AUTHORIZER_OTP``)."""

    #: OCRA, bound to the payment's challenge (dynamic linking); the default.
    OCRA = "ocra"
    #: Plain TOTP, bound to nothing but time (no dynamic linking).
    TOTP = "totp"


def is_linked(mode: AuthorizerOtp | str) -> bool:
    """Whether the authorizer's code is bound to the payment in this mode."""
    return AuthorizerOtp(mode) == AuthorizerOtp.OCRA


def challenge_for(payment_id: str, content_hash: str) -> str:
    """The authorizer's challenge for a payment: 64 hexadecimal digits (see module doc)."""
    text = f"{_DOMAIN}\n{payment_id}\n{content_hash}"
    return hashlib.sha256(text.encode()).hexdigest()


def challenge_of(payment: Payment) -> str:
    return challenge_for(payment.payment_id, payment.content.content_hash)


def authorizer_code(
    mode: AuthorizerOtp | str, secret: str, payment: Payment, at: float | None = None
) -> str:
    """What an authorizer's token shows for ``payment`` in ``mode`` (demo and tests)."""
    if not is_linked(mode):
        return code_for(secret, at)
    return code_for_challenge(secret, challenge_of(payment), at)


def what_is_signed(payment: Payment, mode: AuthorizerOtp | str) -> dict[str, str | None]:
    """What the authorizer is shown before they answer the challenge: the challenge and the
    amount, currency and payee it stands for, taken only from the content verified against
    the content hash the challenge commits to. Raises :class:`shared.domain.errors.Refusal`
    (``content_mismatch``) rather than show stored fields the hash does not cover: someone
    who can write Redis could otherwise show one amount while the code signs another."""
    content = check_content(payment)
    linked = is_linked(mode)
    return {
        "payment_id": payment.payment_id,
        "status": payment.status.value,
        "amount": content.amount,
        "currency": content.currency,
        "payee_name": content.payee.name,
        "payee_account": content.payee.account,
        "payee_bank_code": content.payee.bank_code,
        "order_id": content.order_id,
        "content_hash": content.content_hash(),
        "mode": AuthorizerOtp(mode).value,
        "suite": SUITE if linked else None,
        "challenge": challenge_for(payment.payment_id, content.content_hash()) if linked else None,
    }
