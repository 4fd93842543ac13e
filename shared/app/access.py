"""People's access, as operators and people change it: login, logout, disabling, enabling,
revoking sessions and unlocking. Entrypoints (the CLI) call these and only print.

What each stage checks at every command is :func:`shared.app.guard.authenticate`.
"""

from __future__ import annotations

import structlog

from shared.app.deps import Deps
from shared.redis.throttle import loggable
from shared.security.session_tokens import Session

log = structlog.get_logger()


def login(
    deps: Deps, username: str, password: str, client: str | None = None
) -> tuple[str, Session] | None:
    """A new session for the right password of an active, unlocked user; else None, and
    never a word about which of these failed.

    ``client`` names where the attempt comes from (the HTTP API's remote address, the
    CLI's host). Too many failures lately for the username or from the client, and the
    attempt is refused (:class:`shared.redis.throttle.Throttled`, ``rate_limited``) before the
    password is checked (:mod:`shared.redis.throttle`)."""
    deps.logins.begin(username, client)
    user = deps.directory.check_login(username, password)
    if user is None or deps.otp.is_locked(username):
        # Counted already, by begin(); never the password in the line.
        log.info("login failed", username=loggable(username), client=loggable(client))
        return None
    deps.logins.succeeded(username, client)
    return deps.sessions.issue(user.username, user.enterprise_id, user.role)


def disable(deps: Deps, username: str) -> bool:
    """The user can no longer log in, and every stage refuses their live sessions at once.
    False if there is no such user."""
    return deps.directory.set_active(username, False)


def enable(deps: Deps, username: str) -> bool:
    """The user may log in again; sessions from before stay ended. False if unknown; a
    record that fails its integrity check raises (it is never re-sealed)."""
    if deps.directory.verified_user(username) is None:
        return False
    # Revoke first, so that at no moment are the old sessions of an enabled user live.
    deps.sessions.revoke_user(username)
    return deps.directory.set_active(username, True)


def revoke_sessions(deps: Deps, username: str) -> bool:
    """End every session of the user now, in every worker. False if unknown."""
    if deps.directory.user(username) is None:
        return False
    deps.sessions.revoke_user(username)
    return True


def unlock(deps: Deps, username: str) -> bool:
    """Clear the user's failed-code count and lock, lift a login lockout, and end every
    session opened before. False if unknown.

    The lock may be what stopped someone holding a stolen session (guessing codes with it
    is what locks a user); unlocking must not hand that session back, so the user logs in
    afresh, as after ``enable``."""
    if deps.directory.user(username) is None:
        return False
    # Revoke first, so that at no moment is an old session of an unlocked user live.
    deps.sessions.revoke_user(username)
    deps.otp.unlock(username)
    deps.logins.reset(username)
    return True
