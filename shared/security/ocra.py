"""RFC 6287 OCRA one-time codes, computed from a user's TOTP secret.

The arithmetic is the ``oath`` package's (its OCRA passes the RFC's Appendix C test vectors,
see ``tests/unit/test_ocra.py``); this module fixes how b2bpay uses it:

- the suite is :data:`SUITE`, ``OCRA-1:HOTP-SHA256-6:QH64-T30S``: HMAC-SHA-256, 6 digits, a
  challenge of 64 hexadecimal digits (32 bytes, the size of a SHA-256 digest) and a 30-second
  time step counted like TOTP's (Unix time // 30), so an OCRA code expires like a TOTP code
  and the per-user step bookkeeping of :class:`shared.redis.otp.OtpVerifier` applies unchanged;
- the key is the user's TOTP secret (its base32 decoded bytes): one enrolment, one token,
  which shows TOTP codes and answers OCRA challenges alike.
"""

from __future__ import annotations

import re
import time

import pyotp
from oath import str2ocrasuite

from shared.domain.errors import B2bpayError

#: Seconds of one time step, for TOTP codes (:mod:`shared.security.totp`) and OCRA responses
#: alike: the one constant both count steps with (``Unix time // STEP_SECONDS``).
STEP_SECONDS = 30
SUITE = f"OCRA-1:HOTP-SHA256-6:QH64-T{STEP_SECONDS}S"
CHALLENGE_HEX_DIGITS = 64
_HEX = re.compile(rf"[0-9a-f]{{{CHALLENGE_HEX_DIGITS}}}")
_SEPARATORS = re.compile(r"[\s:-]")
_SUITE = str2ocrasuite(SUITE)


class ChallengeError(B2bpayError):
    """Raised when a challenge is not 64 hexadecimal digits."""


def normalize_challenge(text: str) -> str:
    """A challenge as typed by a person: spaces, ``-`` and ``:`` between groups are ignored,
    upper or lower case; returned as 64 lower-case hexadecimal digits."""
    challenge = _SEPARATORS.sub("", text).lower()
    if not _HEX.fullmatch(challenge):
        raise ChallengeError(f"a challenge is {CHALLENGE_HEX_DIGITS} hexadecimal digits")
    return challenge


def code_at_step(secret: str, challenge: str, step: int) -> str:
    """The OCRA response of ``secret`` (base32, a TOTP secret) to ``challenge`` at time step
    ``step``."""
    key = pyotp.TOTP(secret).byte_secret()
    # T_precomputed: the step itself. (oath's ``T=`` path fails on Python 3; not used.)
    return str(_SUITE(key, Q=normalize_challenge(challenge), T_precomputed=step))


def code_for_challenge(secret: str, challenge: str, at: float | None = None) -> str:
    """What the user's token answers to ``challenge`` now (or at ``at``): demos and tests."""
    moment = at if at is not None else time.time()
    return code_at_step(secret, challenge, int(moment) // STEP_SECONDS)
