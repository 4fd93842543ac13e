"""Attacks from outside a payment (issue 7, items 4, 7, 9, 10 and 12): a garbage session or a
person of another enterprise learns nothing about a payment and leaves nothing on it; a
failed command keeps no session alive; refusals say who tried; a colleague cannot cancel;
garbage naming unknown payments cannot grow the events stream without limit."""

from __future__ import annotations

from typing import Any

import pytest

from services.apply.handlers import handle_cancel, handle_payment_request
from services.authorize.handlers import handle_auth_decision
from services.review.handlers import handle_intake, handle_review_decision
from shared.domain.contracts import Verdict, payment_id_for
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import User
from shared.domain.payment import Actor
from shared.redis.store import PaymentStore
from shared.security.totp import STEP_SECONDS
from tests.unit.support import OTHER_ENTERPRISE, PAYER, World, wrong_code

IDLE = 300
ATTACKER_AMOUNT = "990000.00"


def verdict_of(world: World, command_id: str) -> Verdict:
    verdict = world.deps.store.wait_verdict(command_id, timeout=0.01)
    assert verdict is not None, "the sender must still get its verdict"
    return verdict


def told(verdict: Verdict) -> tuple[Any, ...]:
    """Everything a verdict tells its sender but the payment id it was asked about."""
    return (verdict.outcome, verdict.status, verdict.reason_code, verdict.reason)


def outsider(world: World, role: str) -> User:
    user, _ = world.deps.directory.add_user(f"gina-{role}", OTHER_ENTERPRISE, role, "gina-password")
    return user


def pending_auth(world: World) -> str:
    payment_id = world.to_pending_review()
    assert world.review(payment_id).status == "pending_auth"
    return payment_id


def seq_of(world: World, payment_id: str) -> int:
    return int(world.deps.redis.get(world.deps.keys.event_seq(payment_id)) or 0)


def stream_of(world: World, payment_id: str) -> list[Any]:
    """What the stream says happened to one payment in its own numbered sequence."""
    return [e for e in world.events() if e.payment_id == payment_id and e.seq > 0]


# -- the messages an outsider sends at each stage -----------------------------------------


def review_by(world: World, payment_id: str, session: str) -> dict[str, Any]:
    return world.review_decision(payment_id, session=session)


def authorization_by(world: World, payment_id: str, session: str) -> dict[str, Any]:
    return world.auth_decision(payment_id, session=session, otp="123456")


def cancel_by(world: World, payment_id: str, session: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "session": session,
        "command_id": world.command_id("cancel"),
    }


STAGES = [
    ("reviewer", review_by, handle_review_decision),
    ("authorizer", authorization_by, handle_auth_decision),
    ("applicant", cancel_by, handle_cancel),
]
STAGE_IDS = ["review", "authorize", "cancel"]


def _garbage(world: World, role: str) -> str:
    return "v1.garbage.token"


def _expired(world: World, role: str) -> str:
    user = {"reviewer": world.reviewer, "authorizer": world.authorizer}.get(role, world.applicant)
    token = world.session(user)
    world.clock.advance(IDLE)
    return token


def _other_enterprise(world: World, role: str) -> str:
    return world.session(outsider(world, role))


SENDERS = [
    ("authentication_failed", _garbage),
    ("authentication_failed", _expired),
    ("payment_not_found", _other_enterprise),
]
SENDER_IDS = ["garbage-session", "expired-session", "other-enterprise"]


@pytest.mark.parametrize(("role", "build", "handle"), STAGES, ids=STAGE_IDS)
@pytest.mark.parametrize(("answer", "sender"), SENDERS, ids=SENDER_IDS)
def test_an_outsider_is_told_the_same_about_an_existing_and_a_missing_payment(
    world: World, role: str, build: Any, handle: Any, answer: str, sender: Any
) -> None:
    victim = pending_auth(world)
    missing = payment_id_for(PAYER, "never-made")
    before = world.deps.store.get(victim)
    seq_before = seq_of(world, victim)
    session = sender(world, role)

    on_victim = build(world, victim, session)
    on_missing = build(world, missing, session)
    for message in (on_victim, on_missing):
        assert handle(message, world.deps).outcome == "refused"

    victim_verdict = verdict_of(world, on_victim["command_id"])
    missing_verdict = verdict_of(world, on_missing["command_id"])
    assert told(victim_verdict) == told(missing_verdict)
    assert (victim_verdict.status, victim_verdict.reason_code) == (None, answer)
    # Nothing written onto the victim: its record, and its numbered event sequence.
    assert world.deps.store.get(victim) == before
    assert seq_of(world, victim) == seq_before
    assert [e.kind for e in stream_of(world, victim)] == ["transition"] * seq_before


