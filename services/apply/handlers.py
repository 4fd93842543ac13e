"""Apply-stage handlers: plain functions of (message, deps)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import structlog
from redis.client import Pipeline

from shared.app.commands import (
    Checked,
    accepted,
    answered_duplicate,
    commit,
    person_command,
    run_command,
)
from shared.app.deps import Deps, platforms_of
from shared.app.expiry import refuse_if_overdue, transition_before_deadline
from shared.app.guard import (
    NOT_FOUND,
    UNKNOWN_PAYMENT,
    Attempt,
    Outcome,
    admit,
    decode,
    identify,
    raw_id,
)
from shared.domain.content import StoredContent
from shared.domain.contracts import (
    ApplicantConfirmation,
    CancelPayment,
    PaymentRequest,
    PaymentRequestV2,
    PlatformCancel,
    payment_id_for,
)
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import known_payer
from shared.domain.payment import Actor, Application, Change, Payment, Record, Step
from shared.domain.stages import Stage
from shared.domain.states import Action, PaymentStatus, next_status
from shared.messaging import routes as q
from shared.redis.store import order_free_in
from shared.security.stage_signatures import application_signature, signed_handoff

STAGE = Stage.APPLY


def _hand_to_review(
    deps: Deps, payment_id: str, command_id: str, created: Payment | None = None
) -> None:
    """Hand the payment on as stored now (status, version, content hash), signed: as the
    create left it, or else as read now."""
    payment = created if created is not None else deps.store.get(payment_id)
    assert payment is not None, "a payment just created or found is never gone"
    handoff = signed_handoff(deps.signer, payment, STAGE, command_id)
    deps.dispatch(q.OTP_VERIFIED, q.TAKE_IN, handoff.to_wire())


def _request_attempt(raw: Any, by_platform: bool = False) -> Attempt:
    """What is known of a payment request (v1 or v2) before it is decoded: the payment id its
    payer and request id name (scoped to the payer, and for v2 to the platform), for the
    refusal record."""
    request_id = raw_id(raw, "request_id")
    payer_id = raw_id(raw.get("payer") if isinstance(raw, dict) else None, "enterprise_id")
    platform_id = raw_id(raw, "platform_id") if by_platform else None
    payment_id = UNKNOWN_PAYMENT
    if request_id and payer_id and (platform_id or not by_platform):
        payment_id = payment_id_for(payer_id, request_id, platform_id)
    return Attempt(
        STAGE,
        payment_id,
        raw_id(raw, "command_id"),
        Actor(STAGE),
    )


def handle_payment_request(raw: Any, deps: Deps) -> Outcome:
    attempt = _request_attempt(raw)
    return run_command(deps, attempt, lambda: _apply(raw, deps, attempt))


def _apply(raw: Any, deps: Deps, attempt: Attempt) -> Outcome:
    request = decode(PaymentRequest, raw)
    attempt.command_id = request.command_id
    structlog.contextvars.bind_contextvars(payment_id=attempt.payment_id)
    application = Application(
        attempt.payment_id, request.request_id, StoredContent.of(request.content())
    )
    # Who asks comes first: nothing about the payer (its accounts, contracts, or a known
    # request) is told to anyone but a live applicant session of that payer, and only
    # such a person's refusals are recorded on the payment (with what they asked for).
    person = identify(deps, request.session.get_secret_value(), attempt)
    person.check_enterprise(request.payer.enterprise_id)
    attempt.attached = True
    attempt.summary = application.content.summary()
    person.check_role("applicant")
    user = person.user
    payer, order = request.payer.enterprise_id, request.order_id

    def eligibility_reads(pipe: Pipeline) -> None:
        # Read with the payment (one round trip); used only for a new request.
        deps.directory.read_enterprise_and_bank(pipe, payer, request.bank)
        deps.store.read_order_holder(pipe, payer, order)

    existing, (*found, holder) = deps.store.get_reading(attempt.payment_id, eligibility_reads)
    if existing is None:
        # Only a new request costs a one-time code; a repeat is answered from the record.
        enterprise, bank = deps.directory.enterprise_and_bank_in(found, payer, request.bank)
        known_payer(enterprise).check_can_pay(request.bank, bank, request.payer.account)
        # Checked again atomically at create; checked here so that a refused request
        # does not spend the applicant's code.
        order_free_in(holder, attempt.payment_id)
        deps.otp.verify(
            user.username,
            user.totp_secret,
            request.otp.get_secret_value(),
            purpose=f"apply:{request.request_id}:{application.content.content_hash}",
        )
        deps.faults.point("apply.after_otp")
        application = application.confirmed_by(user.username)
        application = replace(
            application, apply_signature=application_signature(deps.signer, application)
        )
    result = deps.store.create(
        application,
        [
            Step(PaymentStatus.REQUESTED),
            Step(next_status(PaymentStatus.REQUESTED, Action.VERIFY_OTP, STAGE)),
        ],
        attempt.actor,
        request.command_id,
        session=admit(deps, person),
    )
    if result.status == PaymentStatus.OTP_VERIFIED:
        # Also on a duplicate: the first hand-off may have been lost in a crash; the
        # review intake ignores a second one.
        _hand_to_review(deps, result.payment_id, request.command_id, result.payment)
    outcome = "accepted" if result.outcome == "created" else "duplicate"
    return Outcome(outcome, result.payment_id, result.status.value if result.status else None)


def handle_cancel(raw: Any, deps: Deps) -> Outcome:
    """Withdraw a payment before authorization: only its own applicant may."""
    return person_command(raw, deps, STAGE, CancelPayment, "applicant", _cancel)


def _cancel(deps: Deps, checked: Checked[CancelPayment]) -> Outcome:
    payment = checked.payment
    change = payment.cancel(STAGE, checked.user_id, checked.command.reason)
    refuse_if_overdue(deps, payment)
    return accepted(commit(deps, checked, change))


# -- a platform's request, taken up by its applicant (PaymentRequest v2) ---------------------
def handle_platform_request(raw: Any, deps: Deps) -> Outcome:
    """A registered platform asks for a payment (PaymentRequest v2): checked and stored in
    ``requested``, awaiting its applicant; nothing is executed, no person's credential used."""
    attempt = _request_attempt(raw, by_platform=True)
    return run_command(deps, attempt, lambda: _request(raw, deps, attempt))


