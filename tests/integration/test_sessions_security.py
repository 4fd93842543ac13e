"""Bank-grade authentication on a real Redis, through the real stage handlers: sessions that
end (logout, revocation, disabling, idleness) are refused at once by every stage and change
nothing; TOTP secrets are stored only encrypted, and survive a key rotation."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable

import pytest
import redis
from pydantic import SecretStr

from services.apply.handlers import handle_payment_request
from services.authorize.handlers import handle_auth_decision
from services.review.handlers import handle_intake, handle_review_decision
from shared.app import access
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.contracts import payment_id_for
from shared.domain.errors import ReasonCode, Refusal
from shared.messaging import routes as q
from shared.redis.directory import TOTP_FIELD
from shared.redis.keys import Keys
from shared.redis.otp import OtpVerifier
from shared.redis.sessions import Sessions
from shared.security.session_tokens import SessionSigner
from shared.security.totp import LAST_ATTEMPT_WARNING, STEP_SECONDS, code_for
from tests.integration.support import (
    World,
    events_of,
    must_get,
    run_in_threads,
    seed_world,
    wrong_code,
)
from tests.unit.support import Clock, queued

pytestmark = pytest.mark.integration

K1 = "k1:" + base64.b64encode(bytes(range(32))).decode()
K2 = "k2:" + base64.b64encode(bytes(range(100, 132))).decode()


def _pending_review(world: World, steps_ahead: int = 0) -> str:
    """A payment waiting for its reviewer, through the apply stage and the review intake.
    A second payment of the same applicant at once needs the next step's code."""
    code = code_for(world.applicant.totp_secret, time.time() + steps_ahead * STEP_SECONDS)
    request = world.payment_request(otp=code)
    applied = handle_payment_request(request.to_wire(), world.deps)
    assert applied.outcome == "accepted", applied
    for handoff in queued(world.deps, q.OTP_VERIFIED):
        handle_intake(handoff, world.deps)
    payment_id = payment_id_for(request.payer.enterprise_id, request.request_id)
    assert must_get(world.deps, payment_id).status.value == "pending_review"
    return payment_id


def _pending_auth(world: World) -> str:
    payment_id = _pending_review(world)
    reviewed = handle_review_decision(world.review(payment_id).to_wire(), world.deps)
    assert reviewed.status == "pending_auth", reviewed
    return payment_id


def _snapshot(deps: Deps, payment_id: str) -> tuple[object, ...]:
    """Everything a refused command must leave as it was."""
    payment = must_get(deps, payment_id)
    return payment.status, payment.version, payment.history


def _review_with(world: World, payment_id: str, token: str) -> tuple[Outcome, str]:
    decision = world.review(payment_id).model_copy(update={"session": SecretStr(token)})
    return handle_review_decision(decision.to_wire(), world.deps), decision.command_id


def _authorize_with(world: World, payment_id: str, token: str) -> tuple[Outcome, str]:
    decision = world.authorize(payment_id).model_copy(update={"session": SecretStr(token)})
    return handle_auth_decision(decision.to_wire(), world.deps), decision.command_id


def _assert_refused_and_recorded(
    world: World, payment_id: str, outcome: Outcome, command_id: str, reason: ReasonCode
) -> None:
    assert (outcome.outcome, outcome.reason_code) == ("refused", reason.value)
    refusals = [e for e in events_of(world.deps, payment_id) if e.command_id == command_id]
    assert [(e.kind, e.reason_code) for e in refusals] == [("refusal", reason.value)]


def test_a_logged_out_session_is_refused_as_revoked_and_the_payment_is_unchanged(
    world: World,
) -> None:
    payment_id = _pending_review(world)
    token = world.session(world.reviewer)
    before = _snapshot(world.deps, payment_id)

    assert world.deps.sessions.revoke(token)
    outcome, command_id = _review_with(world, payment_id, token)

    _assert_refused_and_recorded(world, payment_id, outcome, command_id, ReasonCode.SESSION_REVOKED)
    assert _snapshot(world.deps, payment_id) == before


def test_revoking_a_users_sessions_refuses_them_in_every_worker_and_the_payment_is_unchanged(
    world: World, settings: Settings, client_factory: Callable[[], redis.Redis]
) -> None:
    payment_id = _pending_auth(world)
    token = world.session(world.authorizer)
    before = _snapshot(world.deps, payment_id)
    # An operator, in a process of its own.
    operator = bootstrap(settings, client_factory())

    assert access.revoke_sessions(operator, world.authorizer.username)
    outcome, command_id = _authorize_with(world, payment_id, token)

    _assert_refused_and_recorded(world, payment_id, outcome, command_id, ReasonCode.SESSION_REVOKED)
    assert _snapshot(world.deps, payment_id) == before
    # The code typed with the refused command was not spent: it still works with a new session.
    accepted, _ = _authorize_with(world, payment_id, world.session(world.authorizer))
    assert accepted.status == "authorized", accepted


def test_a_disabled_user_is_refused_at_once_and_a_re_enabled_one_must_log_in_again(
    world: World, settings: Settings, client_factory: Callable[[], redis.Redis]
) -> None:
    payment_id = _pending_review(world)
    token = world.session(world.reviewer)
    before = _snapshot(world.deps, payment_id)
    operator = bootstrap(settings, client_factory())

    assert access.disable(operator, world.reviewer.username)
    disabled, command_id = _review_with(world, payment_id, token)
    _assert_refused_and_recorded(world, payment_id, disabled, command_id, ReasonCode.USER_LOCKED)
    assert _snapshot(world.deps, payment_id) == before

    assert access.enable(operator, world.reviewer.username)
    stale, command_id = _review_with(world, payment_id, token)
    _assert_refused_and_recorded(world, payment_id, stale, command_id, ReasonCode.SESSION_REVOKED)
    assert _snapshot(world.deps, payment_id) == before

    fresh, _ = _review_with(world, payment_id, world.session(world.reviewer))
    assert fresh.status == "pending_auth", fresh


