"""The stage handlers (services/*/handlers.py), called directly on fakeredis-backed deps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.apply.handlers import handle_payment_request
from services.authorize.handlers import handle_auth_decision
from services.interbank.handlers import handle_submission
from services.review.handlers import handle_intake, handle_review_decision
from shared.domain.contracts import payment_id_for
from shared.messaging import routes as q
from shared.security.stage_signatures import signed_handoff
from shared.security.totp import STEP_SECONDS
from tests.happy_path import FULL_HISTORY
from tests.unit.support import (
    INELIGIBLE_PAYER,
    OTHER_ENTERPRISE,
    PAYER,
    PAYER_ACCOUNT,
    RETAIL_BANK,
    UNCONTRACTED_BANK,
    World,
    queued,
    wrong_code,
)

PID = payment_id_for(PAYER, "req-1")
HAPPY_STATUSES = FULL_HISTORY


def history_statuses(world: World, payment_id: str) -> list[str | None]:
    payment = world.deps.store.get(payment_id)
    assert payment is not None
    return [event.status for event in payment.history]


# -- apply: refusals leave no payment behind -----------------------------------------------


def _ineligible(world: World) -> dict[str, Any]:
    # Eligibility is told only to the payer's own applicant.
    own, _ = world.deps.directory.add_user("ivan", INELIGIBLE_PAYER, "applicant", "ivan-password")
    return {
        "payer": {"enterprise_id": INELIGIBLE_PAYER, "account": "IDLE-001", "name": "Idle Co"},
        "session": world.session(own),
        "otp": world.code(own),
    }


def _retail_bank(world: World) -> dict[str, Any]:
    return {"bank": RETAIL_BANK}


def _no_contract(world: World) -> dict[str, Any]:
    return {"bank": UNCONTRACTED_BANK}


def _foreign_account(world: World) -> dict[str, Any]:
    return {"payer": {"enterprise_id": "ACME", "account": "GLOBEX-001", "name": "Acme Ltd"}}


def _reviewer_session(world: World) -> dict[str, Any]:
    return {"session": world.session(world.reviewer), "otp": world.code(world.reviewer)}


def _other_enterprise_session(world: World) -> dict[str, Any]:
    outsider, _ = world.deps.directory.add_user(
        "gina", OTHER_ENTERPRISE, "applicant", "gina-password"
    )
    return {"session": world.session(outsider), "otp": world.code(outsider)}


def _bad_otp(world: World) -> dict[str, Any]:
    return {"otp": wrong_code(world.applicant.totp_secret, world.clock())}


def _unknown_session_user(world: World) -> dict[str, Any]:
    return {"session": world.deps.sessions.issue("ghost", "ACME", "applicant")[0]}


def _forged_session(world: World) -> dict[str, Any]:
    token = world.session(world.applicant)
    return {"session": token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")}


REFUSED_APPLICATIONS = [
    ("payer_not_eligible", _ineligible),
    ("bank_not_b2b", _retail_bank),
    ("no_b2b_contract", _no_contract),
    ("account_not_owned", _foreign_account),
    ("wrong_role", _reviewer_session),
    ("wrong_enterprise", _other_enterprise_session),
    ("otp_invalid", _bad_otp),
    ("session_invalid", _unknown_session_user),
    ("session_invalid", _forged_session),
]


@pytest.mark.parametrize(
    ("reason_code", "make"),
    REFUSED_APPLICATIONS,
    ids=[f"{code}-{make.__name__[1:]}" for code, make in REFUSED_APPLICATIONS],
)
def test_a_refused_application_leaves_no_payment_and_one_refusal_event(
    world: World, reason_code: str, make: Any
) -> None:
    message = world.request(**make(world))
    # The payment the request would have made: its id is scoped to the payer it names.
    pid = payment_id_for(message["payer"]["enterprise_id"], message["request_id"])
    outcome = handle_payment_request(message, world.deps)

    assert (outcome.outcome, outcome.reason_code, outcome.payment_id) == (
        "refused",
        reason_code,
        pid,
    )
    assert world.deps.store.get(pid) is None
    events = world.events()
    assert [(e.kind, e.reason_code, e.command_id, e.payment_id) for e in events] == [
        ("refusal", reason_code, message["command_id"], pid)
    ]
    assert events[0].status is None
    assert queued(world.deps, q.OTP_VERIFIED) == []


def test_a_refused_application_answers_the_waiting_sender(world: World) -> None:
    message = world.request(bank=RETAIL_BANK)
    handle_payment_request(message, world.deps)
    verdict = world.deps.store.wait_verdict(message["command_id"], timeout=0.01)
    assert verdict is not None
    assert (verdict.outcome, verdict.reason_code, verdict.payment_id) == (
        "refused",
        "bank_not_b2b",
        PID,
    )


def test_a_refused_application_does_not_hold_the_order(world: World) -> None:
    refused = world.apply(bank=RETAIL_BANK)
    assert refused.outcome == "refused"
    accepted = world.apply(request_id="req-2")
    assert accepted.outcome == "accepted"


def raw_events(world: World) -> list[dict[str, Any]]:
    """The events stream as stored, parsed as plain JSON (no contract model in between)."""
    entries = world.deps.redis.xrange(world.deps.keys.events)
    return [json.loads(data[b"event"]) for _id, data in entries]


def test_an_invalid_request_is_refused_and_dead_lettered_without_echoing_its_secrets(
    world: World,
) -> None:
    message = world.request(amount="-1")
    outcome = handle_payment_request(message, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("dead_lettered", "invalid_request")
    assert outcome.dead_letter_reason is not None and "amount" in outcome.dead_letter_reason
    assert world.deps.store.get(PID) is None
    [event] = raw_events(world)
    assert (event["kind"], event["reason_code"], event["command_id"]) == (
        "refusal",
        "invalid_request",
        message["command_id"],
    )
    assert "amount" in event["reason"]
    raw_stream = str(world.deps.redis.xrange(world.deps.keys.events))
    assert message["session"] not in raw_stream
    assert message["otp"] not in raw_stream


def test_a_message_that_is_not_even_a_dict_is_dead_lettered_with_no_event(world: World) -> None:
    outcome = handle_payment_request(["not", "a", "request"], world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("dead_lettered", "invalid_request")
    assert outcome.dead_letter_reason is not None
    # It names no payment: there is nothing to attach an event to.
    assert raw_events(world) == []


def test_a_raw_request_whose_payee_name_rewrites_the_terminal_is_dead_lettered_unstored(
    world: World,
) -> None:
    # Put straight on the queue, past the CLI: the stage refuses it all the same.
    forged = "Supplier Co.\x1b[2K\x1b[1Gamount 1250.00 [/bold][conceal]"
    message = world.request(payee={**world.request()["payee"], "name": forged})
    outcome = handle_payment_request(message, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("dead_lettered", "invalid_request")
    assert outcome.dead_letter_reason is not None
    assert "payee.name" in outcome.dead_letter_reason
    assert "\x1b" not in outcome.dead_letter_reason
    assert world.deps.store.get(PID) is None
    for _id, entry in world.deps.redis.xrange(world.deps.keys.events):
        assert all(b"\x1b" not in value for value in entry.values())


@pytest.mark.parametrize(
    "send",
    [
        lambda world: world.review(payment_id_for(PAYER, "nope")),
        lambda world: world.authorize(payment_id_for(PAYER, "nope")),
    ],
    ids=[
        "review-of-unknown-payment",
        "authorization-of-unknown-payment",
    ],
)
def test_a_refusal_before_any_payment_is_known_is_still_a_valid_status_event(
    world: World, send: Any
) -> None:
    """Status event v1 lists order_id, enterprise_id, amount and currency: a refusal that
    knows none of them must still carry them (as null), or no reader can decode it."""
    assert send(world).outcome == "refused"
    [event] = raw_events(world)
    missing = {"order_id", "enterprise_id", "amount", "currency"} - set(event)
    assert missing == set(), f"refusal event lacks {sorted(missing)}"
    [decoded] = world.refusals()  # what the query service and `b2bpay events` read
    assert decoded.order_id is None


def test_an_invalid_request_naming_a_payment_is_still_a_valid_status_event(world: World) -> None:
    assert handle_payment_request(world.request(amount="-1"), world.deps).outcome == (
        "dead_lettered"
    )
    [event] = raw_events(world)
    missing = {"order_id", "enterprise_id", "amount", "currency"} - set(event)
    assert missing == set(), f"refusal event lacks {sorted(missing)}"
    [decoded] = world.refusals()
    assert (decoded.reason_code, decoded.order_id) == ("invalid_request", None)


# -- apply: acceptance and idempotency -----------------------------------------------------


def test_an_accepted_application_is_otp_verified_and_handed_to_review(world: World) -> None:
    message = world.request()
    outcome = handle_payment_request(message, world.deps)
    assert (outcome.outcome, outcome.payment_id, outcome.status) == (
        "accepted",
        PID,
        "otp_verified",
    )

    payment = world.deps.store.get(PID)
    assert payment is not None
    assert payment.status.value == "otp_verified"
    assert payment.applicant_id == "alice"
    assert payment.content.amount == "1250.00"
    assert [e.status for e in payment.history] == ["requested", "otp_verified"]
    assert [e.seq for e in payment.history] == [1, 2]

    [handoff] = queued(world.deps, q.OTP_VERIFIED)
    assert handoff["payment_id"] == PID
    assert handoff["content_hash"] == payment.content.content_hash
    assert handoff["from_stage"] == "apply"
    assert message["session"] not in str(handoff) and message["otp"] not in str(handoff)


def test_the_same_request_twice_is_one_payment(world: World) -> None:
    message = world.request()
    first = handle_payment_request(message, world.deps)
    second = handle_payment_request(dict(message), world.deps)

    assert first.outcome == "accepted"
    assert second.outcome == "duplicate"
    assert second.payment_id == first.payment_id == PID
    assert second.status == "otp_verified"
    assert history_statuses(world, PID) == ["requested", "otp_verified"]
    assert [e.kind for e in world.events()] == ["transition", "transition"]


def test_a_repeated_request_with_a_new_command_id_is_still_one_payment(world: World) -> None:
    first = world.apply()
    world.clock.advance(STEP_SECONDS)
    again = world.apply()  # same request_id and content; a new attempt id and a fresh code
    assert (first.outcome, again.outcome) == ("accepted", "duplicate")
    assert again.payment_id == PID
    assert history_statuses(world, PID) == ["requested", "otp_verified"]


def test_the_same_request_id_with_another_amount_is_an_idempotency_conflict(world: World) -> None:
    world.apply()
    before = world.deps.store.get(PID)
    world.clock.advance(STEP_SECONDS)
    message = world.request(amount="9999.00")
    outcome = handle_payment_request(message, world.deps)

    assert (outcome.outcome, outcome.reason_code, outcome.payment_id) == (
        "refused",
        "idempotency_conflict",
        PID,
    )
    after = world.deps.store.get(PID)
    assert after == before
    assert after is not None and after.content.amount == "1250.00"
    [refusal] = world.refusals()
    assert (refusal.reason_code, refusal.command_id) == (
        "idempotency_conflict",
        message["command_id"],
    )


def test_a_second_live_payment_for_the_same_order_is_a_duplicate_order(world: World) -> None:
    world.apply()
    before = world.deps.store.get(PID)
    world.clock.advance(STEP_SECONDS)
    message = world.request(request_id="req-2")
    outcome = handle_payment_request(message, world.deps)

    other = payment_id_for(PAYER, "req-2")
    assert (outcome.outcome, outcome.reason_code, outcome.payment_id) == (
        "refused",
        "duplicate_order",
        other,
    )
    assert world.deps.store.get(other) is None
    assert world.deps.store.get(PID) == before
    [refusal] = world.refusals()
    assert (refusal.reason_code, refusal.command_id, refusal.payment_id) == (
        "duplicate_order",
        message["command_id"],
        other,
    )


def test_an_order_is_free_again_once_its_payment_is_rejected(world: World) -> None:
    payment_id = world.to_pending_review()
    assert world.review(payment_id, approve=False, reason="wrong supplier").status == "rejected"
    world.clock.advance(STEP_SECONDS)
    outcome = world.apply(request_id="req-2")
    assert (outcome.outcome, outcome.status) == ("accepted", "otp_verified")


# -- review --------------------------------------------------------------------------------


def test_intake_moves_a_verified_payment_to_pending_review(world: World) -> None:
    world.apply()
    [outcome] = world.intake_all()
    assert (outcome.outcome, outcome.status) == ("accepted", "pending_review")
    assert history_statuses(world, PID) == ["requested", "otp_verified", "pending_review"]


def test_a_repeated_intake_changes_nothing(world: World) -> None:
    world.apply()
    [handoff] = queued(world.deps, q.OTP_VERIFIED)
    handle_intake(handoff, world.deps)
    again = handle_intake(handoff, world.deps)
    assert again.outcome == "ignored"
    assert history_statuses(world, PID) == ["requested", "otp_verified", "pending_review"]


def test_an_intake_whose_content_hash_was_changed_after_signing_is_refused(world: World) -> None:
    world.apply()
    [handoff] = queued(world.deps, q.OTP_VERIFIED)
    outcome = handle_intake({**handoff, "content_hash": "0" * 64}, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "invalid_signature")
    world.assert_status(PID, "otp_verified")


def test_an_intake_of_a_payment_whose_stored_content_changed_is_refused(world: World) -> None:
    world.apply()
    [handoff] = queued(world.deps, q.OTP_VERIFIED)
    world.deps.redis.hset(world.deps.keys.payment(PID), "amount", "9999.00")
    outcome = handle_intake(handoff, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "content_mismatch")
    world.assert_status(PID, "otp_verified")


def test_a_review_by_the_applicant_is_refused_as_wrong_role(world: World) -> None:
    payment_id = world.to_pending_review()
    message = world.review_decision(payment_id, session=world.session(world.applicant))
    outcome = handle_review_decision(message, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "wrong_role")
    world.assert_status(payment_id, "pending_review")
    [refusal] = world.refusals()
    assert (refusal.reason_code, refusal.command_id, refusal.status) == (
        "wrong_role",
        message["command_id"],
        "pending_review",
    )


def test_a_rejection_without_a_reason_is_refused(world: World) -> None:
    payment_id = world.to_pending_review()
    before = world.deps.store.get(payment_id)
    outcome = world.review(payment_id, approve=False, reason="")
    assert (outcome.outcome, outcome.reason_code) == ("refused", "reason_required")
    assert world.deps.store.get(payment_id) == before


def test_a_rejection_with_a_reason_ends_the_payment(world: World) -> None:
    payment_id = world.to_pending_review()
    outcome = world.review(payment_id, approve=False, reason="wrong supplier")
    assert (outcome.outcome, outcome.status) == ("accepted", "rejected")
    payment = world.deps.store.get(payment_id)
    assert payment is not None
    last = payment.history[-1]
    assert (last.reason_code, last.reason, last.actor_id, last.actor_role) == (
        "rejected_by_reviewer",
        "wrong supplier",
        "bob",
        "reviewer",
    )


def test_a_repeated_review_decision_is_a_duplicate(world: World) -> None:
    payment_id = world.to_pending_review()
    message = world.review_decision(payment_id)
    assert handle_review_decision(message, world.deps).status == "pending_auth"
    again = handle_review_decision(message, world.deps)
    assert (again.outcome, again.status) == ("duplicate", "pending_auth")
    assert history_statuses(world, payment_id) == HAPPY_STATUSES[:4]


def test_a_review_that_overtakes_the_intake_takes_the_payment_in(world: World) -> None:
    world.apply()
    outcome = world.review(PID)
    assert (outcome.outcome, outcome.status) == ("accepted", "pending_auth")
    assert history_statuses(world, PID) == HAPPY_STATUSES[:4]
    [late_intake] = world.intake_all()
    assert late_intake.outcome == "ignored"
    assert history_statuses(world, PID) == HAPPY_STATUSES[:4]


def test_a_review_of_an_unknown_payment_is_refused(world: World) -> None:
    outcome = world.review(payment_id_for(PAYER, "nope"))
    assert (outcome.outcome, outcome.reason_code) == ("refused", "payment_not_found")


# -- authorize -----------------------------------------------------------------------------


def test_an_authorization_before_the_review_is_an_illegal_transition(world: World) -> None:
    payment_id = world.to_pending_review()
    before = world.deps.store.get(payment_id)
    message = world.auth_decision(payment_id)
    outcome = handle_auth_decision(message, world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "illegal_transition")
    assert world.deps.store.get(payment_id) == before
    assert queued(world.deps, q.INTERBANK) == []
    [refusal] = world.refusals()
    assert (refusal.reason_code, refusal.command_id, refusal.actor_id) == (
        "illegal_transition",
        message["command_id"],
        "carol",
    )


def test_an_authorization_by_the_reviewer_is_refused_as_wrong_role(world: World) -> None:
    payment_id = world.to_pending_review()
    world.review(payment_id)
    outcome = world.authorize(payment_id, session=world.session(world.reviewer))
    assert (outcome.outcome, outcome.reason_code) == ("refused", "wrong_role")
    world.assert_status(payment_id, "pending_auth")


def test_an_authorization_with_a_wrong_code_is_refused(world: World) -> None:
    payment_id = world.to_pending_review()
    world.review(payment_id)
    outcome = world.authorize(
        payment_id, otp=wrong_code(world.authorizer.totp_secret, world.clock())
    )
    assert (outcome.outcome, outcome.reason_code) == ("refused", "otp_invalid")
    world.assert_status(payment_id, "pending_auth")
    assert queued(world.deps, q.INTERBANK) == []


def test_an_authorizer_rejection_needs_a_reason(world: World) -> None:
    payment_id = world.to_pending_review()
    world.review(payment_id)
    assert world.authorize(payment_id, approve=False).reason_code == "reason_required"
    outcome = world.authorize(payment_id, approve=False, reason="not budgeted")
    assert (outcome.outcome, outcome.status) == ("accepted", "rejected")
    assert queued(world.deps, q.INTERBANK) == []


def test_tampered_content_is_refused_at_authorization(world: World) -> None:
    payment_id = world.to_pending_review()
    world.review(payment_id)
    world.deps.redis.hset(world.deps.keys.payment(payment_id), "payee_account", "MALLORY-0001")
    outcome = world.authorize(payment_id)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "content_mismatch")
    world.assert_status(payment_id, "pending_auth")


# -- the whole flow ------------------------------------------------------------------------


def test_the_happy_path_runs_from_application_to_settlement(world: World) -> None:
    applied = world.apply()
    assert (applied.outcome, applied.status) == ("accepted", "otp_verified")

    [intake] = world.intake_all()
    assert intake.status == "pending_review"

    reviewed = world.review(PID)
    assert (reviewed.outcome, reviewed.status) == ("accepted", "pending_auth")

    authorized = world.authorize(PID)
    assert (authorized.outcome, authorized.status) == ("accepted", "authorized")

    [handoff] = queued(world.deps, q.INTERBANK)
    assert handoff["from_stage"] == "authorize"
    settled = handle_submission(handoff, world.deps)
    assert (settled.outcome, settled.status) == ("accepted", "settled")

    payment = world.deps.store.get(PID)
    assert payment is not None
    assert [e.status for e in payment.history] == HAPPY_STATUSES
    assert [e.previous_status for e in payment.history] == [None, *HAPPY_STATUSES[:-1]]
    assert [e.seq for e in payment.history] == [1, 2, 3, 4, 5, 6, 7]
    assert {e.kind for e in payment.history} == {"transition"}
    assert (
        payment.applicant_id,
        payment.reviewer_id,
        payment.authorizer_id,
    ) == ("alice", "bob", "carol")
    assert [e.actor_id for e in payment.history if e.actor_id] == ["alice", "alice", "bob", "carol"]
    assert world.refusals() == []
    assert [e.status for e in world.events()] == HAPPY_STATUSES
    assert world.deps.clearing.submissions() == [payment.end_to_end_id]  # type: ignore[attr-defined]


def test_a_redelivered_interbank_handoff_never_submits_twice(world: World) -> None:
    payment_id = world.to_pending_review()
    world.review(payment_id)
    world.authorize(payment_id)
    [handoff] = queued(world.deps, q.INTERBANK)
    assert handle_submission(handoff, world.deps).status == "settled"
    again = handle_submission(handoff, world.deps)
    assert (again.outcome, again.status) == ("ignored", "settled")
    assert len(world.deps.clearing.submissions()) == 1  # type: ignore[attr-defined]
    assert history_statuses(world, payment_id) == HAPPY_STATUSES


def test_interbank_refuses_a_handoff_for_a_payment_that_is_not_authorized(world: World) -> None:
    payment_id = world.to_pending_review()
    payment = world.deps.store.get(payment_id)
    assert payment is not None
    # Signed by the authorize stage (as a buggy or compromised authorize worker could), for
    # the payment's true state: the signature holds, the state machine still says no.
    handoff = signed_handoff(world.deps.signer, payment, "authorize", "cmd-early")
    outcome = handle_submission(handoff.to_wire(), world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "illegal_transition")
    world.assert_status(payment_id, "pending_review")
    assert world.deps.clearing.submissions() == []  # type: ignore[attr-defined]


def test_the_payer_account_and_enterprise_are_frozen_from_the_request(world: World) -> None:
    world.apply()
    payment = world.deps.store.get(PID)
    assert payment is not None
    assert (payment.content.enterprise_id, payment.content.payer_account) == ("ACME", PAYER_ACCOUNT)


def test_a_refusal_and_the_later_acceptance_share_one_gapless_sequence(world: World) -> None:
    """Refusals and transitions of one payment id are numbered together on the stream, so a
    reader sees 1, 2, 3 with no gap even though the history holds only the transitions."""
    assert (
        world.apply(otp=wrong_code(world.applicant.totp_secret, world.clock())).outcome == "refused"
    )
    world.clock.advance(STEP_SECONDS)
    assert world.apply().outcome == "accepted"
    on_stream = [(e.seq, e.kind, e.status) for e in world.events() if e.payment_id == PID]
    assert on_stream == [
        (1, "refusal", None),
        (2, "transition", "requested"),
        (3, "transition", "otp_verified"),
    ]
    assert [e.seq for e in world.deps.store.get(PID).history] == [2, 3]  # type: ignore[union-attr]


# -- review findings: codes bound to payments, nothing told to strangers --------------------


@pytest.mark.parametrize(
    ("mode", "reason_code"),
    # Linked (ocra), the code does not answer the second payment's challenge at all; plain
    # (totp), it is a code of a time step the authorizer has spent.
    [("ocra", "otp_invalid"), ("totp", "otp_replayed")],
)
def test_one_authorizer_code_and_command_id_never_authorize_a_second_payment(
    world: World, clock: Any, mode: str, reason_code: str
) -> None:
    world.deps.settings = world.deps.settings.model_copy(update={"authorizer_otp": mode})
    first = world.to_pending_review("req-1")
    assert world.review(first).status == "pending_auth"
    clock.advance(30)
    assert world.apply(request_id="req-2", order_id="ORDER-2").outcome == "accepted"
    world.intake_all()
    second = payment_id_for(PAYER, "req-2")
    assert world.review(second).status == "pending_auth"
    decision = world.auth_decision(first)
    assert handle_auth_decision(decision, world.deps).status == "authorized"

    stolen = dict(decision, payment_id=second)
    outcome = handle_auth_decision(stolen, world.deps)

    assert (outcome.outcome, outcome.reason_code) == ("refused", reason_code)
    world.assert_status(second, "pending_auth")


def test_a_known_request_is_not_confirmed_to_someone_without_a_valid_session(
    world: World,
) -> None:
    assert world.apply().outcome == "accepted"
    outcome = handle_payment_request(world.request(session="not-a-token"), world.deps)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "session_invalid")


def test_a_second_payment_for_a_live_order_is_refused_without_spending_the_code(
    world: World, clock: Any
) -> None:
    assert world.apply().outcome == "accepted"
    clock.advance(30)
    code = world.code(world.applicant)
    refused = world.apply(request_id="req-2", otp=code)
    assert (refused.outcome, refused.reason_code) == ("refused", "duplicate_order")
    # The same code still works for the applicant's next, legitimate request.
    accepted = world.apply(request_id="req-3", order_id="ORDER-3", otp=code)
    assert accepted.outcome == "accepted", accepted


def test_another_enterprise_using_the_same_request_id_first_does_not_block_the_payer(
    world: World,
) -> None:
    mallory, _ = world.deps.directory.add_user(
        "mallory", OTHER_ENTERPRISE, "applicant", "mallory-password"
    )
    squatted = world.apply(
        payer={"enterprise_id": OTHER_ENTERPRISE, "account": "GLOBEX-001", "name": "Globex"},
        session=world.session(mallory),
        otp=world.code(mallory),
    )
    assert squatted.outcome == "accepted"

    genuine = world.apply()

    assert (genuine.outcome, genuine.payment_id) == ("accepted", PID)
    assert squatted.payment_id != PID
