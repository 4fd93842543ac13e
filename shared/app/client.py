"""The application client: what a person does, as typed functions that every entrypoint calls.

Each command function validates its input, sends the command to its stage and, if asked,
waits for the stage's verdict (or, in two steps: build the command, which needs no
dependencies, then :func:`send` it); each view checks the person's session and shows only their
enterprise's payments. Nothing here prints or exits: the CLI (:mod:`services.cli`), the demo
(:mod:`services.demo`), the tests and an HTTP API render what these return or raise.

What a person is told about a refusal is decided here once (:mod:`shared.security.disclosure`):
a verdict or a view never says which authentication factor failed.

Business rules are not here: the stages decide (a command that passes these checks can still
be refused by its stage). These checks only spare a round trip for input that cannot be right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, get_args

from pydantic import SecretStr, ValidationError

from shared.app import access
from shared.app.deps import Deps
from shared.app.guard import describe_validation_error, identify
from shared.domain.contracts import (
    ApplicantConfirmation,
    AuthDecision,
    CancelPayment,
    Contract,
    PaymentRequest,
    PaymentRequestV2,
    PlatformCancel,
    ReviewDecision,
    Verdict,
    payment_id_for,
)
from shared.domain.errors import B2bpayError, ReasonCode, Refusal
from shared.domain.parties import Person
from shared.domain.views import HistoryEntry, PaymentListItem, PaymentView, RefusalEntry
from shared.messaging import routes as q
from shared.security.disclosure import AUTHENTICATION_FAILED, GENERIC_REASON, for_person
from shared.security.linking import what_is_signed
from shared.security.session_tokens import Session

#: The schema a payment request is read as when it names none.
DEFAULT_REQUEST_SCHEMA = "b2bpay.payment_request.v1"

#: A command a person (or a platform) sends to a stage.
Command = (
    PaymentRequest
    | ReviewDecision
    | AuthDecision
    | CancelPayment
    | PaymentRequestV2
    | ApplicantConfirmation
    | PlatformCancel
)

#: Where each command goes: its queue, and the actor there that takes it, as the routes table
#: says (a command's contract is on exactly one route; ``tests/unit/test_routes.py``).
ROUTE: dict[type[Contract], tuple[str, str]] = {
    route.contract: (route.queue, route.actor)
    for route in q.ROUTES
    if route.contract in get_args(Command)
}


# -- errors ----------------------------------------------------------------------------------
class ClientError(B2bpayError):
    """Raised when the client sends nothing or shows nothing; nothing was changed."""

    #: The reason code an entrypoint shows with the message, if any.
    reason_code: str | None = None


class InvalidCommand(ClientError):
    """Raised when a command is not valid as given (the message says why); nothing was sent."""


class ReasonRequired(InvalidCommand):
    """Raised when a rejection comes without a reason; nothing was sent."""

    def __init__(self) -> None:
        super().__init__("a rejection needs a reason")


class AuthenticationFailed(ClientError):
    """Raised when a session or a password is not accepted; it never says which factor
    failed, nor whether the user exists."""

    reason_code = AUTHENTICATION_FAILED

    def __init__(self) -> None:
        super().__init__(GENERIC_REASON)


class PaymentNotFound(ClientError):
    """Raised when a payment is missing, not yet in the read model, or another enterprise's:
    the one answer for all three."""

    reason_code = ReasonCode.PAYMENT_NOT_FOUND.value

    def __init__(self, payment_id: str) -> None:
        super().__init__(
            f"no payment {payment_id} for your enterprise (or not yet in the read model)"
        )
        self.payment_id = payment_id


# -- commands --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sent:
    """A command handed to its stage, and the stage's verdict as its sender may see it."""

    command_id: str
    payment_id: str
    #: The stage's verdict; None if the sender did not wait, or none came in time.
    verdict: Verdict | None = None
    #: Seconds the sender waited for the verdict; None if it did not wait.
    waited: float | None = None


def payment_id_of(command: Command) -> str:
    if isinstance(command, PaymentRequestV2):
        return payment_id_for(command.payer.enterprise_id, command.request_id, command.platform_id)
    if isinstance(command, PaymentRequest):
        return payment_id_for(command.payer.enterprise_id, command.request_id)
    return command.payment_id


