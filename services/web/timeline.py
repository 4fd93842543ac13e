"""A payment's progress as the manual's sixteen steps (the mapping is the demo's,
:mod:`shared.domain.manual`), with who acted and when, and its final state told plainly."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.manual import MANUAL_STEPS, STEP_EVENT, STEP_ROLE
from shared.domain.payment import Payment
from shared.domain.states import TERMINAL
from shared.security.disclosure import for_person


@dataclass(frozen=True)
class Row:
    step: int
    #: ``done``, ``current``, ``todo``, ``stopped`` (where it ended without settling) or
    #: ``skipped`` (after that).
    state: str
    role: str | None
    who: str | None
    at: str | None


@dataclass(frozen=True)
class Timeline:
    payment_id: str
    status: str
    final: bool
    rows: list[Row] = field(default_factory=list)
    #: Why the payment ended where it did (rejected, cancelled, expired, failed).
    end_code: str | None = None
    end_reason: str | None = None
    end_by: str | None = None
    end_at: str | None = None
    #: An expired payment: the status nobody moved it on from (told in words, where the
    #: stored reason is the sweeper's own wording).
    expired_in: str | None = None


#: The step at which each person logs in.
_LOGIN_STEP = {"applicant": 4, "reviewer": 7, "authorizer": 11}


def _event_of(step: int) -> str | None:
    """The status that marks a step done: its own, or the next step's that has one."""
    for later in range(step, len(MANUAL_STEPS) + 1):
        if later in STEP_EVENT:
            return STEP_EVENT[later]
    return None


def timeline(payment: Payment) -> Timeline:
    reached = {e.status: e for e in payment.history if e.kind == "transition" and e.status}
    status = payment.status.value
    final = payment.status in TERMINAL
    people = {
        "applicant": payment.applicant_id,
        "reviewer": payment.reviewer_id,
        "authorizer": payment.authorizer_id,
    }
    ended = reached.get(status) if final and status != "settled" else None
    rows: list[Row] = []
    current_set = False
    for step, _manual, _system in MANUAL_STEPS:
        marker = _event_of(step)
        event = reached.get(marker) if marker else None
        done = event is not None or (step == len(MANUAL_STEPS) and status == "settled")
        role = STEP_ROLE.get(step)
        if done:
            at = event.at if event else (reached["settled"].at if "settled" in reached else None)
            who = people.get(role) if role else None
            rows.append(Row(step, "done", role, who, at))
        elif ended is not None and ended.actor_role and _LOGIN_STEP.get(ended.actor_role) == step:
            # Whoever ended it (a rejection, a cancellation) had logged in to do so.
            rows.append(Row(step, "done", role, ended.actor_id, ended.at))
        elif ended is not None and not current_set:
            # Where it stopped: the step at which it was rejected, cancelled or expired.
            rows.append(Row(step, "stopped", role, ended.actor_id, ended.at))
            current_set = True
        elif final:
            rows.append(Row(step, "skipped", role, None, None))
        else:
            rows.append(Row(step, "todo" if current_set else "current", role, None, None))
            current_set = True
    shown = Timeline(payment.payment_id, status, final, rows)
    if final and status != "settled":
        last = reached.get(status)
        if last is not None:
            code, reason = for_person(last.reason_code, last.reason)
            expired_in = _status_before(payment, status) if status == "expired" else None
            return Timeline(
                payment.payment_id,
                status,
                final,
                rows,
                end_code=code,
                end_reason=None if expired_in else reason,
                end_by=last.actor_id if last.actor_role else None,
                end_at=last.at,
                expired_in=expired_in,
            )
    return shown


def _status_before(payment: Payment, status: str) -> str | None:
    """The status the payment was in when it moved to ``status``."""
    statuses = [e.status for e in payment.history if e.kind == "transition" and e.status]
    if status not in statuses:
        return None
    at = statuses.index(status)
    return statuses[at - 1] if at > 0 else None
