"""The one list of names that mark a secret, for the places that keep or print what others
sent: log lines (:mod:`shared.logging`) and dead letters (:mod:`shared.redis.deadletter`).

Contracts carry secrets as ``SecretStr``; this list is the second line of defence for
everything that is not (yet) a contract: a raw message, a log call's keyword arguments.
"""

from __future__ import annotations

#: A key containing any of these (in any case) names a secret: ``session_token``, ``OTP``,
#: ``Password``, ``client_secret``, ``totp_secret``, ``auth_code`` ...
SECRET_NAME_PARTS = ("session", "token", "otp", "password", "secret", "code")
#: Fields of b2bpay's own contracts that match a part above but hold no secret; kept so a
#: dead letter or a log line still says where a payment was going and why it was refused.
#: Exact names only: ``Bank_Code`` or ``bank_code2`` are secrets like any other.
NOT_SECRET_FIELDS = frozenset({"bank_code", "reason_code"})


def is_secret_name(key: object) -> bool:
    """Whether ``key`` names a secret (see :data:`SECRET_NAME_PARTS`)."""
    if not isinstance(key, str):
        return False
    if key in NOT_SECRET_FIELDS:
        return False
    folded = key.casefold()
    return any(part in folded for part in SECRET_NAME_PARTS)
