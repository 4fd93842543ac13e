"""The error taxonomy of b2bpay.

Business refusals are final: the stage records them as a ``refusal`` event and dramatiq never
retries them. Transient faults are retried with backoff. Infrastructure errors from client
libraries are translated at the adapter, ``from None``, so nothing secret rides along.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Why a command was refused (or a payment ended), one code per distinct cause."""

    #: The message did not match its schema.
    INVALID_REQUEST = "invalid_request"
    #: The payer enterprise is unknown.
    UNKNOWN_ENTERPRISE = "unknown_enterprise"
    #: The payer enterprise may not pay online (seed step 1).
    PAYER_NOT_ELIGIBLE = "payer_not_eligible"
    #: The selected bank is unknown.
    UNKNOWN_BANK = "unknown_bank"
    #: The selected bank has no B2B payment enabled (seed step 3).
    BANK_NOT_B2B = "bank_not_b2b"
    #: The payer holds no B2B contract at the selected bank.
    NO_B2B_CONTRACT = "no_b2b_contract"
    #: The payer account does not belong to the payer enterprise.
    ACCOUNT_NOT_OWNED = "account_not_owned"
    #: Same request_id, different content.
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    #: Another live payment exists for this order (seed step 1).
    DUPLICATE_ORDER = "duplicate_order"
    #: The session token is malformed, forged or for an unknown user.
    SESSION_INVALID = "session_invalid"
    #: The session token has expired, or the session ended after a time without use.
    SESSION_EXPIRED = "session_expired"
    #: The session was ended on purpose: logout, or an administrator revoked the user's
    #: sessions (also when re-enabling a disabled user).
    SESSION_REVOKED = "session_revoked"
    #: The session's role may not perform this command at this stage.
    WRONG_ROLE = "wrong_role"
    #: The session's enterprise is not the payer.
    WRONG_ENTERPRISE = "wrong_enterprise"
    #: The user is locked after too many failed one-time codes.
    USER_LOCKED = "user_locked"
    #: Too many failed logins for this username, or from this client, lately: login is
    #: refused for a while without the password being checked.
    RATE_LIMITED = "rate_limited"
    #: The user's record fails its integrity check: changed in Redis without the server key
    #: (role, enterprise, active flag, password hash or secret), or never migrated.
    USER_RECORD_INVALID = "user_record_invalid"
    #: The one-time code is wrong.
    OTP_INVALID = "otp_invalid"
    #: The one-time code was already used.
    OTP_REPLAYED = "otp_replayed"
    #: The same person tried to act twice on one payment (segregation of duties).
    SAME_PERSON = "same_person"
    #: A person of the payer enterprise acted on a payment that is not theirs to act on: a
    #: colleague cancelling a payment another applicant made.
    WRONG_USER = "wrong_user"
    #: The command is not allowed in the payment's current state.
    ILLEGAL_TRANSITION = "illegal_transition"
    #: No such payment.
    PAYMENT_NOT_FOUND = "payment_not_found"
    #: The payment content differs from the content frozen at apply.
    CONTENT_MISMATCH = "content_mismatch"
    #: A rejection needs a reason.
    REASON_REQUIRED = "reason_required"
    #: A person acted after the payment's deadline; it has expired.
    DEADLINE_PASSED = "deadline_passed"
    #: The clearing system rejected the payment.
    CLEARING_REJECTED = "clearing_rejected"
    #: A hand-off or a stored approval is unsigned, badly signed, signed by the wrong stage,
    #: or signed for another state than the stored payment's.
    INVALID_SIGNATURE = "invalid_signature"
    #: The platform is unknown, its API key is wrong, or its record fails its integrity
    #: check (changed in Redis without the server key); told alike for all three.
    PLATFORM_INVALID = "platform_invalid"
    #: The payer enterprise is not registered with the platform that asks to create its
    #: payment.
    PAYER_NOT_REGISTERED = "payer_not_registered"
    #: The request named no bank, and the applicant's confirmation names none either.
    BANK_REQUIRED = "bank_required"
    #: The applicant's confirmation names another bank than the one the request named.
    BANK_MISMATCH = "bank_mismatch"


class B2bpayError(Exception):
    """Raised for every error b2bpay itself signals; the base of the taxonomy."""


class Refusal(B2bpayError):
    """Raised when a command is refused for a business reason; final, never retried."""

    def __init__(self, reason_code: ReasonCode, detail: str = "") -> None:
        self.reason_code = reason_code
        self.detail = detail
        super().__init__(f"{reason_code.value}: {detail}" if detail else reason_code.value)


class IllegalTransition(Refusal):
    """Raised when an action is not allowed from the payment's current status."""

    def __init__(self, current: str, action: str) -> None:
        super().__init__(ReasonCode.ILLEGAL_TRANSITION, f"cannot {action} a payment in {current}")
        self.current = current
        self.action = action


class TransientError(B2bpayError):
    """Raised when a fault may clear by itself (a connection blip, a payment not yet ready);
    the queue retries the message with backoff."""


class ConcurrentUpdate(TransientError):
    """Raised when the payment changed between read and atomic write; retried."""
