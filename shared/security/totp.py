"""RFC 6238 TOTP arithmetic: the code a token shows at a moment, and which step of a window a
given code belongs to. Pure: the bookkeeping that lets each code count once per user, with a
lockout after failures, lives on Redis (:class:`shared.redis.otp.OtpVerifier`).
"""

from __future__ import annotations

import hmac
import time

import pyotp

from shared.security.ocra import STEP_SECONDS as STEP_SECONDS  # the one step, re-exported
from shared.security.ocra import code_at_step

#: Added to the refusal of a failed code that leaves the user one more try: the person is
#: warned before the attempt that locks them out. It speaks of their own lock, not of which
#: factor failed, so entrypoints may show it (see :mod:`shared.security.disclosure`).
LAST_ATTEMPT_WARNING = "1 attempt left before the user is locked"


def matching_step(
    secret: str, code: str, now: float, window: int, challenge: str | None = None
) -> int:
    """The step within ``window`` steps of ``now`` whose code equals ``code`` (constant-time),
    or -1.

    Without ``challenge`` the code is a TOTP code; with one, it is the OCRA response to
    that challenge (:mod:`shared.security.ocra`), whose steps are counted the same way."""
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int(now) // STEP_SECONDS
    matched = -1
    for offset in range(-window, window + 1):
        if challenge is None:
            expected = totp.at(now, counter_offset=offset)
        else:
            expected = code_at_step(secret, challenge, current + offset)
        if hmac.compare_digest(expected.encode(), code.encode()):
            matched = current + offset
    return matched


def code_for(secret: str, at: float | None = None) -> str:
    """The current code of a TOTP secret: what the user's token shows (demo and tests)."""
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    return str(totp.at(at if at is not None else time.time()))