def _request(raw: Any, deps: Deps, attempt: Attempt) -> Outcome:
    request = decode(PaymentRequestV2, raw)
    attempt.command_id = request.command_id
    structlog.contextvars.bind_contextvars(payment_id=attempt.payment_id)
    # Who asks comes first, as for a person: nothing about the payer is told or recorded on
    # the payment before the platform is known and the payer registered with it.
    platform = platforms_of(deps).get(request.platform_id)
    attempt.actor = Actor(STAGE, PLATFORM_ROLE, platform.platform_id)
    platform.check_payer(request.payer.enterprise_id)
    application = Application(
        attempt.payment_id,
        request.request_id,
        StoredContent.of(request.requested()),
        platform_id=platform.platform_id,
    )
    attempt.attached = True
    attempt.summary = application.content.summary()
    existing = deps.store.get(attempt.payment_id)
    if existing is not None and not platform.sees(existing):
        # The same payer's request id, used by another platform or by an applicant (v1).
        raise Refusal(ReasonCode.IDEMPOTENCY_CONFLICT, "request_id was used for another payment")
    if existing is None:
        payer = request.payer.enterprise_id
        enterprise, bank = deps.directory.enterprise_and_bank(payer, request.bank)
        known_payer(enterprise).check_can_pay(request.bank, bank, request.payer.account)
        deps.store.check_order_free(payer, request.order_id, attempt.payment_id)
    result = deps.store.create(
        application, [Step(PaymentStatus.REQUESTED)], attempt.actor, request.command_id
    )
    outcome = "accepted" if result.outcome == "created" else "duplicate"
    return Outcome(outcome, result.payment_id, result.status.value if result.status else None)


