"""Who may act (shared.app.guard.authenticate): a live session of an active, unlocked user,
then
the role and the enterprise; only a use admitted after every check keeps the session alive."""

from __future__ import annotations

import pytest

from shared.app.guard import admit, authenticate
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import User
from tests.unit.support import OTHER_ENTERPRISE, PAYER, World, wrong_code

IDLE = 300


def refused(world: World, token: str, role: str = "applicant", payer: str = PAYER) -> ReasonCode:
    with pytest.raises(Refusal) as raised:
        authenticate(world.deps, token, role, payer)
    return raised.value.reason_code


def lock(world: World, user: User) -> None:
    bad = wrong_code(user.totp_secret, world.clock())
    for _ in range(world.deps.settings.otp_max_failures):
        with pytest.raises(Refusal):
            world.deps.otp.verify(user.username, user.totp_secret, bad)


def test_a_live_session_of_the_right_role_and_enterprise_is_the_user(world: World) -> None:
    person = authenticate(world.deps, world.session(world.applicant), "applicant", PAYER)
    assert person.user == world.applicant


def test_an_admitted_use_keeps_the_session_alive_once_its_change_is_made(world: World) -> None:
    """The use is made by the atomic write that commits the command (the create here)."""
    token = world.session(world.applicant)
    for n in range(2):
        world.clock.advance(IDLE - 1)
        outcome = world.apply(session=token, request_id=f"req-{n}", order_id=f"ORD-{n}")
        assert outcome.outcome == "accepted", outcome
    world.clock.advance(IDLE - 1)
    assert authenticate(world.deps, token, "applicant", PAYER).user == world.applicant


def test_an_admitted_use_whose_change_is_not_made_does_not_keep_the_session_alive(
    world: World,
) -> None:
    token = world.session(world.applicant)
    world.clock.advance(IDLE - 1)
    use = admit(world.deps, authenticate(world.deps, token, "applicant", PAYER))
    assert use.username == world.applicant.username
    world.clock.advance(1)
    assert refused(world, token) is ReasonCode.SESSION_EXPIRED


def test_authenticating_alone_does_not_keep_the_session_alive(world: World) -> None:
    """Only a command that passed every check (the one-time code and the stage's rules too)
    restarts the idle timeout; the handler admits it right before its commit."""
    token = world.session(world.applicant)
    world.clock.advance(IDLE - 1)
    authenticate(world.deps, token, "applicant", PAYER)
    world.clock.advance(1)
    assert refused(world, token) is ReasonCode.SESSION_EXPIRED


def test_a_session_idle_for_the_timeout_is_refused_as_expired(world: World) -> None:
    token = world.session(world.applicant)
    world.clock.advance(IDLE)
    assert refused(world, token) is ReasonCode.SESSION_EXPIRED


def test_a_refused_use_does_not_keep_the_session_alive(world: World) -> None:
    token = world.session(world.applicant)
    world.clock.advance(IDLE - 1)
    assert refused(world, token, role="reviewer") is ReasonCode.WRONG_ROLE
    assert refused(world, token, payer=OTHER_ENTERPRISE) is ReasonCode.WRONG_ENTERPRISE
    world.clock.advance(1)
    assert refused(world, token) is ReasonCode.SESSION_EXPIRED


def test_a_logged_out_session_is_refused_as_revoked(world: World) -> None:
    token = world.session(world.applicant)
    world.deps.sessions.revoke(token)
    assert refused(world, token) is ReasonCode.SESSION_REVOKED


def test_revoking_a_user_refuses_each_of_their_sessions(world: World) -> None:
    tokens = [world.session(world.applicant) for _ in range(3)]
    reviewer = world.session(world.reviewer)
    world.deps.sessions.revoke_user(world.applicant.username)
    assert [refused(world, t) for t in tokens] == [ReasonCode.SESSION_REVOKED] * 3
    assert authenticate(world.deps, reviewer, "reviewer", PAYER).user == world.reviewer


def test_a_disabled_users_live_session_is_refused_at_once(world: World) -> None:
    token = world.session(world.applicant)
    authenticate(world.deps, token, "applicant", PAYER)
    world.deps.directory.set_active(world.applicant.username, False)
    assert refused(world, token) is ReasonCode.USER_LOCKED


def test_a_locked_users_live_session_is_refused_at_once(world: World) -> None:
    token = world.session(world.applicant)
    lock(world, world.applicant)
    assert refused(world, token) is ReasonCode.USER_LOCKED


def test_the_users_state_is_checked_before_the_role_and_the_enterprise(world: World) -> None:
    """So that wrong_role and wrong_enterprise (shown to people as they are) never reach
    someone whose authentication failed."""
    token = world.session(world.applicant)
    world.deps.directory.set_active(world.applicant.username, False)
    assert refused(world, token, role="reviewer") is ReasonCode.USER_LOCKED
    assert refused(world, token, payer=OTHER_ENTERPRISE) is ReasonCode.USER_LOCKED


def test_the_session_record_is_checked_before_the_role_and_the_enterprise(world: World) -> None:
    token = world.session(world.applicant)
    world.deps.sessions.revoke(token)
    assert refused(world, token, role="reviewer") is ReasonCode.SESSION_REVOKED
    assert refused(world, token, payer=OTHER_ENTERPRISE) is ReasonCode.SESSION_REVOKED


def test_an_unlocked_user_may_act_again(world: World) -> None:
    token = world.session(world.applicant)
    lock(world, world.applicant)
    world.deps.otp.unlock(world.applicant.username)
    assert authenticate(world.deps, token, "applicant", PAYER).user == world.applicant