@pytest.mark.parametrize(("answer", "sender"), SENDERS, ids=SENDER_IDS)
def test_an_outsider_guessing_a_request_id_cannot_tell_whether_it_was_used(
    world: World, answer: str, sender: Any
) -> None:
    assert world.apply().outcome == "accepted"
    victim = payment_id_for(PAYER, "req-1")
    seq_before = seq_of(world, victim)
    session = sender(world, "applicant")
    world.clock.advance(STEP_SECONDS)

    guesses = [
        world.request(request_id=request_id, session=session, amount=ATTACKER_AMOUNT)
        for request_id in ("req-1", "req-unused")
    ]
    for guess in guesses:
        assert handle_payment_request(guess, world.deps).outcome == "refused"

    used, unused = (verdict_of(world, g["command_id"]) for g in guesses)
    assert told(used) == told(unused)
    assert used.outcome == "refused" and used.status is None
    assert seq_of(world, victim) == seq_before
    raw = str(world.deps.redis.xrange(world.deps.keys.events))
    assert ATTACKER_AMOUNT not in raw, "the outsider's amount must not be recorded"


def test_an_outsiders_refusal_is_still_on_record_for_operators_with_its_precise_code(
    world: World,
) -> None:
    victim = pending_auth(world)
    message = review_by(world, victim, _other_enterprise(world, "reviewer"))
    handle_review_decision(message, world.deps)
    [refusal] = [e for e in world.refusals() if e.command_id == message["command_id"]]
    # Not in the victim's numbered sequence, and carrying nothing of the victim's payment.
    assert (refusal.seq, refusal.status, refusal.amount, refusal.order_id) == (0, None, None, None)
    assert refusal.reason_code == "payment_not_found"
    assert (refusal.actor_id, refusal.actor_role) == ("gina-reviewer", "reviewer")


def test_the_payers_own_people_are_still_told_precisely(world: World) -> None:
    victim = pending_auth(world)
    message = world.review_decision(victim)
    outcome = handle_review_decision(message, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "illegal_transition")
    assert verdict_of(world, message["command_id"]).status == "pending_auth"


# -- item 7: a failed command does not keep the session alive -----------------------------


def test_an_authorization_with_a_wrong_code_does_not_restart_the_idle_timeout(
    world: World,
) -> None:
    payment_id = pending_auth(world)
    token = world.session(world.authorizer)
    world.clock.advance(IDLE - 1)
    bad = wrong_code(world.authorizer.totp_secret, world.clock())
    outcome = world.authorize(payment_id, session=token, otp=bad)
    assert outcome.reason_code == "otp_invalid"
    world.clock.advance(1)
    with pytest.raises(Refusal) as refused:
        world.deps.sessions.verify(token)
    assert refused.value.reason_code is ReasonCode.SESSION_EXPIRED


def test_an_application_with_a_wrong_code_does_not_restart_the_idle_timeout(
    world: World,
) -> None:
    token = world.session(world.applicant)
    world.clock.advance(IDLE - 1)
    bad = wrong_code(world.applicant.totp_secret, world.clock())
    assert world.apply(session=token, otp=bad).reason_code == "otp_invalid"
    world.clock.advance(1)
    with pytest.raises(Refusal) as refused:
        world.deps.sessions.verify(token)
    assert refused.value.reason_code is ReasonCode.SESSION_EXPIRED


def test_a_successful_command_restarts_the_idle_timeout(world: World) -> None:
    payment_id = world.to_pending_review()
    token = world.session(world.reviewer)
    world.clock.advance(IDLE - 1)
    assert world.review(payment_id, session=token).status == "pending_auth"
    world.clock.advance(IDLE - 1)
    assert world.deps.sessions.verify(token).username == world.reviewer.username


# -- item 9: who tried, even when authentication failed ------------------------------------


def test_a_refusal_of_an_expired_session_records_the_claimed_user_as_unverified(
    world: World,
) -> None:
    payment_id = world.to_pending_review()
    token = world.session(world.reviewer)
    world.clock.advance(IDLE)
    message = world.review_decision(payment_id, session=token)
    handle_review_decision(message, world.deps)
    [refusal] = [e for e in world.refusals() if e.command_id == message["command_id"]]
    assert refusal.reason_code == "session_expired"
    assert (refusal.actor_id, refusal.actor_role) == ("bob", "unverified")


def test_a_refusal_of_a_forged_session_records_no_actor(world: World) -> None:
    payment_id = world.to_pending_review()
    token = world.session(world.reviewer)
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    message = world.review_decision(payment_id, session=forged)
    handle_review_decision(message, world.deps)
    [refusal] = [e for e in world.refusals() if e.command_id == message["command_id"]]
    assert refusal.reason_code == "session_invalid"
    assert (refusal.actor_id, refusal.actor_role) == (None, None)


# -- item 12: only the payment's own applicant cancels it ----------------------------------


def test_a_colleague_applicant_cannot_cancel_anothers_payment(world: World) -> None:
    payment_id = world.to_pending_review()
    colleague, _ = world.deps.directory.add_user("dave", PAYER, "applicant", "dave-password")
    message = cancel_by(world, payment_id, world.session(colleague))
    outcome = handle_cancel(message, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "wrong_user")
    world.assert_status(payment_id, "pending_review")