#: The actor role recorded for what a platform does.
PLATFORM_ROLE = "platform"


def handle_confirmation(raw: Any, deps: Deps) -> Outcome:
    """The applicant takes up a platform's request: the bank, their session and one-time
    code; ``requested -> otp_verified``, signed and handed to review as a v1 request is."""
    return person_command(
        raw, deps, STAGE, ApplicantConfirmation, "applicant", _confirm, _confirmed_again
    )


def _confirm(deps: Deps, checked: Checked[ApplicantConfirmation]) -> Outcome:
    payment, command = checked.payment, checked.command
    bank = payment.bank_to_confirm(STAGE, command.bank)
    refuse_if_overdue(deps, payment)
    requested = payment.content.check_requested()
    enterprise, record = deps.directory.enterprise_and_bank(
        payment.content.enterprise_id or "", bank
    )
    # The account was checked when the platform's request was taken.
    known_payer(enterprise).check_can_pay(bank, record, None)
    # The content is complete now: its hash (bank included) is what every later stage
    # checks, and what the authorizer's challenge binds.
    content = StoredContent.of(requested.with_bank(bank))
    user = checked.person.user
    deps.otp.verify(
        user.username,
        user.totp_secret,
        command.otp.get_secret_value(),
        purpose=f"confirm:{payment.payment_id}:{content.content_hash}",
    )
    application = Application(
        payment.payment_id, payment.request_id or "", content, platform_id=payment.platform_id
    ).confirmed_by(user.username)
    signature = application_signature(deps.signer, application)
    step = Step(next_status(payment.status, Action.VERIFY_OTP, STAGE))
    change = Change(
        (step,),
        Record(
            content=content,
            applicant_id=application.applicant_id,
            end_to_end_id=application.end_to_end_id,
            apply_signature=signature,
        ),
    )
    confirmed = commit(deps, checked, change, fault_point="apply.after_otp")
    _hand_to_review(deps, confirmed.payment_id, command.command_id)
    return accepted(confirmed)


def _confirmed_again(deps: Deps, payment: Payment, command_id: str) -> Outcome:
    """A redelivered confirmation: the first hand-off may have been lost in a crash; the
    review intake ignores a second one."""
    if payment.status == PaymentStatus.OTP_VERIFIED:
        _hand_to_review(deps, payment.payment_id, command_id)
    return answered_duplicate(deps, payment, command_id)


def handle_platform_cancel(raw: Any, deps: Deps) -> Outcome:
    """The creating platform withdraws a payment its applicant has not taken up."""
    attempt = Attempt(
        STAGE, raw_id(raw, "payment_id") or UNKNOWN_PAYMENT, raw_id(raw, "command_id"), Actor(STAGE)
    )

    def body() -> Outcome:
        command = decode(PlatformCancel, raw)
        platform = platforms_of(deps).get(command.platform_id)
        attempt.actor = Actor(STAGE, PLATFORM_ROLE, platform.platform_id)
        structlog.contextvars.bind_contextvars(payment_id=command.payment_id)
        payment = deps.store.get(command.payment_id)
        # Another platform's payment is told as missing, word for word.
        if payment is None or not platform.sees(payment):
            raise Refusal(ReasonCode.PAYMENT_NOT_FOUND, NOT_FOUND)
        attempt.summary = payment.summary()
        attempt.attached = True
        if payment.applied(command.command_id):
            return answered_duplicate(deps, payment, command.command_id)
        change = payment.cancel_for_platform(STAGE, platform.platform_id, command.reason)
        refuse_if_overdue(deps, payment)
        changed = transition_before_deadline(
            deps, payment, change, attempt.actor, attempt.command_id
        )
        return accepted(changed)

    return run_command(deps, attempt, body)
