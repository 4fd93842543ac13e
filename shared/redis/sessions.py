"""Sessions: signed, expiring tokens bound to user, enterprise and role, each with a record in
Redis that must still be live.

The token (:class:`~shared.security.session_tokens.SessionSigner`) proves who logged in and
until when at the latest. The record (:class:`Sessions`) makes a session end early: after
``idle_seconds`` without a successful use (PSD2 RTS Art. 4(3)(d)), at logout, or when an
administrator revokes the user's sessions. Every change of a record is one Lua script
(``shared/redis/session.lua``), so all workers see one truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.client import Pipeline

from shared.domain.errors import ReasonCode, Refusal
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.session_tokens import Session, SessionSigner

#: The check and the use of a session record, as Lua functions (also in the transition).
SESSION_USE_LUA = resources.files("shared.redis").joinpath("session_use.lua").read_text()
_SCRIPT = SESSION_USE_LUA + resources.files("shared.redis").joinpath("session.lua").read_text()


@dataclass(frozen=True)
class SessionUse:
    """A successful use of a session, made by the atomic call that commits what it admits
    (:mod:`shared.redis.store`): the record is checked there again, and its idle timeout
    restarts only if the change is made (``session_use.lua``)."""

    record_key: str
    epoch_key: str
    #: The caller's clock, in seconds, as text (what the record's ``last_used`` becomes).
    now: str
    idle_seconds: int
    username: str


class Sessions:
    """Sessions with a server-side record: issued at login, refused once the record is gone
    (idle too long) or revoked. Shared by every worker through Redis. Time is the signer's
    clock (tests pass one they move by hand)."""

    def __init__(
        self, client: redis.Redis, keys: Keys, signer: SessionSigner, idle_seconds: int
    ) -> None:
        if idle_seconds <= 0:
            raise ValueError("the idle timeout must be positive")
        self._redis = client
        self._keys = keys
        self._signer = signer
        self._idle = idle_seconds
        self._script = client.register_script(_SCRIPT)

    @property
    def idle_seconds(self) -> int:
        return self._idle

    def _call(self, mode: str, session: Session) -> tuple[list[str], list[Any]]:
        keys = [self._keys.session(session.session_id), self._keys.session_epoch(session.username)]
        args: list[Any] = [
            mode,
            repr(self._signer.clock()),
            self._idle,
            session.username,
            session.expires_at,
        ]
        return keys, args

    def _run(self, mode: str, session: Session) -> str:
        keys, args = self._call(mode, session)
        return as_text(self._script(keys=keys, args=args))

    def issue(self, username: str, enterprise_id: str, role: str) -> tuple[str, Session]:
        """A new session (at login): a signed token and its live record."""
        token, session = self._signer.issue(username, enterprise_id, role)
        self._run("open", session)
        return token, session

    def verify(self, token: str) -> Session:
        """The live session a token stands for, without counting this as a use: refuses
        forged, expired, idle, logged-out and revoked sessions."""
        session = self._signer.verify(token)
        self._refuse_unless_ok(self._run("check", session))
        return session

    def verify_reading(
        self, token: str, reads: Callable[[Pipeline, Session], None]
    ) -> tuple[Session, list[Any]]:
        """:meth:`verify`, and the reads ``reads`` queues for the session's user, in the same
        round trip: the replies of those reads, once the session is known to be live. The
        reads run whether or not it is (reading is harmless); nothing they return is used
        for a session that is refused."""
        session = self._signer.verify(token)
        keys, args = self._call("check", session)
        pipe = self._redis.pipeline(transaction=False)
        # Not the Script object: in a pipeline it would ask SCRIPT EXISTS every time.
        pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        reads(pipe, session)
        replies = pipe.execute(raise_on_error=False)
        outcome = replies[0]
        if isinstance(outcome, redis.exceptions.NoScriptError):
            # Redis lost its scripts (a restart): the Script object loads it again.
            outcome = self._run("check", session)
        elif isinstance(outcome, Exception):
            raise outcome
        self._refuse_unless_ok(as_text(outcome))
        for reply in replies[1:]:
            if isinstance(reply, Exception):
                raise reply
        return session, replies[1:]

    def claimed_user(self, token: str) -> str | None:
        """The username a token names if its MAC verifies, expired or ended or not: a claim
        to record (unverified) for the audit trail, never to act on. None for a forged or
        malformed token: nothing of it is believed."""
        try:
            return self._signer.decode(token).username
        except Refusal:
            return None

    def use(self, session: Session) -> SessionUse:
        """:meth:`refresh`, to be made by the atomic write the use admits."""
        keys, args = self._call("touch", session)
        return SessionUse(keys[0], keys[1], args[1], self._idle, session.username)

    def refresh(self, session: Session) -> None:
        """A successful use: the idle timeout starts again. Refuses a session that ended
        since it was verified (the check and the refresh are one atomic step)."""
        self._refuse_unless_ok(self._run("touch", session))

    def revoke(self, token: str) -> bool:
        """Logout: the session is refused from now on. False if it had already ended;
        refuses a forged token."""
        session = self._signer.decode(token)
        if self._signer.clock() >= session.expires_at:
            return False
        return self._run("revoke", session) == "ok"

    def revoke_user(self, username: str) -> None:
        """Revoke every session of ``username`` opened so far, in every worker at once."""
        self._redis.incr(self._keys.session_epoch(username))

    @staticmethod
    def refuse_unless_ok(outcome: str) -> None:
        """Raise the refusal a session check's outcome (``session_use.lua``) stands for."""
        Sessions._refuse_unless_ok(outcome)

    @staticmethod
    def _refuse_unless_ok(outcome: str) -> None:
        if outcome == "ok":
            return
        if outcome == "revoked":
            raise Refusal(ReasonCode.SESSION_REVOKED, "session was ended (logout or revoked)")
        if outcome == "expired":
            raise Refusal(
                ReasonCode.SESSION_EXPIRED, "session ended after a time without use; log in again"
            )
        raise Refusal(ReasonCode.SESSION_INVALID, "session does not match its record")