def test_the_payments_own_applicant_can_cancel_it(world: World) -> None:
    payment_id = world.to_pending_review()
    outcome = handle_cancel(
        cancel_by(world, payment_id, world.session(world.applicant)), world.deps
    )
    assert (outcome.outcome, outcome.status) == ("accepted", "cancelled")


# -- item 10: refusals naming unknown payments are bounded ---------------------------------


def test_garbage_naming_unknown_payments_records_a_bounded_number_of_refusal_events(
    world: World,
) -> None:
    cap = world.deps.settings.refusal_events_per_window
    messages = [
        review_by(world, payment_id_for(PAYER, f"guess-{n}"), "v1.garbage.token")
        for n in range(cap + 5)
    ]
    for message in messages:
        assert handle_review_decision(message, world.deps).outcome == "refused"
    assert len(world.refusals()) == cap
    for message in messages:  # every sender is still answered
        assert verdict_of(world, message["command_id"]).reason_code == "authentication_failed"


def test_refusals_naming_one_unknown_payment_are_bounded_per_payment(world: World) -> None:
    cap = world.deps.settings.refusal_events_per_window
    target = payment_id_for(PAYER, "guess")
    senders = [world.session(outsider(world, "reviewer"))] + [
        world.session(world.deps.directory.add_user(f"r{n}", PAYER, "reviewer", "password-1")[0])
        for n in range(cap + 2)
    ]
    for session in senders:
        handle_review_decision(review_by(world, target, session), world.deps)
    assert len([e for e in world.refusals() if e.payment_id == target]) == cap


def test_the_bound_on_refusal_events_opens_again_after_its_window(world: World) -> None:
    settings = world.deps.settings
    cap = settings.refusal_events_per_window
    world.deps.store = PaymentStore(
        world.deps.redis,
        world.deps.keys,
        clock=world.clock,
        refusal_cap=cap,
        refusal_window_seconds=settings.refusal_window_seconds,
    )
    for n in range(cap + 1):
        handle_review_decision(
            review_by(world, payment_id_for(PAYER, f"guess-{n}"), "v1.garbage.token"), world.deps
        )
    assert len(world.refusals()) == cap
    world.clock.advance(world.deps.settings.refusal_window_seconds)
    handle_review_decision(review_by(world, payment_id_for(PAYER, "later"), "x"), world.deps)
    assert len(world.refusals()) == cap + 1


def forged_handoff(world: World, payment_id: str) -> dict[str, Any]:
    """A hand-off anyone who can write the broker sends: well formed, signed by no stage."""
    return {
        "schema": "b2bpay.handoff.v2",
        "payment_id": payment_id,
        "content_hash": "0" * 64,
        "from_stage": "apply",
        "command_id": world.command_id("forged"),
        "status": "otp_verified",
        "version": 2,
    }


def refusals_of(world: World, payment_id: str) -> list[Any]:
    return [e for e in world.refusals() if e.payment_id == payment_id]


def test_forged_hand_offs_naming_an_existing_payment_record_a_bounded_number_of_events(
    world: World,
) -> None:
    cap = world.deps.settings.refusal_events_per_window
    payment_id = world.to_pending_review()
    for _ in range(cap + 5):
        outcome = handle_intake(forged_handoff(world, payment_id), world.deps)
        assert (outcome.outcome, outcome.reason_code) == ("refused", "invalid_signature")
    assert len(refusals_of(world, payment_id)) == cap
    world.assert_status(payment_id, "pending_review")


def test_refusals_to_a_person_of_the_payer_on_an_existing_payment_are_not_bounded(
    world: World,
) -> None:
    cap = world.deps.settings.refusal_events_per_window
    payment_id = world.to_pending_review()
    wrong_role = world.session(world.authorizer)
    for _ in range(cap + 2):
        message = review_by(world, payment_id, wrong_role)
        assert handle_review_decision(message, world.deps).reason_code == "wrong_role"
    assert len(refusals_of(world, payment_id)) == cap + 2


def test_refusals_to_an_unverified_person_on_an_existing_payment_are_bounded(
    world: World,
) -> None:
    cap = world.deps.settings.refusal_events_per_window
    payment_id = world.to_pending_review()
    claimed_bob = Actor("review", "unverified", "bob")
    command_ids = [world.command_id("claimed") for _ in range(cap + 2)]
    for command_id in command_ids:
        refusal = Refusal(ReasonCode.SESSION_EXPIRED, "session expired")
        world.deps.store.refuse(payment_id, claimed_bob, refusal, command_id)
    assert len(refusals_of(world, payment_id)) == cap
    for command_id in command_ids:  # every sender is still answered
        assert verdict_of(world, command_id).reason_code == "session_expired"
