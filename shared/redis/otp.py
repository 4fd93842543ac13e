"""RFC 6238 TOTP checks: +-1 step at most, each code once per user, lockout after failures.

Which step a code belongs to is :mod:`shared.security.totp`'s arithmetic; the bookkeeping
here is one Lua script per check, so two workers checking codes of the same user
at the same moment can neither both accept one code nor lose a failure count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import redis
from redis.client import Pipeline

from shared.domain.errors import ReasonCode, Refusal
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.totp import LAST_ATTEMPT_WARNING, matching_step

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
        """The step within the window whose code equals ``code``, or -1
        (:func:`shared.security.totp.matching_step`, at this verifier's clock)."""
        return matching_step(secret, code, self._clock(), self._window, challenge)

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
