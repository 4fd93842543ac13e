"""Login throttling: repeated failed logins for a username, or from a client, are refused
for a while (``rate_limited``), counted in Redis and so across every process.

Policy (settings ``B2BPAY_LOGIN_*``): more than ``login_max_failures`` failed attempts for
one username within ``login_window_seconds`` (counted from the first failure of a run), or
more than ``login_client_max_failures`` from one client, and every further attempt for that
username (or from that client) is refused for ``login_lockout_seconds``, without the
password even being checked: the answer is the same whatever the password. A success ends
the username's run; it does not clear the client's count (else one good account would let a
client guess others' passwords without end). Unknown usernames are counted exactly like
known ones, so the refusal does not tell whether a username exists.

There is no progressive slow-down: a refusal costs the server nothing, where sleeping would
hold a worker (and the attacker simply runs attempts in parallel). What this does *not*
prevent: anyone may keep a known username locked out by failing on purpose (a denial of
service against that person; ``b2bpay admin unlock`` lifts it), and an attacker with many
clients gets ``login_client_max_failures`` tries from each, still at most
``login_max_failures`` per username per lockout.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from importlib import resources

import redis
import structlog

from shared.config import Settings
from shared.domain.contracts import is_visible_text
from shared.domain.errors import ReasonCode, Refusal
from shared.redis.keys import Keys
from shared.redis.replies import as_text

_SCRIPT = resources.files("shared.redis").joinpath("throttle.lua").read_text()
log = structlog.get_logger()


class Throttled(Refusal):
    """Raised when a login is refused for too many recent failed logins (``rate_limited``)."""

    def __init__(self, retry_after_seconds: int) -> None:
        minutes = max(1, math.ceil(retry_after_seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(
            ReasonCode.RATE_LIMITED, f"too many failed logins; try again in {minutes} {unit}"
        )
        self.retry_after_seconds = retry_after_seconds


def _digest(subject: str) -> str:
    # surrogatepass: a username from argv may carry undecodable bytes as lone surrogates.
    return hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()


def loggable(text: str | None) -> str | None:
    """A name someone typed, safe for a log line read on a terminal."""
    return text if text is None or is_visible_text(text) else ascii(text)


class LoginThrottle:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        max_failures: int = 5,
        client_max_failures: int = 20,
        window_seconds: int = 900,
        lockout_seconds: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._limits = (max_failures, client_max_failures)
        self._window = window_seconds
        self._lockout = lockout_seconds
        self._clock = clock
        self._script = client.register_script(_SCRIPT)

    @classmethod
    def from_settings(
        cls,
        client: redis.Redis,
        keys: Keys,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> LoginThrottle:
        return cls(
            client,
            keys,
            settings.login_max_failures,
            settings.login_client_max_failures,
            settings.login_window_seconds,
            settings.login_lockout_seconds,
            clock,
        )

    def _subjects(self, username: str, client: str | None) -> list[str]:
        subjects = [self._keys.login_failures("user", _digest(username))]
        if client is not None:
            subjects.append(self._keys.login_failures("client", _digest(client)))
        return subjects

    def _run(self, mode: str, username: str, client: str | None) -> list[str]:
        reply = self._script(
            keys=self._subjects(username, client),
            args=[mode, repr(self._clock()), self._window, self._lockout, *self._limits],
        )
        return [as_text(part) for part in reply]

    def begin(self, username: str, client: str | None = None) -> None:
        """Count a login attempt before its password is checked (as a failure, until
        :meth:`succeeded` says otherwise); raises :class:`Throttled` if the username or the
        client may not try now."""
        reply = self._run("begin", username, client)
        if reply[0] == "ok":
            return
        retry_after = int(reply[1])
        log.warning(
            "login throttled",
            username=loggable(username),
            client=loggable(client),
            reason_code=ReasonCode.RATE_LIMITED.value,
            retry_after_seconds=retry_after,
        )
        raise Throttled(retry_after)

    def succeeded(self, username: str, client: str | None = None) -> None:
        """The attempt begun was a success: the username's run of failures ends."""
        self._run("success", username, client)

    def reset(self, username: str) -> None:
        """Forget the username's failures and lift its lockout (an administrator's unlock)."""
        self._redis.delete(self._keys.login_failures("user", _digest(username)))
