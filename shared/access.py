"""People's access, as operators and people change it: login, logout, disabling, enabling,
revoking sessions and unlocking. Entrypoints (the CLI) call these and only print.

What each stage checks at every command is :func:`shared.guard.authenticate`.
"""

from __future__ import annotations

from shared.bootstrap import Deps
from shared.sessions import Session


def login(deps: Deps, username: str, password: str) -> tuple[str, Session] | None:
    """A new session for the right password of an active, unlocked user; else None, and
    never a word about which of these failed."""
    user = deps.directory.check_login(username, password)
    if user is None or deps.otp.is_locked(username):
        return None
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
    """Clear the user's failed-code count and lock. False if unknown.

    That is all the lock state there is: sessions keep none of their own (a locked user's
    sessions are refused because the user is locked, and work again once unlocked, unless
    they ended meanwhile)."""
    if deps.directory.user(username) is None:
        return False
    deps.otp.unlock(username)
    return True
