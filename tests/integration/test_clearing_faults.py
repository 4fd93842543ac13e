"""The interbank stage against a misbehaving clearing house (the simulator told to time out,
to be unavailable, to reject with an ISO reason, to be slow, to settle late): each payment
ends right, and clearing never sees an instruction twice."""

from __future__ import annotations

from typing import Any

import pytest

from services.interbank.handlers import handle_submission
from shared.app.deps import Deps
from shared.app.guard import Outcome
from shared.domain.content import StoredContent
from shared.domain.contracts import PaymentRequest, payment_id_for
from shared.domain.errors import TransientError
from shared.domain.payment import Actor, Application, Step
from shared.domain.states import PaymentStatus
from shared.security.stage_signatures import authorization, signed_handoff

pytestmark = pytest.mark.integration


def _authorized(deps: Deps, n: int) -> dict[str, Any]:
    """An authorized payment and the hand-off interbank receives for it."""
    request = PaymentRequest.model_validate(
        {
            "request_id": f"clearing-{n}",
            "order_id": f"clearing-order-{n}",
            "payer": {"enterprise_id": "CLR-01", "account": "62166001000011", "name": "Payer"},
            "payee": {"bank_code": "ICBC", "account": "62220200001234", "name": "Supplier"},
            "amount": "99.00",
            "currency": "CNY",
            "bank": "BOC",
            "session": "-",
            "otp": "000000",
        }
    )
    pid = payment_id_for(request.payer.enterprise_id, request.request_id)
    application = Application(
        pid,
        request.request_id,
        StoredContent.of(request.content()),
        applicant_id="a",
        end_to_end_id=f"E2E-CLR-{n}",
    )
    deps.store.create(
        application,
        [Step(PaymentStatus.REQUESTED), Step(PaymentStatus.OTP_VERIFIED)],
        Actor("apply"),
        f"create-{n}",
    )
    for status in (PaymentStatus.PENDING_REVIEW, PaymentStatus.PENDING_AUTH):
        payment = deps.store.get(pid)
        assert payment is not None
        deps.store.transition(payment, [Step(status)], Actor("test"), None)
    payment = deps.store.get(pid)
    assert payment is not None
    # Signed as the authorize stage would: interbank takes nothing else.
    signed = authorization(deps.signer, payment, "authorizer")
    authorized = deps.store.transition(
        payment, [Step(PaymentStatus.AUTHORIZED)], Actor("test"), None, signed
    )
    return signed_handoff(deps.signer, authorized, "authorize", f"auth-{n}").to_wire()


def _deliver_until_done(
    deps: Deps, handoff: dict[str, Any], limit: int = 20
) -> tuple[Outcome, int]:
    """Deliver as dramatiq would: again after every transient fault."""
    for attempt in range(1, limit + 1):
        try:
            return handle_submission(dict(handoff), deps), attempt
        except TransientError:
            continue
    raise AssertionError(f"still transient after {limit} deliveries")


def _faults(deps: Deps, **values: object) -> None:
    deps.redis.hset(deps.keys.clearing_faults, mapping={k: str(v) for k, v in values.items()})


def test_a_timeout_after_clearing_accepted_is_resolved_by_asking_never_by_resubmitting(
    deps: Deps,
) -> None:
    handoff = _authorized(deps, 1)
    _faults(deps, timeout_after_accept=1)
    outcome, attempts = _deliver_until_done(deps, handoff)
    assert (outcome.status, attempts) == ("settled", 2)
    assert deps.clearing.submissions() == ["E2E-CLR-1"]  # type: ignore[attr-defined]


def test_clearing_unavailable_is_retried_until_it_answers_and_submitted_once(deps: Deps) -> None:
    handoff = _authorized(deps, 2)
    _faults(deps, unavailable=3)
    outcome, attempts = _deliver_until_done(deps, handoff)
    assert (outcome.status, attempts) == ("settled", 4)
    assert deps.clearing.submissions() == ["E2E-CLR-2"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("iso_code", ["AC04", "AM04"])
def test_a_clearing_rejection_fails_the_payment_with_the_iso_reason(
    deps: Deps, iso_code: str
) -> None:
    handoff = _authorized(deps, 3)
    _faults(deps, reject_next=1, reject_code=iso_code)
    outcome, _ = _deliver_until_done(deps, handoff)
    assert outcome.status == "failed"
    payment = deps.store.get(handoff["payment_id"])
    assert payment is not None
    last = payment.history[-1]
    assert (last.status, last.reason_code, last.stage) == ("failed", iso_code, "interbank")
    # A redelivery of the hand-off changes nothing and submits nothing.
    again, _ = _deliver_until_done(deps, handoff)
    assert again.outcome == "ignored"
    assert deps.clearing.submissions() == ["E2E-CLR-3"]  # type: ignore[attr-defined]


def test_a_slow_clearing_house_still_settles_the_payment_once(deps: Deps) -> None:
    handoff = _authorized(deps, 4)
    _faults(deps, delay_ms=300)
    outcome, attempts = _deliver_until_done(deps, handoff)
    assert (outcome.status, attempts) == ("settled", 1)
    assert deps.clearing.submissions() == ["E2E-CLR-4"]  # type: ignore[attr-defined]


def test_a_late_settlement_leaves_the_payment_submitted_and_is_asked_again(deps: Deps) -> None:
    handoff = _authorized(deps, 5)
    _faults(deps, settle_after_polls=2)
    outcome, attempts = _deliver_until_done(deps, handoff)
    assert (outcome.status, attempts) == ("settled", 3)
    payment = deps.store.get(handoff["payment_id"])
    assert payment is not None
    assert [e.status for e in payment.history][-2:] == ["submitted", "settled"]
    assert deps.clearing.submissions() == ["E2E-CLR-5"]  # type: ignore[attr-defined]