def send(deps: Deps, command: Command, wait: float | None = None) -> Sent:
    """Send a valid command to its stage; with ``wait``, wait that many seconds for its
    verdict. A refusal's reason is the one its sender may see (see
    :func:`shared.security.disclosure.for_person`); the refusal event keeps the precise one."""
    queue, actor = ROUTE[type(command)]
    deps.dispatch(queue, actor, command.to_wire())
    payment_id = payment_id_of(command)
    if wait is None:
        return Sent(command.command_id, payment_id)
    verdict = deps.store.wait_verdict(command.command_id, wait)
    if verdict is not None and verdict.outcome == "refused":
        # Never say which factor failed.
        code, reason = for_person(verdict.reason_code, verdict.reason)
        verdict = verdict.model_copy(update={"reason_code": code, "reason": reason})
    return Sent(command.command_id, payment_id, verdict, wait)


def payment_request(request: Mapping[str, Any], *, session: str, otp: str) -> PaymentRequest:
    """A valid payment request from its fields (a :class:`PaymentRequest` without session and
    code; v1 unless it names its ``schema``) and the applicant's credentials."""
    fields = {"schema": DEFAULT_REQUEST_SCHEMA, **request, "session": session, "otp": otp}
    try:
        return PaymentRequest.model_validate(fields)
    except ValidationError as e:
        raise InvalidCommand(f"invalid payment request: {describe_validation_error(e)}") from e


def review_decision(
    payment_id: str, *, approve: bool, session: str, reason: str = ""
) -> ReviewDecision:
    """A valid reviewer's decision; a rejection needs a reason."""
    _reason_given(approve, reason)
    try:
        return ReviewDecision(
            payment_id=payment_id, approve=approve, reason=reason, session=SecretStr(session)
        )
    except ValidationError as e:
        raise InvalidCommand(describe_validation_error(e)) from e


def auth_decision(
    payment_id: str, *, approve: bool, session: str, otp: str, reason: str = ""
) -> AuthDecision:
    """A valid authorizer's decision, with the code answering the payment's challenge
    (:func:`challenge`); a rejection needs a reason."""
    _reason_given(approve, reason)
    try:
        return AuthDecision(
            payment_id=payment_id,
            approve=approve,
            reason=reason,
            session=SecretStr(session),
            otp=SecretStr(otp),
        )
    except ValidationError as e:
        raise InvalidCommand(describe_validation_error(e)) from e


def cancellation(payment_id: str, *, session: str, reason: str = "") -> CancelPayment:
    """A valid applicant's cancellation."""
    try:
        return CancelPayment(payment_id=payment_id, reason=reason, session=SecretStr(session))
    except ValidationError as e:
        raise InvalidCommand(describe_validation_error(e)) from e


def _reason_given(approve: bool, reason: str) -> None:
    if not approve and not reason.strip():
        raise ReasonRequired


def submit(
    deps: Deps,
    request: Mapping[str, Any],
    *,
    session: str,
    otp: str,
    wait: float | None = None,
) -> Sent:
    """Start a payment as applicant (see :func:`payment_request`)."""
    return send(deps, payment_request(request, session=session, otp=otp), wait)


def review(
    deps: Deps,
    payment_id: str,
    *,
    approve: bool,
    session: str,
    reason: str = "",
    wait: float | None = None,
) -> Sent:
    """Approve or reject a payment as its reviewer (see :func:`review_decision`)."""
    decision = review_decision(payment_id, approve=approve, session=session, reason=reason)
    return send(deps, decision, wait)


def authorize(
    deps: Deps,
    payment_id: str,
    *,
    approve: bool,
    session: str,
    otp: str,
    reason: str = "",
    wait: float | None = None,
) -> Sent:
    """Approve or reject a payment as its authorizer (see :func:`auth_decision`)."""
    decision = auth_decision(payment_id, approve=approve, session=session, otp=otp, reason=reason)
    return send(deps, decision, wait)


def cancel(
    deps: Deps, payment_id: str, *, session: str, reason: str = "", wait: float | None = None
) -> Sent:
    """Withdraw a payment as its applicant; the stage allows it only before authorization."""
    return send(deps, cancellation(payment_id, session=session, reason=reason), wait)


def confirmation(
    payment_id: str, *, session: str, otp: str, bank: str | None = None
) -> ApplicantConfirmation:
    """A valid applicant's confirmation of a platform's request."""
    try:
        return ApplicantConfirmation(
            payment_id=payment_id, bank=bank, session=SecretStr(session), otp=SecretStr(otp)
        )
    except ValidationError as e:
        raise InvalidCommand(describe_validation_error(e)) from e


def confirm(
    deps: Deps,
    payment_id: str,
    *,
    session: str,
    otp: str,
    bank: str | None = None,
    wait: float | None = None,
) -> Sent:
    """Take up a platform's request as its applicant (the pay page, seed steps 3-6): the
    bank if the request named none, and the one-time code (see :func:`confirmation`)."""
    return send(deps, confirmation(payment_id, session=session, otp=otp, bank=bank), wait)


