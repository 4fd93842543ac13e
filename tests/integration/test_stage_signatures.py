"""Stage signatures on the real Redis broker, with the real stage actors: what is written
straight into a queue, or straight into a payment record, without the signature of the
stage before is refused as ``invalid_signature``, recorded, and changes nothing; a genuine
flow still settles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.apply.handlers import handle_payment_request
from shared.app.deps import Deps
from shared.domain.content import content_of
from shared.domain.contracts import Handoff, StatusEvent
from shared.domain.payment import Payment
from shared.domain.states import PaymentStatus
from shared.messaging import routes as q
from shared.security.signing import STAGES, StageSigner
from shared.security.stage_signatures import (
    HANDOFF,
    check_authorization,
    check_review_approval,
    signed_handoff,
)
from tests.integration.support import World, events_of, must_get
from tests.stack import wait_until

pytestmark = pytest.mark.integration

Stages = Callable[..., dramatiq.Worker]
Forgery = Callable[[Deps, Payment], dict[str, Any]]
VERDICT_TIMEOUT = 4.0
DRAIN_TIMEOUT_MS = 15_000


def _attacker_signer() -> StageSigner:
    """Key pairs of the attacker's own making, for every stage."""
    private = {stage: Ed25519PrivateKey.generate() for stage in STAGES}
    return StageSigner(private, {s: k.public_key() for s, k in private.items()})


def _handoff(payment: Payment, from_stage: str, status: str, version: int) -> Handoff:
    return Handoff.model_validate(
        {
            "payment_id": payment.payment_id,
            "content_hash": payment.content.content_hash,
            "from_stage": from_stage,
            "command_id": "cmd-injected",
            "status": status,
            "version": version,
        }
    )


def _signed_by(signer: StageSigner, stage: str, handoff: Handoff) -> dict[str, Any]:
    signature = signer.sign(stage, HANDOFF, handoff.signed_content())
    return handoff.model_copy(update={"signature": signature}).to_wire()


def _refusals(deps: Deps, payment_id: str) -> list[StatusEvent]:
    return [e for e in events_of(deps, payment_id) if e.kind == "refusal"]


def _refused_as_invalid_signature(deps: Deps, payment_id: str, stage: str) -> StatusEvent:
    refusal = wait_until(
        f"a refusal event for {payment_id}", lambda: _refusals(deps, payment_id), 15
    )[-1]
    assert (refusal.reason_code, refusal.stage, refusal.actor_id) == (
        "invalid_signature",
        stage,
        None,
    )
    return refusal


def _unchanged(deps: Deps, before: Payment, *queues: str) -> None:
    for queue in queues:
        deps.broker.join(queue, timeout=DRAIN_TIMEOUT_MS)
    after = must_get(deps, before.payment_id)
    assert (after.status, after.version, after) == (
        before.status,
        before.version,
        before,
    )
    assert after.history == before.history


def _to_pending_auth(world: World) -> str:
    request = world.payment_request()
    world.deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
    applied = world.deps.store.wait_verdict(request.command_id, VERDICT_TIMEOUT)
    assert applied is not None and applied.status == "otp_verified"
    wait_until(
        "the intake",
        lambda: must_get(world.deps, applied.payment_id).status == PaymentStatus.PENDING_REVIEW,
        15,
    )
    decision = world.review(applied.payment_id)
    world.deps.dispatch(q.PENDING_REVIEW, q.DECIDE_REVIEW, decision.to_wire())
    reviewed = world.deps.store.wait_verdict(decision.command_id, VERDICT_TIMEOUT)
    assert reviewed is not None and reviewed.status == "pending_auth"
    return applied.payment_id


# -- apply -> otp-verified -----------------------------------------------------------------

INTAKE_FORGERIES: dict[str, Forgery] = {
    "unsigned": lambda deps, p: _handoff(p, "apply", "otp_verified", 2).to_wire(),
    "signed with the attacker's own apply key": lambda deps, p: _signed_by(
        _attacker_signer(), "apply", _handoff(p, "apply", "otp_verified", 2)
    ),
    "signed by another stage (review)": lambda deps, p: _signed_by(
        deps.signer, "review", _handoff(p, "review", "otp_verified", 2)
    ),
    "genuine apply signature, version changed": lambda deps, p: {
        **signed_handoff(deps.signer, p, "apply", "cmd-injected").to_wire(),
        "version": 1,
    },
}


