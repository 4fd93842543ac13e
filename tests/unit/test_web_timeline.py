"""The progress timeline: the manual's steps done, where a payment stopped, and nothing after."""

from __future__ import annotations

from dataclasses import replace

from services.web.timeline import timeline
from shared.domain.contracts import StatusEvent
from shared.domain.payment import Payment
from shared.domain.states import PaymentStatus


def _event(seq: int, status: str, stage: str, role: str | None, who: str | None) -> StatusEvent:
    return StatusEvent(
        event_id=f"e{seq}",
        kind="transition",
        payment_id="pay_1",
        seq=seq,
        status=status,
        previous_status=None,
        stage=stage,
        actor_role=role,
        actor_id=who,
        reason_code="rejected_by_authorizer" if status == "rejected" else None,
        reason="over budget" if status == "rejected" else None,
        at=f"2026-12-01T03:00:0{seq}Z",
    )


def _payment(status: str, events: list[StatusEvent]) -> Payment:
    from shared.domain.content import StoredContent

    empty = StoredContent(None, None, None, None, None, None, None, None, None, None)
    return Payment(
        payment_id="pay_1",
        status=PaymentStatus(status),
        content=empty,
        request_id="r1",
        version=len(events),
        applicant_id="ann",
        reviewer_id="rob",
        history=events,
    )


def test_rejected_by_the_authorizer_stops_at_the_authorization() -> None:
    events = [
        _event(1, "requested", "apply", None, None),
        _event(2, "otp_verified", "apply", "applicant", "ann"),
        _event(3, "pending_review", "review", None, None),
        _event(4, "pending_auth", "review", "reviewer", "rob"),
        _event(5, "rejected", "authorize", "authorizer", "cat"),
    ]
    shown = timeline(_payment("rejected", events))
    states = {row.step: row.state for row in shown.rows}
    assert [states[s] for s in range(1, 12)] == ["done"] * 11
    assert states[12] == "stopped" and shown.rows[11].who == "cat"
    assert {states[s] for s in range(13, 17)} == {"skipped"}
    assert (shown.end_reason, shown.end_by) == ("over budget", "cat")


def test_in_review_the_current_step_is_the_review() -> None:
    events = [
        _event(1, "requested", "apply", None, None),
        _event(2, "otp_verified", "apply", "applicant", "ann"),
        _event(3, "pending_review", "review", None, None),
    ]
    shown = timeline(replace(_payment("pending_review", events), reviewer_id=None))
    states = [row.state for row in shown.rows]
    assert states[:8] == ["done"] * 8
    assert states[8] == "current" and set(states[9:]) == {"todo"}
    assert not shown.final


def test_an_expired_payment_tells_where_it_waited_not_the_sweepers_wording() -> None:
    events = [
        _event(1, "requested", "apply", None, None),
        _event(2, "otp_verified", "apply", "applicant", "ann"),
        _event(3, "pending_review", "review", None, None),
        _event(4, "expired", "sweeper", None, None).model_copy(
            update={"reason": "not acted on in pending_review in time"}
        ),
    ]
    shown = timeline(replace(_payment("expired", events), reviewer_id=None))
    assert (shown.expired_in, shown.end_reason) == ("pending_review", None)
    assert shown.end_at == "2026-12-01T03:00:04Z"
    assert [row.state for row in shown.rows].count("stopped") == 1
