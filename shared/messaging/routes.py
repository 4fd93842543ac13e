"""The pipeline, declared once: which queue carries which message, under which actor name, to
which stage's handler. Everything else derives from :data:`ROUTES`: the broker declares its
queues, ``b2bpay worker`` registers a stage's actors and consumes its queues, the dead-letter
tools send a letter back, the stage signer knows which stages hold and use a key pair, and
the logs name the stage of each message.

Adding a queue is one row here plus its handler; ``tests/unit/test_routes.py`` checks that
every route has a handler and every handler a route. A new stage also needs its
:class:`~shared.domain.stages.Stage` member, its actions (``STAGE_ACTIONS`` in
:mod:`shared.domain.states`) and its ``signing_key_<stage>`` setting (which the test
checks); its keys (:mod:`services.runtime.needs`) and the application client's routes
(``shared.app.client.ROUTE``) derive from this table.

A route names its handler by dotted path instead of holding the function: the handlers live
in ``services/<stage>/handlers.py`` and send on through this module, and ``shared/`` never
imports ``services/``. The worker runtime (:func:`services.runtime.consumers.handler_of`)
imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.contracts import (
    ApplicantConfirmation,
    AuthDecision,
    CancelPayment,
    Contract,
    Handoff,
    PaymentRequest,
    PaymentRequestV2,
    PlatformCancel,
    ReviewDecision,
)
from shared.domain.stages import Stage

# Queue names, exactly as in the design: the public contract for upstream and ops.
APPLY = "apply"
OTP_VERIFIED = "otp-verified"
PENDING_REVIEW = "pending-review"
PENDING_AUTH = "pending-auth"
INTERBANK = "interbank"

# Actor names on the wire: (queue, actor name) is what a publisher needs to know. Messages in
# flight carry them, so they never change.
APPLY_PAYMENT = "apply_payment"
CANCEL_PAYMENT = "cancel_payment"
REQUEST_PAYMENT = "request_payment"
CONFIRM_PAYMENT = "confirm_payment"
CANCEL_FOR_PLATFORM = "cancel_for_platform"
TAKE_IN = "take_in_for_review"
DECIDE_REVIEW = "decide_review"
DECIDE_AUTHORIZATION = "decide_authorization"
SUBMIT_TO_CLEARING = "submit_to_clearing"


@dataclass(frozen=True)
class Route:
    """One kind of message: where it travels, who takes it, what it must be."""

    #: The queue it is sent to.
    queue: str
    #: The dramatiq actor name it is sent under.
    actor: str
    #: The stage whose worker consumes it.
    stage: Stage
    #: The message contract its body must satisfy.
    contract: type[Contract]
    #: ``module:function`` of its handler, in ``services/<stage>/handlers.py``.
    handler: str
    #: Whether its handler signs (what it hands on or records) with the stage's private key:
    #: a worker of the stage refuses to start without that key.
    signs: bool = False


#: Every route, in pipeline order; the first route of a queue takes its dead letters whose
#: actor is unknown.
ROUTES: tuple[Route, ...] = (
    Route(
        queue=APPLY,
        actor=APPLY_PAYMENT,
        stage=Stage.APPLY,
        contract=PaymentRequest,
        handler="services.apply.handlers:handle_payment_request",
        signs=True,
    ),
    Route(
        queue=APPLY,
        actor=CANCEL_PAYMENT,
        stage=Stage.APPLY,
        contract=CancelPayment,
        handler="services.apply.handlers:handle_cancel",
    ),
    Route(
        queue=APPLY,
        actor=REQUEST_PAYMENT,
        stage=Stage.APPLY,
        contract=PaymentRequestV2,
        handler="services.apply.handlers:handle_platform_request",
    ),
    Route(
        queue=APPLY,
        actor=CONFIRM_PAYMENT,
        stage=Stage.APPLY,
        contract=ApplicantConfirmation,
        handler="services.apply.handlers:handle_confirmation",
        signs=True,
    ),
    Route(
        queue=APPLY,
        actor=CANCEL_FOR_PLATFORM,
        stage=Stage.APPLY,
        contract=PlatformCancel,
        handler="services.apply.handlers:handle_platform_cancel",
    ),
    Route(
        queue=OTP_VERIFIED,
        actor=TAKE_IN,
        stage=Stage.REVIEW,
        contract=Handoff,
        handler="services.review.handlers:handle_intake",
    ),
    Route(
        queue=PENDING_REVIEW,
        actor=DECIDE_REVIEW,
        stage=Stage.REVIEW,
        contract=ReviewDecision,
        handler="services.review.handlers:handle_review_decision",
        signs=True,
    ),
    Route(
        queue=PENDING_AUTH,
        actor=DECIDE_AUTHORIZATION,
        stage=Stage.AUTHORIZE,
        contract=AuthDecision,
        handler="services.authorize.handlers:handle_auth_decision",
        signs=True,
    ),
    Route(
        queue=INTERBANK,
        actor=SUBMIT_TO_CLEARING,
        stage=Stage.INTERBANK,
        contract=Handoff,
        handler="services.interbank.handlers:handle_submission",
    ),
)


def routes_of(stage: str) -> tuple[Route, ...]:
    """The routes a worker of ``stage`` consumes (none for a stage without a queue)."""
    return tuple(route for route in ROUTES if route.stage == stage)


def routes_on(queue: str) -> tuple[Route, ...]:
    """The routes of one queue, the first of them first (none for an unknown queue)."""
    return tuple(route for route in ROUTES if route.queue == queue)


#: Every queue, in pipeline order: what the broker declares.
QUEUES: tuple[str, ...] = tuple(dict.fromkeys(route.queue for route in ROUTES))
#: Every actor name on the wire.
ACTORS: frozenset[str] = frozenset(route.actor for route in ROUTES)
#: The stage that consumes each queue (one stage per queue).
STAGE_OF_QUEUE: dict[str, Stage] = {route.queue: route.stage for route in ROUTES}
#: The stages that consume a queue, in :class:`Stage` order: each holds a key pair, and the
#: next stage verifies what it hands on.
QUEUE_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if routes_of(s))
#: The stages that sign something; a stage that signs nothing (interbank, which hands nothing
#: on inside b2bpay yet) runs without its private key, which is reserved.
SIGNING_STAGES: tuple[Stage, ...] = tuple(
    s for s in QUEUE_STAGES if any(route.signs for route in routes_of(s))
)