@pytest.mark.parametrize("forgery", INTAKE_FORGERIES.values(), ids=INTAKE_FORGERIES.keys())
def test_a_handoff_put_into_otp_verified_unsigned_by_apply_is_refused_and_changes_nothing(
    world: World, stages: Stages, forgery: Forgery
) -> None:
    deps = world.deps
    applied = handle_payment_request(world.payment_request().to_wire(), deps)
    assert applied.status == "otp_verified"
    deps.broker.flush(q.OTP_VERIFIED)  # the genuine hand-off is lost: only the forgery comes
    before = must_get(deps, applied.payment_id)
    stages("review")

    deps.dispatch(q.OTP_VERIFIED, q.TAKE_IN, forgery(deps, before))

    refusal = _refused_as_invalid_signature(deps, before.payment_id, "review")
    assert (refusal.status, refusal.previous_status) == ("otp_verified", "otp_verified")
    _unchanged(deps, before, q.OTP_VERIFIED)
    assert deps.deadletters.count() == 0, "a forgery is refused and recorded, not set aside"


def test_a_forgery_beside_the_genuine_handoff_is_refused_and_the_genuine_one_taken_in(
    world: World, stages: Stages
) -> None:
    deps = world.deps
    applied = handle_payment_request(world.payment_request().to_wire(), deps)
    before = must_get(deps, applied.payment_id)
    deps.dispatch(q.OTP_VERIFIED, q.TAKE_IN, INTAKE_FORGERIES["unsigned"](deps, before))

    stages("review")

    taken_in = wait_until(
        "the intake of the genuine hand-off",
        lambda: (p := must_get(deps, before.payment_id)).status == "pending_review" and p,
        15,
    )
    _refused_as_invalid_signature(deps, before.payment_id, "review")
    assert [h.status for h in taken_in.history] == ["requested", "otp_verified", "pending_review"]


# -- authorize -> interbank ----------------------------------------------------------------

INTERBANK_FORGERIES: dict[str, Forgery] = {
    "unsigned": lambda deps, p: _handoff(p, "authorize", "pending_auth", p.version).to_wire(),
    "signed with the attacker's own authorize key": lambda deps, p: _signed_by(
        _attacker_signer(), "authorize", _handoff(p, "authorize", "pending_auth", p.version)
    ),
    "the genuine apply hand-off replayed into interbank": lambda deps, p: _signed_by(
        deps.signer, "apply", _handoff(p, "apply", "otp_verified", 2)
    ),
}


@pytest.mark.parametrize("forgery", INTERBANK_FORGERIES.values(), ids=INTERBANK_FORGERIES.keys())
def test_a_handoff_put_into_interbank_unsigned_by_authorize_is_refused_and_submits_nothing(
    world: World, stages: Stages, forgery: Forgery
) -> None:
    deps = world.deps
    stages("apply", "review", "interbank")
    payment_id = _to_pending_auth(world)
    before = must_get(deps, payment_id)

    deps.dispatch(q.INTERBANK, q.SUBMIT_TO_CLEARING, forgery(deps, before))

    refusal = _refused_as_invalid_signature(deps, payment_id, "interbank")
    assert refusal.status == "pending_auth"
    _unchanged(deps, before, q.INTERBANK)
    assert deps.clearing.submissions() == []  # type: ignore[attr-defined]


def test_a_payment_set_to_authorized_straight_in_redis_is_not_submitted(
    world: World, stages: Stages
) -> None:
    deps = world.deps
    stages("apply", "review", "interbank")
    payment_id = _to_pending_auth(world)
    # An attacker with Redis write access writes the authorization itself...
    deps.redis.hset(
        deps.keys.payment(payment_id),
        mapping={"status": "authorized", "authorizer_id": world.authorizer.username},
    )
    before = must_get(deps, payment_id)

    # ...and hands it on unsigned: neither the hand-off nor the record carry the signature.
    deps.dispatch(
        q.INTERBANK,
        q.SUBMIT_TO_CLEARING,
        _handoff(before, "authorize", "authorized", before.version).to_wire(),
    )

    _refused_as_invalid_signature(deps, payment_id, "interbank")
    _unchanged(deps, before, q.INTERBANK)
    assert deps.clearing.submissions() == []  # type: ignore[attr-defined]


