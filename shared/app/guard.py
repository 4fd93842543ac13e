"""What every stage checks of the person behind a command: a live session of an active,
unlocked user (before anything about the payment is looked at), of the payer enterprise, of
the right role; and how a refusal is recorded and told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError
from redis.client import Pipeline

from shared.app.deps import Deps
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import Person
from shared.domain.payment import UNVERIFIED, Actor, Payment
from shared.redis.directory import UserRecordInvalid
from shared.redis.sessions import SessionUse
from shared.security.disclosure import for_person
from shared.security.session_tokens import Session

log = structlog.get_logger()


NOT_FOUND = "no such payment"


def identify(deps: Deps, token: str, attempt: Attempt | None = None) -> Person:
    """The person behind a live session (token, session record, the user's state), or a
    :class:`Refusal`. Nothing about any payment is looked at before this passed.

    Not a use of the session: only a command that passes every check restarts its idle
    timeout (:func:`admit`). On a refusal, ``attempt`` records the user the token claims,
    as unverified, if its MAC holds (see :meth:`shared.redis.sessions.Sessions.claimed_user`)."""
    try:
        # The session, the user's record and lock: one round trip.
        session, (record, locked) = deps.sessions.verify_reading(token, _user_and_lock(deps))
        try:
            user = deps.directory.user_in(session.username, record)
        except UserRecordInvalid:
            raise Refusal(
                ReasonCode.USER_RECORD_INVALID, "the user's record fails its integrity check"
            ) from None
        if user is None or user.role != session.role or user.enterprise_id != session.enterprise_id:
            raise Refusal(ReasonCode.SESSION_INVALID, "session does not match a known user")
        if not user.active or deps.otp.locked_in(locked):
            raise Refusal(ReasonCode.USER_LOCKED, "user is locked or disabled")
    except Refusal:
        if attempt is not None:
            claimed = deps.sessions.claimed_user(token)
            attempt.actor = Actor(attempt.actor.stage, UNVERIFIED if claimed else None, claimed)
        raise
    if attempt is not None:
        attempt.actor = Actor(attempt.actor.stage, user.role, user.username)
    return Person(user, session)


def _user_and_lock(deps: Deps) -> Callable[[Pipeline, Session], None]:
    def reads(pipe: Pipeline, session: Session) -> None:
        deps.directory.read_user(pipe, session.username)
        deps.otp.read_locked(pipe, session.username)

    return reads


def authenticate(deps: Deps, token: str, role: str, payer_enterprise: str) -> Person:
    """:func:`identify`, then the role, then the enterprise: so ``wrong_role`` and
    ``wrong_enterprise`` reach only a person already authenticated (see
    :mod:`shared.security.disclosure`). Not a use of the session either."""
    person = identify(deps, token)
    person.check_role(role)
    person.check_enterprise(payer_enterprise)
    return person


def admit(deps: Deps, person: Person) -> SessionUse:
    """The command passed every check (session, role, enterprise, one-time code, the stage's
    rules): the use of the session to hand to the atomic write that commits it, which checks
    the session again (refusing one that ended meanwhile) and restarts its idle timeout only
    if the change is made."""
    session = person.session
    # Only identify() makes a person, always of a Session; the domain knows its claims only.
    assert isinstance(session, Session), "a person is identified by a session"
    return deps.sessions.use(session)


Contract = TypeVar("Contract", bound=BaseModel)


def decode(contract: type[Contract], raw: Any) -> Contract:
    """The message as its contract, or an ``invalid_request`` refusal that never echoes it."""
    try:
        return contract.model_validate(raw)
    except ValidationError as e:
        raise Refusal(ReasonCode.INVALID_REQUEST, describe_validation_error(e)) from None


def load_payment(
    deps: Deps, attempt: Attempt, payment_id: str, missing: str = NOT_FOUND
) -> Payment:
    """The payment a hand-off names (bound to the log context and the refusal record), or a
    ``payment_not_found`` refusal."""
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    payment = deps.store.get(payment_id)
    if payment is None:
        raise Refusal(ReasonCode.PAYMENT_NOT_FOUND, missing)
    attempt.summary = payment.summary()
    attempt.attached = True
    return payment


def load_own_payment(deps: Deps, attempt: Attempt, payment_id: str, person: Person) -> Payment:
    """The payment a person's command names, if it is their enterprise's; else
    ``payment_not_found``, word for word the same whether it exists or not. Only from here
    on are refusals recorded on the payment (and its status told)."""
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    payment = deps.store.get(payment_id)
    if payment is None or not person.sees(payment):
        raise Refusal(ReasonCode.PAYMENT_NOT_FOUND, NOT_FOUND)
    attempt.summary = payment.summary()
    attempt.attached = True
    return payment


def redelivered(deps: Deps, payment_id: str, command_id: str) -> Payment | None:
    """The payment a command already changed, for a redelivered message whose session has
    ended since (logout, expiry): it is answered as a duplicate, as before. Nobody learns
    anything from it who does not hold the original command id."""
    payment = deps.store.get(payment_id)
    return payment if payment is not None and payment.applied(command_id) else None


def describe_validation_error(error: ValidationError) -> str:
    """Where and why a message is invalid, never echoing the input (it may hold secrets)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)[:500]