# -- sessions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoggedIn:
    """A new session: its token, what it is bound to, and its idle timeout."""

    token: str
    session: Session
    idle_seconds: int


def login(deps: Deps, username: str, password: str, *, client: str | None = None) -> LoggedIn:
    """A session for the right password of an active, unlocked user, else
    :class:`AuthenticationFailed`. Too many recent failures for the username or from
    ``client`` raise :class:`shared.redis.throttle.Throttled` (told alike for every
    username, known or not)."""
    opened = access.login(deps, username, password, client=client)
    if opened is None:
        raise AuthenticationFailed
    token, session = opened
    return LoggedIn(token, session, deps.sessions.idle_seconds)


def logout(deps: Deps, session: str) -> None:
    """End a session now: every stage refuses its token from then on."""
    try:
        deps.sessions.revoke(session)
    except Refusal:
        raise AuthenticationFailed from None


# -- views -----------------------------------------------------------------------------------
class PaymentViews(Protocol):
    """The query service's read model, as the views read it."""

    def payment(self, payment_id: str) -> PaymentView | None: ...

    def list(
        self,
        status: str | None = None,
        enterprise_id: str | None = None,
        limit: int = 1000,
        after: tuple[str, str] | None = None,
    ) -> list[PaymentListItem]: ...


def person(deps: Deps, session: str) -> Person:
    """The person behind a live session, or :class:`AuthenticationFailed`. A view is not a
    command: it does not restart the session's idle timeout."""
    try:
        return identify(deps, session)
    except Refusal:
        raise AuthenticationFailed from None


def challenge(deps: Deps, payment_id: str, *, session: str) -> dict[str, str | None]:
    """What the authorizer signs: the amount, currency and payee of a payment of their
    enterprise, and the challenge their token answers. Raises
    :class:`shared.domain.errors.Refusal` (``content_mismatch``) rather than show a payment
    whose stored fields its content hash does not cover: not its amount, not its challenge."""
    who = person(deps, session)
    payment = deps.store.get(payment_id)
    if payment is None or not who.sees(payment):
        raise PaymentNotFound(payment_id)
    return what_is_signed(payment, deps.settings.authorizer_otp)


def status(
    deps: Deps, views: Callable[[], PaymentViews], payment_id: str, *, session: str
) -> PaymentView:
    """A payment of the person's enterprise with its history, as its people see it. The read
    model (``views``) is opened only once the person is authenticated."""
    who = person(deps, session)
    found = views().payment(payment_id)
    if found is None or not who.sees_payer(found.enterprise_id):
        raise PaymentNotFound(payment_id)
    return as_person_sees_it(found)


def list_payments(
    deps: Deps,
    views: Callable[[], PaymentViews],
    *,
    session: str,
    status: str | None = None,
    limit: int = 1000,
    after: tuple[str, str] | None = None,
) -> list[PaymentListItem]:
    """The payments of the person's enterprise, optionally with one status, oldest first;
    ``after`` (``created_at``, ``payment_id``) of the last one seen gives the next page."""
    who = person(deps, session)
    return views().list(status, who.scope, limit, after)


def verdict_of(deps: Deps, command_id: str) -> Verdict | None:
    """The stage's verdict on a command no one has waited out yet, as its sender may see it,
    without taking it (None until it comes). The caller checks who may ask."""
    raw: Any = deps.redis.lindex(deps.keys.verdict(command_id), 0)
    if raw is None:
        return None
    verdict = Verdict.model_validate_json(raw)
    if verdict.outcome == "refused":
        code, reason = for_person(verdict.reason_code, verdict.reason)
        verdict = verdict.model_copy(update={"reason_code": code, "reason": reason})
    return verdict


def as_person_sees_it(found: PaymentView) -> PaymentView:
    """A read-model payment as its own people see it: generic codes for failed
    authentication, and without refusals to outsiders (``seq`` 0, not about the payment)."""
    history = tuple(_generic(h) for h in found.history)
    refusals = tuple(_generic(r) for r in found.refusals if r.seq)
    return found.model_copy(update={"history": history, "refusals": refusals})


#: A line of a payment's history or refusals: what :func:`_generic` keeps the type of.
_Entry = TypeVar("_Entry", HistoryEntry, RefusalEntry)


def _generic(entry: _Entry) -> _Entry:
    code, reason = for_person(entry.reason_code, entry.reason)
    return entry.model_copy(update={"reason_code": code, "reason": reason})
