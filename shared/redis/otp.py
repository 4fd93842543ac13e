"""RFC 6238 TOTP checks: +-1 step at most, each code once per user, lockout after failures.

The bookkeeping is one Lua script per check, so two workers checking codes of the same user
at the same moment can neither both accept one code nor lose a failure count.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import pyotp
import redis
from redis.client import Pipeline

from shared.domain.errors import ReasonCode, Refusal
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.ocra import STEP_SECONDS as STEP_SECONDS  # the one step, re-exported
from shared.security.ocra import code_at_step

#: Added to the refusal of a failed code that leaves the user one more try: the person is
#: warned before the attempt that locks them out. It speaks of their own lock, not of which
#: factor failed, so entrypoints may show it (see :mod:`shared.security.disclosure`).
LAST_ATTEMPT_WARNING = "1 attempt left before the user is locked"
_SCRIPT = resources.files("shared.redis").joinpath("otp.lua").read_text()


class OtpVerifier:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        max_failures: int = 5,
        valid_window: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._max_failures = max_failures
        self._window = valid_window
        self._clock = clock
        self._script = client.register_script(_SCRIPT)

    def matching_step(self, secret: str, code: str, challenge: str | None = None) -> int:
        """The step within the window whose code equals ``code`` (constant-time), or -1.

        Without ``challenge`` the code is a TOTP code; with one, it is the OCRA response to
        that challenge (:mod:`shared.security.ocra`), whose steps are counted the same way."""
        now = self._clock()
        totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
        current = int(now) // STEP_SECONDS
        matched = -1
        for offset in range(-self._window, self._window + 1):
            if challenge is None:
                expected = totp.at(now, counter_offset=offset)
            else:
                expected = code_at_step(secret, challenge, current + offset)
            if hmac.compare_digest(expected.encode(), code.encode()):
                matched = current + offset
        return matched

    def verify(
        self,
        username: str,
        secret: str,
        code: str,
        purpose: str = "",
        challenge: str | None = None,
    ) -> None:
        """Accept the code once, or raise a :class:`Refusal` (invalid, replayed, locked).

        ``purpose`` names what the code is spent on: the same code shown again for the same
        purpose (two deliveries of one idempotent request racing) is accepted, so that the
        atomic create, not the code check, decides which of them wins. With ``challenge``
        the code must be the OCRA response to it (dynamic linking); the bookkeeping (one
        code per user and step, failures, lock) is the same either way."""
        matched = self.matching_step(secret, code, challenge)
        reply = self._script(
            keys=[self._keys.otp_state(username)], args=[matched, self._max_failures, purpose]
        )
        outcome = as_text(reply[0])
        if outcome == "ok":
            return
        failures = int(reply[1])
        if outcome == "locked" or failures >= self._max_failures:
            raise Refusal(ReasonCode.USER_LOCKED, "too many failed one-time codes; user locked")
        warning = f"; {LAST_ATTEMPT_WARNING}" if self._max_failures - failures == 1 else ""
        if outcome == "replayed":
            raise Refusal(ReasonCode.OTP_REPLAYED, f"one-time code was already used{warning}")
        raise Refusal(ReasonCode.OTP_INVALID, f"one-time code is not valid{warning}")

    def is_locked(self, username: str) -> bool:
        return self.locked_in(self._redis.hget(self._keys.otp_state(username), "locked"))

    def read_locked(self, pipe: Pipeline, username: str) -> None:
        """Queue the read :meth:`locked_in` answers from (to share a round trip)."""
        pipe.hget(self._keys.otp_state(username), "locked")

    @staticmethod
    def locked_in(reply: Any) -> bool:
        return bool(reply == b"1" or reply == "1")

    def unlock(self, username: str) -> None:
        self._redis.hset(self._keys.otp_state(username), mapping={"locked": 0, "failures": 0})


def code_for(secret: str, at: float | None = None) -> str:
    """The current code of a TOTP secret: what the user's token shows (demo and tests)."""
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    return str(totp.at(at if at is not None else time.time()))