def test_an_idle_session_is_refused_as_expired_and_each_use_keeps_it_alive(
    world: World, settings: Settings, redis_client: redis.Redis
) -> None:
    clock = Clock()
    idle = settings.session_idle_seconds
    assert settings.session_secret is not None
    signer = SessionSigner(
        settings.session_secret.get_secret_value().encode(),
        settings.session_ttl_seconds,
        clock=clock,
    )
    world.deps.sessions = Sessions(redis_client, world.deps.keys, signer, idle)
    busy = world.session(world.reviewer)
    idle_token = world.session(world.reviewer)
    first = _pending_review(world)
    second = _pending_review(world, steps_ahead=1)

    clock.advance(idle - 1)
    reviewed, _ = _review_with(world, first, busy)
    assert reviewed.status == "pending_auth", reviewed
    clock.advance(1)
    before = _snapshot(world.deps, second)
    outcome, command_id = _review_with(world, second, idle_token)

    _assert_refused_and_recorded(world, second, outcome, command_id, ReasonCode.SESSION_EXPIRED)
    assert _snapshot(world.deps, second) == before
    # The busy session was used 1 s ago: still live.
    approved, _ = _review_with(world, second, busy)
    assert approved.status == "pending_auth", approved


def test_a_logout_racing_with_uses_in_other_workers_is_never_undone(
    world: World, settings: Settings, client_factory: Callable[[], redis.Redis]
) -> None:
    token, session = world.deps.sessions.issue(
        world.reviewer.username, world.reviewer.enterprise_id, world.reviewer.role
    )
    workers = [bootstrap(settings, client_factory()) for _ in range(10)]

    def use_or_revoke(i: int) -> None:
        if i == 0:
            workers[0].sessions.revoke(token)
            return
        for _ in range(20):
            try:
                workers[i].sessions.refresh(workers[i].sessions.verify(token))
            except Refusal:
                return

    results = run_in_threads(len(workers), use_or_revoke)

    assert all(r is None for r in results), results
    with pytest.raises(Refusal) as raised:
        world.deps.sessions.verify(token)
    assert raised.value.reason_code is ReasonCode.SESSION_REVOKED
    record = world.deps.redis.hget(world.deps.keys.session(session.session_id), "revoked")
    assert record == b"1"


def test_the_raw_redis_hash_of_a_user_holds_no_plain_totp_secret(world: World) -> None:
    for user in (world.applicant, world.reviewer, world.authorizer):
        raw = world.deps.redis.hgetall(world.deps.keys.user(user.username))
        assert b"totp_secret" not in raw
        assert all(user.totp_secret.encode() not in value for value in raw.values())
        assert raw[TOTP_FIELD.encode()].startswith(b"dev:")
    # Nowhere else in this installation's keys either.
    for key in world.deps.redis.scan_iter(match=f"{world.deps.keys.prefix}*"):
        if world.deps.redis.type(key) == b"hash":
            values = world.deps.redis.hvals(key)
            assert all(world.applicant.totp_secret.encode() not in v for v in values), key


def test_rotating_the_totp_key_keeps_every_users_codes_working(
    settings: Settings, redis_client: redis.Redis
) -> None:
    def with_keys(ring: str) -> Deps:
        return bootstrap(settings.model_copy(update={"totp_keys": SecretStr(ring)}), redis_client)

    world = seed_world(with_keys(K1))
    rotated = with_keys(f"{K2},{K1}").directory.rotate_totp_secrets()
    assert (rotated.users, rotated.reencrypted, rotated.key_id) == (3, 3, "k2")
    assert with_keys(f"{K2},{K1}").directory.rotate_totp_secrets().reencrypted == 0

    # The old key is gone: every secret must now decrypt under the new one alone.
    world.deps = with_keys(K2)
    for user in (world.applicant, world.reviewer, world.authorizer):
        stored = redis_client.hget(world.deps.keys.user(user.username), TOTP_FIELD)
        assert stored is not None and stored.startswith(b"k2:")
    payment_id = _pending_auth(world)
    authorized = handle_auth_decision(world.authorize(payment_id).to_wire(), world.deps)
    assert authorized.status == "authorized", authorized


def test_ten_concurrent_wrong_codes_warn_exactly_one_attempt_of_the_coming_lock(
    deps: Deps, prefix: str, client_factory: Callable[[], redis.Redis]
) -> None:
    """The lockout itself under concurrency (exactly five failures counted, then locked) is
    tests/integration/test_otp_concurrency.py; this is the warning before it."""
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    bad = wrong_code(secret)
    verifiers = [OtpVerifier(client_factory(), Keys(prefix)) for _ in range(10)]

    results = run_in_threads(10, lambda i: verifiers[i].verify("alice", secret, bad))

    assert all(isinstance(r, Refusal) for r in results), results
    refusals = [r for r in results if isinstance(r, Refusal)]
    warned = [r for r in refusals if LAST_ATTEMPT_WARNING in r.detail]
    assert len(warned) == 1 and warned[0].reason_code is ReasonCode.OTP_INVALID
    assert Counter(r.reason_code for r in refusals)[ReasonCode.USER_LOCKED] == 6
    assert deps.otp.is_locked("alice")
    with pytest.raises(Refusal) as raised:
        deps.otp.verify("alice", secret, code_for(secret))
    assert raised.value.reason_code is ReasonCode.USER_LOCKED
