"""The payment state machine (shared.domain.states): pure, no I/O."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from shared.domain.errors import IllegalTransition, ReasonCode, Refusal
from shared.domain.states import (
    BEFORE_AUTHORIZATION,
    ROLE_FOR_ACTION,
    STAGE_ACTIONS,
    TERMINAL,
    TRANSITIONS,
    Action,
    PaymentStatus,
    check_segregation,
    next_status,
)

S = PaymentStatus
STAGES = sorted(STAGE_ACTIONS)
AFTER_AUTHORIZATION = frozenset({S.AUTHORIZED, S.SUBMITTED})

LEGAL = sorted(TRANSITIONS.items(), key=lambda item: (item[0][0].value, item[0][1].value))
ILLEGAL = sorted(
    (status, action)
    for status, action in itertools.product(PaymentStatus, Action)
    if (status, action) not in TRANSITIONS
)


def stages_for(action: Action) -> list[str]:
    return [stage for stage in STAGES if action in STAGE_ACTIONS[stage]]


def allowed(status: PaymentStatus, action: Action, stage: str) -> bool:
    """The design's rule, independent of the code under test's own checks: a move in the
    table, by a stage that owns the action, and after authorization by interbank only."""
    return (
        (status, action) in TRANSITIONS
        and action in STAGE_ACTIONS[stage]
        and (status not in AFTER_AUTHORIZATION or stage == "interbank")
    )


def _id(value: object) -> str:
    return str(getattr(value, "value", value))


# -- legal moves ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("move", "target"), LEGAL, ids=[f"{s.value}-{a.value}" for (s, a), _ in LEGAL]
)
def test_every_legal_transition_leads_to_its_target(
    move: tuple[PaymentStatus, Action], target: PaymentStatus
) -> None:
    status, action = move
    assert next_status(status, action) is target


@pytest.mark.parametrize(
    ("move", "target"), LEGAL, ids=[f"{s.value}-{a.value}" for (s, a), _ in LEGAL]
)
def test_every_legal_transition_works_for_the_stage_that_owns_its_action(
    move: tuple[PaymentStatus, Action], target: PaymentStatus
) -> None:
    status, action = move
    owners = [stage for stage in stages_for(action) if allowed(status, action, stage)]
    assert owners, f"no stage may {action.value} a {status.value} payment"
    for stage in owners:
        assert next_status(status, action, stage) is target


def test_the_happy_path_runs_from_requested_to_settled() -> None:
    path = [
        (Action.VERIFY_OTP, "apply"),
        (Action.INTAKE, "review"),
        (Action.APPROVE_REVIEW, "review"),
        (Action.APPROVE_AUTH, "authorize"),
        (Action.SUBMIT, "interbank"),
        (Action.SETTLE, "interbank"),
    ]
    status = S.REQUESTED
    seen = [status]
    for action, stage in path:
        status = next_status(status, action, stage)
        seen.append(status)
    assert seen == [
        S.REQUESTED,
        S.OTP_VERIFIED,
        S.PENDING_REVIEW,
        S.PENDING_AUTH,
        S.AUTHORIZED,
        S.SUBMITTED,
        S.SETTLED,
    ]


@pytest.mark.parametrize("status", sorted(BEFORE_AUTHORIZATION), ids=_id)
def test_a_payment_can_be_cancelled_by_the_applicant_before_authorization(
    status: PaymentStatus,
) -> None:
    assert next_status(status, Action.CANCEL, "apply") is S.CANCELLED


@pytest.mark.parametrize("status", [S.OTP_VERIFIED, S.PENDING_REVIEW, S.PENDING_AUTH], ids=_id)
def test_a_pending_payment_can_expire(status: PaymentStatus) -> None:
    assert next_status(status, Action.EXPIRE, "sweeper") is S.EXPIRED


# -- illegal moves -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "action"), ILLEGAL, ids=[f"{s.value}-{a.value}" for s, a in ILLEGAL]
)
def test_every_illegal_transition_raises_a_typed_refusal(
    status: PaymentStatus, action: Action
) -> None:
    with pytest.raises(IllegalTransition) as raised:
        next_status(status, action)
    error = raised.value
    assert isinstance(error, Refusal)
    assert error.reason_code is ReasonCode.ILLEGAL_TRANSITION
    assert error.current == status.value
    assert error.action == action.value


@pytest.mark.parametrize(
    ("status", "action"), ILLEGAL, ids=[f"{s.value}-{a.value}" for s, a in ILLEGAL]
)
def test_an_illegal_transition_stays_illegal_for_every_stage(
    status: PaymentStatus, action: Action
) -> None:
    for stage in STAGES:
        with pytest.raises(IllegalTransition):
            next_status(status, action, stage)


@pytest.mark.parametrize("status", sorted(TERMINAL), ids=_id)
def test_no_action_leaves_a_terminal_state(status: PaymentStatus) -> None:
    for action in Action:
        with pytest.raises(IllegalTransition):
            next_status(status, action)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.PENDING_REVIEW, Action.APPROVE_AUTH),  # authorization before review
        (S.OTP_VERIFIED, Action.APPROVE_REVIEW),  # review before intake (the stage adds intake)
        (S.REQUESTED, Action.INTAKE),  # intake before the code was verified
        (S.AUTHORIZED, Action.SETTLE),  # settled without being submitted
        (S.AUTHORIZED, Action.CANCEL),  # nobody can withdraw an authorized payment
        (S.AUTHORIZED, Action.EXPIRE),
        (S.REQUESTED, Action.EXPIRE),
        (S.SUBMITTED, Action.SUBMIT),  # a second submission
    ],
    ids=lambda v: _id(v),
)
def test_notable_shortcuts_are_illegal(status: PaymentStatus, action: Action) -> None:
    with pytest.raises(IllegalTransition):
        next_status(status, action)


def test_the_refusal_message_names_the_action_and_the_status() -> None:
    with pytest.raises(IllegalTransition) as raised:
        next_status(S.PENDING_REVIEW, Action.APPROVE_AUTH)
    assert str(raised.value).startswith("illegal_transition: ")
    assert "approve_auth" in str(raised.value)
    assert "pending_review" in str(raised.value)


# -- stage restrictions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("move", "stage"),
    [
        (move, stage)
        for move, _target in LEGAL
        for stage in STAGES
        if move[1] not in STAGE_ACTIONS[stage]
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v[0].value}-{v[1].value}",
)
def test_a_stage_cannot_perform_an_action_it_does_not_own(
    move: tuple[PaymentStatus, Action], stage: str
) -> None:
    status, action = move
    with pytest.raises(IllegalTransition) as raised:
        next_status(status, action, stage)
    assert raised.value.reason_code is ReasonCode.ILLEGAL_TRANSITION


def test_the_review_stage_cannot_approve_an_authorization() -> None:
    assert next_status(S.PENDING_AUTH, Action.APPROVE_AUTH, "authorize") is S.AUTHORIZED
    with pytest.raises(IllegalTransition):
        next_status(S.PENDING_AUTH, Action.APPROVE_AUTH, "review")


def test_an_unknown_stage_may_do_nothing() -> None:
    for (status, action), _target in LEGAL:
        with pytest.raises(IllegalTransition):
            next_status(status, action, "upstream")


@pytest.mark.parametrize("status", sorted(AFTER_AUTHORIZATION), ids=_id)
@pytest.mark.parametrize("stage", [s for s in STAGES if s != "interbank"])
def test_after_authorization_no_stage_but_interbank_changes_the_payment(
    status: PaymentStatus, stage: str
) -> None:
    """Seed step 15: once authorized, nobody can affect the payment any more."""
    moved = []
    for action in Action:
        with contextlib.suppress(IllegalTransition):
            moved.append((action.value, next_status(status, action, stage).value))
    assert moved == [], f"stage {stage!r} moved a {status.value} payment: {moved}"


@pytest.mark.parametrize("status", sorted(AFTER_AUTHORIZATION), ids=_id)
def test_after_authorization_the_interbank_stage_still_moves_the_payment(
    status: PaymentStatus,
) -> None:
    moves = {
        action: next_status(status, action, "interbank")
        for action in STAGE_ACTIONS["interbank"]
        if (status, action) in TRANSITIONS
    }
    assert S.FAILED in moves.values()
    assert moves.get(Action.SUBMIT if status is S.AUTHORIZED else Action.SETTLE) in {
        S.SUBMITTED,
        S.SETTLED,
    }


# -- segregation of duties -----------------------------------------------------------------


def test_the_applicant_may_not_review_their_own_payment() -> None:
    for action in (Action.APPROVE_REVIEW, Action.REJECT_REVIEW):
        with pytest.raises(Refusal) as raised:
            check_segregation(action, "alice", applicant_id="alice", reviewer_id=None)
        assert raised.value.reason_code is ReasonCode.SAME_PERSON


def test_another_person_may_review() -> None:
    check_segregation(Action.APPROVE_REVIEW, "bob", applicant_id="alice", reviewer_id=None)
    check_segregation(Action.REJECT_REVIEW, "bob", applicant_id="alice", reviewer_id=None)


@pytest.mark.parametrize("authorizer", ["alice", "bob"])
@pytest.mark.parametrize("action", [Action.APPROVE_AUTH, Action.REJECT_AUTH], ids=_id)
def test_the_authorizer_must_be_neither_applicant_nor_reviewer(
    action: Action, authorizer: str
) -> None:
    with pytest.raises(Refusal) as raised:
        check_segregation(action, authorizer, applicant_id="alice", reviewer_id="bob")
    assert raised.value.reason_code is ReasonCode.SAME_PERSON


def test_a_third_person_may_authorize() -> None:
    check_segregation(Action.APPROVE_AUTH, "carol", applicant_id="alice", reviewer_id="bob")
    check_segregation(Action.REJECT_AUTH, "carol", applicant_id="alice", reviewer_id="bob")


def test_segregation_is_a_refusal_but_not_an_illegal_transition() -> None:
    with pytest.raises(Refusal) as raised:
        check_segregation(Action.APPROVE_AUTH, "alice", applicant_id="alice", reviewer_id="bob")
    assert not isinstance(raised.value, IllegalTransition)


def test_every_human_action_names_its_role() -> None:
    assert (
        ROLE_FOR_ACTION[Action.APPROVE_REVIEW]
        == ROLE_FOR_ACTION[Action.REJECT_REVIEW]
        == "reviewer"
    )
    assert (
        ROLE_FOR_ACTION[Action.APPROVE_AUTH] == ROLE_FOR_ACTION[Action.REJECT_AUTH] == "authorizer"
    )
    assert ROLE_FOR_ACTION[Action.VERIFY_OTP] == "applicant"


# -- random command sequences --------------------------------------------------------------

PEOPLE = ("ann", "ben", "cat")
HAPPY_PATH = (
    (Action.VERIFY_OTP, "apply"),
    (Action.INTAKE, "review"),
    (Action.APPROVE_REVIEW, "review"),
    (Action.APPROVE_AUTH, "authorize"),
    (Action.SUBMIT, "interbank"),
    (Action.SETTLE, "interbank"),
)


class PaymentModel(RuleBasedStateMachine):
    """One payment driven by random (action, stage, actor) commands through the same two
    checks a stage makes: ``check_segregation`` then ``next_status``."""

    def __init__(self) -> None:
        super().__init__()
        self.status = S.REQUESTED
        self.applicant = PEOPLE[0]
        self.reviewer: str | None = None
        self.authorizer: str | None = None
        self.terminal_reached: PaymentStatus | None = None
        self.authorized_by: tuple[str, str, str] | None = None

    @initialize(
        applicant=st.sampled_from(PEOPLE),
        reviewer=st.sampled_from(PEOPLE),
        authorizer=st.sampled_from(PEOPLE),
        head_start=st.integers(min_value=0, max_value=len(HAPPY_PATH)),
    )
    def start(self, applicant: str, reviewer: str, authorizer: str, head_start: int) -> None:
        """Begin somewhere along the happy path, so later states are reached often; the
        steps go through the same checks as every other command (and may be refused)."""
        self.applicant = applicant
        actor_for = {"applicant": applicant, "reviewer": reviewer, "authorizer": authorizer}
        for action, stage in HAPPY_PATH[:head_start]:
            self.command(action, stage, actor_for.get(ROLE_FOR_ACTION.get(action, ""), applicant))

    def command(self, action: Action, stage: str, actor: str) -> None:
        before = self.status
        try:
            check_segregation(action, actor, self.applicant, self.reviewer)
            after = next_status(before, action, stage)
        except Refusal as refusal:
            # A refused command changes nothing, and is refused for a reason the tables give.
            segregated = refusal.reason_code is ReasonCode.SAME_PERSON
            assert segregated or not allowed(before, action, stage), (
                f"{action.value} by {stage} from {before.value} was legal but refused"
            )
            assert self.status is before
            return
        assert (before, action) in TRANSITIONS
        assert action in STAGE_ACTIONS[stage]
        assert before not in TERMINAL, f"{action.value} by {stage} left terminal {before.value}"
        if before in AFTER_AUTHORIZATION:
            assert stage == "interbank", f"{stage} moved an {before.value} payment to {after.value}"
        self.status = after
        if action in (Action.APPROVE_REVIEW, Action.REJECT_REVIEW):
            self.reviewer = actor
        if action in (Action.APPROVE_AUTH, Action.REJECT_AUTH):
            self.authorizer = actor
        if after is S.AUTHORIZED:
            assert self.reviewer is not None
            self.authorized_by = (self.applicant, self.reviewer, actor)
        if after in TERMINAL:
            self.terminal_reached = after

    @rule(
        action=st.sampled_from(Action), stage=st.sampled_from(STAGES), actor=st.sampled_from(PEOPLE)
    )
    def any_command(self, action: Action, stage: str, actor: str) -> None:
        self.command(action, stage, actor)

    @rule(data=st.data(), actor=st.sampled_from(PEOPLE))
    def a_command_the_state_allows(self, data: st.DataObject, actor: str) -> None:
        """Biased towards progress: an action legal from here, by any stage that owns it."""
        options = [
            (action, stage)
            for (status, action) in TRANSITIONS
            if status is self.status
            for stage in stages_for(action)
        ]
        if not options:
            options = [(action, stage) for action in Action for stage in stages_for(action)]
        action, stage = data.draw(st.sampled_from(sorted(options)))
        self.command(action, stage, actor)

    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        if self.terminal_reached is not None:
            assert self.status is self.terminal_reached

    @invariant()
    def an_authorized_payment_had_three_distinct_people(self) -> None:
        if self.authorized_by is not None:
            assert len(set(self.authorized_by)) == 3, self.authorized_by

    @invariant()
    def the_status_is_always_a_known_status(self) -> None:
        assert isinstance(self.status, PaymentStatus)


PaymentModel.TestCase.settings = hypothesis_settings(
    max_examples=300,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRandomCommandSequencesKeepThePaymentInvariants = PaymentModel.TestCase
