"""What every stage checks of the person behind a command: a live session of the right
role, of the payer enterprise, for an active, unlocked user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from shared.bootstrap import Deps
from shared.directory import User, UserRecordInvalid
from shared.errors import ReasonCode, Refusal
from shared.store import Actor, Payment

log = structlog.get_logger()


def authenticate(deps: Deps, token: str, role: str, payer_enterprise: str) -> User:
    """The user behind a live session who may act here, or a :class:`Refusal`.

    The order matters: everything about authentication (token, session record, the user's
    state) is checked before the role and the enterprise, so ``wrong_role`` and
    ``wrong_enterprise`` reach only a person already authenticated (see
    :mod:`shared.disclosure`). Only a use that passes every check restarts the session's
    idle timeout."""
    session = deps.sessions.verify(token)
    try:
        user = deps.directory.verified_user(session.username)
    except UserRecordInvalid:
        raise Refusal(
            ReasonCode.USER_RECORD_INVALID, "the user's record fails its integrity check"
        ) from None
    if user is None or user.role != session.role or user.enterprise_id != session.enterprise_id:
        raise Refusal(ReasonCode.SESSION_INVALID, "session does not match a known user")
    if not user.active or deps.otp.is_locked(user.username):
        raise Refusal(ReasonCode.USER_LOCKED, "user is locked or disabled")
    if session.role != role:
        raise Refusal(ReasonCode.WRONG_ROLE, f"this step needs the {role} role")
    if session.enterprise_id != payer_enterprise:
        raise Refusal(
            ReasonCode.WRONG_ENTERPRISE, "the user does not belong to the payer enterprise"
        )
    deps.sessions.refresh(session)
    return user


Contract = TypeVar("Contract", bound=BaseModel)


def decode(contract: type[Contract], raw: Any) -> Contract:
    """The message as its contract, or an ``invalid_request`` refusal that never echoes it."""
    try:
        return contract.model_validate(raw)
    except ValidationError as e:
        raise Refusal(ReasonCode.INVALID_REQUEST, describe_validation_error(e)) from None


def load_payment(
    deps: Deps, attempt: Attempt, payment_id: str, missing: str = "no such payment"
) -> Payment:
    """The payment a command names (bound to the log context and the refusal record), or a
    ``payment_not_found`` refusal."""
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    payment = deps.store.get(payment_id)
    if payment is None:
        raise Refusal(ReasonCode.PAYMENT_NOT_FOUND, missing)
    attempt.summary = payment.summary()
    return payment


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

    def as_user(self, user: User) -> None:
        self.actor = Actor(self.actor.stage, user.role, user.username)


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

    An invalid message is also dead-lettered; one that names no payment at all gets no
    event (there is no payment to attach it to), only the dead letter."""
    invalid = refusal.reason_code == ReasonCode.INVALID_REQUEST
    if attempt.payment_id != UNKNOWN_PAYMENT:
        deps.store.refuse(
            attempt.payment_id, attempt.actor, refusal, attempt.command_id, attempt.summary
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