def test_an_authorized_payment_whose_end_to_end_id_was_rewritten_is_not_submitted(
    world: World, stages: Stages
) -> None:
    deps = world.deps
    stages("apply", "review", "authorize")
    payment_id = _to_pending_auth(world)
    decision = world.authorize(payment_id)
    deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())
    verdict = deps.store.wait_verdict(decision.command_id, VERDICT_TIMEOUT)
    assert verdict is not None and verdict.status == "authorized"
    # The genuine, signed hand-off waits for interbank; meanwhile the record is rewritten
    # (a fresh end-to-end id would let clearing take the same payment a second time).
    deps.redis.hset(deps.keys.payment(payment_id), "end_to_end_id", "E2E-ATTACKER-1")
    before = must_get(deps, payment_id)

    stages("interbank")

    refusal = _refused_as_invalid_signature(deps, payment_id, "interbank")
    assert refusal.status == "authorized"
    _unchanged(deps, before, q.INTERBANK)
    assert deps.clearing.submissions() == []  # type: ignore[attr-defined]


# -- the stored review signature -----------------------------------------------------------


def _without_review_signature(deps: Deps, payment: Payment) -> None:
    deps.redis.hdel(deps.keys.payment(payment.payment_id), "review_signature")


def _with_forged_review_signature(deps: Deps, payment: Payment) -> None:
    document = {
        "payment_id": payment.payment_id,
        "content_hash": payment.content.content_hash,
        "status": "pending_auth",
        "reviewer_id": payment.reviewer_id,
    }
    forged = _attacker_signer().sign("review", "review_approval", document)
    deps.redis.hset(deps.keys.payment(payment.payment_id), "review_signature", forged)


def _with_another_payee(deps: Deps, payment: Payment) -> None:
    # Content and hash rewritten together, so the content check alone would pass.
    content = content_of(payment)
    changed = content.model_copy(
        update={"payee": content.payee.model_copy(update={"account": "ATTACKER-001"})}
    )
    deps.redis.hset(
        deps.keys.payment(payment.payment_id),
        mapping={"payee_account": "ATTACKER-001", "content_hash": changed.content_hash()},
    )


TAMPERED_RECORDS: dict[str, Callable[[Deps, Payment], None]] = {
    "review signature missing": _without_review_signature,
    "review signature forged": _with_forged_review_signature,
    "payee and content hash rewritten after review": _with_another_payee,
}


@pytest.mark.parametrize("tamper", TAMPERED_RECORDS.values(), ids=TAMPERED_RECORDS.keys())
def test_a_payment_without_a_valid_review_signature_cannot_be_authorized(
    world: World, stages: Stages, tamper: Callable[[Deps, Payment], None]
) -> None:
    deps = world.deps
    stages("apply", "review", "authorize", "interbank")
    payment_id = _to_pending_auth(world)
    tamper(deps, must_get(deps, payment_id))
    before = must_get(deps, payment_id)
    decision = world.authorize(payment_id)

    deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())

    verdict = deps.store.wait_verdict(decision.command_id, VERDICT_TIMEOUT)
    assert verdict is not None
    assert (verdict.outcome, verdict.reason_code, verdict.status) == (
        "refused",
        "invalid_signature",
        "pending_auth",
    )
    refusal = _refusals(deps, payment_id)[-1]
    assert (refusal.reason_code, refusal.command_id, refusal.actor_id) == (
        "invalid_signature",
        decision.command_id,
        world.authorizer.username,
    )
    _unchanged(deps, before, q.PENDING_AUTH, q.INTERBANK)
    assert deps.clearing.submissions() == []  # type: ignore[attr-defined]


# -- the genuine flow ----------------------------------------------------------------------


def test_a_genuine_flow_is_signed_at_every_hand_off_and_settles(
    world: World, stages: Stages
) -> None:
    deps = world.deps
    stages("apply", "review", "authorize", "interbank")
    payment_id = _to_pending_auth(world)
    decision = world.authorize(payment_id)

    deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())

    settled = wait_until(
        "settlement",
        lambda: (p := must_get(deps, payment_id)).status == PaymentStatus.SETTLED and p,
        15,
    )
    check_review_approval(deps.signer, settled)
    check_authorization(deps.signer, settled)
    assert settled.reviewer_id == world.reviewer.username
    assert settled.authorizer_id == world.authorizer.username
    assert _refusals(deps, payment_id) == []
    assert deps.clearing.submissions() == [settled.end_to_end_id]  # type: ignore[attr-defined]
