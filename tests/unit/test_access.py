"""People's access as operators change it (shared.app.access): login, disable, enable, revoke,
unlock, each seen by the stages at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.app import access
from shared.app.deps import Deps
from shared.app.guard import authenticate
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import User
from tests.unit.support import PAYER, World, wrong_code

PASSWORD = "alice-password"  # as enrolled by the world fixture


def refused(world: World, token: str) -> ReasonCode:
    with pytest.raises(Refusal) as raised:
        authenticate(world.deps, token, "applicant", PAYER)
    return raised.value.reason_code


def lock(world: World, user: User) -> None:
    bad = wrong_code(user.totp_secret, world.clock())
    for _ in range(world.deps.settings.otp_max_failures):
        with pytest.raises(Refusal):
            world.deps.otp.verify(user.username, user.totp_secret, bad)


def test_login_with_the_right_password_opens_a_live_session(world: World) -> None:
    opened = access.login(world.deps, "alice", PASSWORD)
    assert opened is not None
    token, session = opened
    assert (session.username, session.role, session.enterprise_id) == ("alice", "applicant", PAYER)
    assert authenticate(world.deps, token, "applicant", PAYER).user == world.applicant


def test_login_is_refused_alike_for_a_wrong_password_an_unknown_user_a_disabled_and_a_locked_one(
    world: World,
) -> None:
    assert access.login(world.deps, "alice", "wrong password") is None
    assert access.login(world.deps, "ghost", PASSWORD) is None
    access.disable(world.deps, "alice")
    assert access.login(world.deps, "alice", PASSWORD) is None
    access.enable(world.deps, "alice")
    lock(world, world.applicant)
    assert access.login(world.deps, "alice", PASSWORD) is None
    access.unlock(world.deps, "alice")
    assert access.login(world.deps, "alice", PASSWORD) is not None


def test_disabling_refuses_the_users_live_sessions_at_once(world: World) -> None:
    token = world.session(world.applicant)
    assert access.disable(world.deps, "alice")
    assert refused(world, token) is ReasonCode.USER_LOCKED


def test_enabling_does_not_bring_back_the_sessions_from_before(world: World) -> None:
    token = world.session(world.applicant)
    access.disable(world.deps, "alice")
    assert access.enable(world.deps, "alice")
    assert refused(world, token) is ReasonCode.SESSION_REVOKED
    opened = access.login(world.deps, "alice", PASSWORD)
    assert opened is not None
    assert authenticate(world.deps, opened[0], "applicant", PAYER).user == world.applicant


def test_revoking_ends_every_session_of_the_user_who_may_log_in_again(world: World) -> None:
    tokens = [world.session(world.applicant) for _ in range(2)]
    assert access.revoke_sessions(world.deps, "alice")
    assert [refused(world, t) for t in tokens] == [ReasonCode.SESSION_REVOKED] * 2
    assert access.login(world.deps, "alice", PASSWORD) is not None


def test_unlocking_clears_the_lock_and_the_failure_count(world: World) -> None:
    lock(world, world.applicant)
    assert access.unlock(world.deps, "alice")
    assert not world.deps.otp.is_locked("alice")
    bad = wrong_code(world.applicant.totp_secret, world.clock())
    with pytest.raises(Refusal) as raised:
        world.deps.otp.verify("alice", world.applicant.totp_secret, bad)
    assert raised.value.reason_code is ReasonCode.OTP_INVALID


def test_unlocking_does_not_revive_a_session_opened_before_the_lock(world: World) -> None:
    # The lock may be what stopped a thief holding the session; unlocking must not hand
    # it back to them. The user logs in afresh.
    stolen = world.session(world.applicant)
    lock(world, world.applicant)
    assert refused(world, stolen) is ReasonCode.USER_LOCKED
    assert access.unlock(world.deps, "alice")
    assert refused(world, stolen) is ReasonCode.SESSION_REVOKED
    opened = access.login(world.deps, "alice", PASSWORD)
    assert opened is not None
    assert authenticate(world.deps, opened[0], "applicant", PAYER).user == world.applicant


@pytest.mark.parametrize(
    "change", [access.disable, access.enable, access.revoke_sessions, access.unlock]
)
def test_changing_an_unknown_users_access_changes_nothing(
    world: World, change: Callable[[Deps, str], bool]
) -> None:
    before = sorted(world.deps.redis.keys("*"))
    assert change(world.deps, "ghost") is False
    assert sorted(world.deps.redis.keys("*")) == before
