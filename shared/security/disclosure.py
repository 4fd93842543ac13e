"""What a person is told about a refused command.

PSD2 RTS Art. 4(3)(a): when authentication fails, nothing may say which of its elements was
wrong. Entrypoints (the CLI, an HTTP API) show every refusal about authentication as one
generic ``authentication_failed``; the stage's refusal event keeps the precise code, for
operators and the audit.

Not among them: ``wrong_role`` and ``wrong_enterprise``. A stage decides those only after the
session, the user's state (active, not locked) and the session record all passed, and before
any one-time code is looked at, so they tell a person who is already authenticated what they
may not do, never which factor failed.
"""

from __future__ import annotations

from shared.domain.errors import ReasonCode
from shared.security.totp import LAST_ATTEMPT_WARNING

AUTHENTICATION_FAILED = "authentication_failed"
GENERIC_REASON = "authentication failed: check your session and one-time code"

#: The refusals shown to people as :data:`AUTHENTICATION_FAILED`.
AUTHENTICATION_CODES = frozenset(
    {
        ReasonCode.SESSION_INVALID,
        ReasonCode.SESSION_EXPIRED,
        ReasonCode.SESSION_REVOKED,
        ReasonCode.OTP_INVALID,
        ReasonCode.OTP_REPLAYED,
        ReasonCode.USER_LOCKED,
        ReasonCode.USER_RECORD_INVALID,
    }
)


def for_person(reason_code: str | None, reason: str | None) -> tuple[str | None, str | None]:
    """The reason code and reason to show a person for a refusal: the generic one for an
    authentication failure (keeping a warning that the next failure locks the user), else
    the refusal's own."""
    if reason_code not in AUTHENTICATION_CODES:
        return reason_code, reason
    if reason and LAST_ATTEMPT_WARNING in reason:
        return AUTHENTICATION_FAILED, f"{GENERIC_REASON}; {LAST_ATTEMPT_WARNING}"
    return AUTHENTICATION_FAILED, GENERIC_REASON
