"""The one path every stage command takes, so that each handler keeps only its stage's rules.

A person's command (review, authorization, cancellation):

    decode -> who sends it (a live session; a redelivery after logout is answered as a
    duplicate) -> their enterprise's payment -> a duplicate? -> the stage's role
    -> the stage's rules -> commit; or refuse and record.

A stage's hand-off (intake, submission):

    decode -> [hold a lease] -> the payment -> the handing stage's signature and the stored
    state -> the stage's rules; or refuse and record.

The order is the disclosure rule (:mod:`shared.security.disclosure`): nothing about a
payment is looked at, told or recorded on it before its sender is known as a person of the
payer; ``wrong_role`` reaches only such a person. Do not reorder these steps.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, SecretStr

from shared.app.deps import Deps
from shared.app.expiry import transition_before_deadline
from shared.app.guard import (
    UNKNOWN_PAYMENT,
    Attempt,
    Outcome,
    admit,
    decode,
    identify,
    load_own_payment,
    load_payment,
    raw_id,
    redelivered,
    refuse,
)
from shared.domain.contracts import Handoff
from shared.domain.errors import Refusal
from shared.domain.parties import Person
from shared.domain.payment import Actor, Change, Payment
from shared.redis.lease import Lease
from shared.redis.store import RecordedRefusal
from shared.security.stage_signatures import check_handoff


def run_command(deps: Deps, attempt: Attempt, body: Callable[[], Outcome]) -> Outcome:
    """Run ``body``; a refusal it raises is recorded and told as ``attempt`` allows (one the
    atomic write already recorded is not recorded again)."""
    try:
        return body()
    except RecordedRefusal as refusal:
        return Outcome("refused", attempt.payment_id, None, refusal.reason_code.value)
    except Refusal as refusal:
        return refuse(deps, attempt, refusal)


class PersonCommand(Protocol):
    """What every person's command carries besides its stage's fields."""

    @property
    def command_id(self) -> str: ...
    @property
    def payment_id(self) -> str: ...
    @property
    def session(self) -> SecretStr: ...


Command = TypeVar("Command", bound=BaseModel)


@dataclass(frozen=True)
class Checked(Generic[Command]):
    """A person's command past the common checks: its sender is a live session of the
    payer's enterprise in the stage's role, and it names a payment it has not changed yet."""

    attempt: Attempt
    command: Command
    person: Person
    payment: Payment

    @property
    def user_id(self) -> str:
        return self.person.user.username


def answered_duplicate(deps: Deps, payment: Payment, command_id: str) -> Outcome:
    """A redelivered command: answered from the payment as it is."""
    return Outcome("duplicate", payment.payment_id, payment.status.value)


def person_command(
    raw: Any,
    deps: Deps,
    stage: str,
    contract: type[Command],
    role: str,
    decide: Callable[[Deps, Checked[Command]], Outcome],
    duplicate: Callable[[Deps, Payment, str], Outcome] = answered_duplicate,
) -> Outcome:
    """A person's command to ``stage``, through the common checks in their fixed order, then
    ``decide``; ``duplicate`` answers a redelivery."""
    attempt = Attempt(
        stage, raw_id(raw, "payment_id") or UNKNOWN_PAYMENT, raw_id(raw, "command_id"), Actor(stage)
    )

    def body() -> Outcome:
        command = decode(contract, raw)
        sent = cast(PersonCommand, command)
        # Who asks comes first: only a person of the payer learns anything of the payment.
        try:
            person = identify(deps, sent.session.get_secret_value(), attempt)
        except Refusal:
            again = redelivered(deps, sent.payment_id, sent.command_id)
            if again is None:
                raise
            return duplicate(deps, again, sent.command_id)
        payment = load_own_payment(deps, attempt, sent.payment_id, person)
        if payment.applied(sent.command_id):
            return duplicate(deps, payment, sent.command_id)
        person.check_role(role)
        return decide(deps, Checked(attempt, command, person, payment))

    return run_command(deps, attempt, body)


def commit(
    deps: Deps, checked: Checked[Any], change: Change, fault_point: str | None = None
) -> Payment:
    """The command passed every check: make the change atomically, unless the deadline
    passed or the session ended meanwhile; the same atomic call restarts the session's idle
    timeout. Returns the changed payment."""
    session = admit(deps, checked.person)
    if fault_point is not None:
        deps.faults.point(fault_point)
    return transition_before_deadline(
        deps,
        checked.payment,
        change,
        checked.attempt.actor,
        checked.attempt.command_id,
        session=session,
    )


def accepted(payment: Payment) -> Outcome:
    return Outcome("accepted", payment.payment_id, payment.status.value)


@dataclass(frozen=True)
class HandedOn:
    """A stage's hand-off past the common checks: signed by the handing stage, for the
    payment as stored."""

    attempt: Attempt
    handoff: Handoff
    payment: Payment
    #: Held while the stage handles the hand-off, if the stage asked for one.
    lease: Lease | None


def stage_handoff(
    raw: Any,
    deps: Deps,
    stage: str,
    from_stage: str,
    take: Callable[[Deps, HandedOn], Outcome],
    hold: Callable[[Deps, Handoff], AbstractContextManager[Lease]] | None = None,
) -> Outcome:
    """A hand-off from ``from_stage`` to ``stage``: decoded, (under ``hold``) its payment
    loaded and its signature checked against the stored state, before anything else; then
    ``take``."""
    attempt = Attempt(stage, raw_id(raw, "payment_id") or UNKNOWN_PAYMENT, None, Actor(stage))

    def body() -> Outcome:
        handoff = decode(Handoff, raw)
        held: AbstractContextManager[Lease | None] = (
            hold(deps, handoff) if hold is not None else nullcontext()
        )
        with held as lease:
            payment = load_payment(
                deps, attempt, handoff.payment_id, "hand-off for an unknown payment"
            )
            # Before anything else: only what the handing stage signed, for this stored state.
            check_handoff(deps.signer, handoff, from_stage, payment)
            return take(deps, HandedOn(attempt, handoff, payment, lease))

    return run_command(deps, attempt, body)