@dataclass
class Attempt:
    """What is known about a command while a stage handles it, for the refusal record."""

    stage: str
    payment_id: str
    command_id: str | None
    actor: Actor
    summary: dict[str, str | None] = field(default_factory=dict)
    #: Whether a refusal goes on the payment's own record: only once the sender is known as a
    #: person of the payer enterprise (or the sender is a stage). Until then a refusal tells
    #: and records nothing about the payment
    #: (:meth:`shared.redis.store.PaymentStore.refuse_unattached`).
    attached: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a handler did with a message, for the actor's log line."""

    outcome: str  # accepted | refused | duplicate | ignored | dead_lettered
    payment_id: str
    status: str | None = None
    reason_code: str | None = None
    #: Set when the message itself is unusable: the actor keeps it in the dead-letter queue.
    dead_letter_reason: str | None = None


UNKNOWN_PAYMENT = "pay_invalid"


def raw_id(raw: Any, name: str) -> str | None:
    """An identifier field of a message not yet validated, if it looks like one."""
    value = raw.get(name) if isinstance(raw, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def refuse(deps: Deps, attempt: Attempt, refusal: Refusal) -> Outcome:
    """Record a refusal (event + verdict); the payment itself is left as it was.

    To the payer's own people, on the payment's record; to anyone else (a bad session,
    another enterprise, a message too broken to say who sent it), outside it, telling the
    sender only what :func:`shared.security.disclosure.for_person` allows. An invalid message is
    also dead-lettered; one that names no payment at all gets no event, only the dead
    letter."""
    invalid = refusal.reason_code == ReasonCode.INVALID_REQUEST
    if attempt.payment_id != UNKNOWN_PAYMENT and attempt.attached:
        deps.store.refuse(
            attempt.payment_id, attempt.actor, refusal, attempt.command_id, attempt.summary
        )
    elif attempt.payment_id != UNKNOWN_PAYMENT:
        told = for_person(refusal.reason_code.value, refusal.detail or refusal.reason_code.value)
        deps.store.refuse_unattached(
            attempt.payment_id, attempt.actor, refusal, attempt.command_id, told
        )
    log.info(
        "command refused",
        payment_id=attempt.payment_id,
        reason_code=refusal.reason_code.value,
        actor_id=attempt.actor.user_id,
    )
    return Outcome(
        "dead_lettered" if invalid else "refused",
        attempt.payment_id,
        None,
        refusal.reason_code.value,
        dead_letter_reason=f"{refusal.reason_code.value}: {refusal.detail}" if invalid else None,
    )
