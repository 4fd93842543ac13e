"""The application client (`shared.app.client`) that the CLI, the demo and the tests call: it
checks input before sending anything, routes each command to its stage, tells a refused
sender only what a person may learn, and shows a person only their enterprise's payments."""

from __future__ import annotations

import pytest

from services.apply.handlers import handle_payment_request
from shared.app import client
from shared.domain.contracts import Verdict, payment_id_for
from shared.messaging import routes as q
from shared.security.disclosure import AUTHENTICATION_FAILED
from tests.unit.support import OTHER_ENTERPRISE, PAYER, World, queued


def _fields(world: World) -> dict[str, object]:
    return {k: v for k, v in world.request().items() if k not in ("session", "otp", "schema")}


def test_a_submitted_request_is_queued_for_apply_as_v1_with_its_payment_id(world: World) -> None:
    sent = client.submit(
        world.deps,
        _fields(world),
        session=world.session(world.applicant),
        otp=world.code(world.applicant),
    )
    assert (sent.payment_id, sent.verdict, sent.waited) == (
        payment_id_for(PAYER, "req-1"),
        None,
        None,
    )
    [message] = queued(world.deps, q.APPLY)
    assert (message["schema"], message["command_id"]) == (
        "b2bpay.payment_request.v1",
        sent.command_id,
    )
    assert handle_payment_request(message, world.deps).outcome == "accepted"


def test_an_invalid_request_is_refused_before_anything_is_sent(world: World) -> None:
    with pytest.raises(client.InvalidCommand, match=r"^invalid payment request: "):
        client.submit(world.deps, {**_fields(world), "amount": "-1"}, session="s", otp="123456")
    assert queued(world.deps, q.APPLY) == []


def test_a_rejection_without_a_reason_is_refused_before_anything_is_sent(world: World) -> None:
    for reject in (
        lambda: client.review(world.deps, "pay_x", approve=False, session="s", reason=" "),
        lambda: client.authorize(world.deps, "pay_x", approve=False, session="s", otp="123456"),
    ):
        with pytest.raises(client.ReasonRequired):
            reject()
    assert queued(world.deps, q.PENDING_REVIEW) == queued(world.deps, q.PENDING_AUTH) == []


def test_each_command_goes_to_its_stage_queue(world: World) -> None:
    session = world.session(world.applicant)
    client.cancel(world.deps, "pay_x", session=session)
    client.review(world.deps, "pay_x", approve=True, session=session)
    client.authorize(world.deps, "pay_x", approve=True, session=session, otp="123456")
    assert [
        len(queued(world.deps, name)) for name in (q.APPLY, q.PENDING_REVIEW, q.PENDING_AUTH)
    ] == [1, 1, 1]


def test_a_refused_verdict_never_says_which_factor_failed(world: World) -> None:
    command = client.review_decision("pay_x", approve=True, session=world.session(world.reviewer))
    precise = Verdict(
        command_id=command.command_id,
        outcome="refused",
        payment_id="pay_x",
        status=None,
        reason_code="otp_invalid",
        reason="the precise reason",
    )
    world.deps.redis.rpush(world.deps.keys.verdict(command.command_id), precise.model_dump_json())
    sent = client.send(world.deps, command, wait=1)
    assert sent.verdict is not None and sent.verdict.reason_code == AUTHENTICATION_FAILED
    assert "precise" not in (sent.verdict.reason or "")


def test_a_verdict_that_does_not_come_in_time_leaves_the_command_queued(world: World) -> None:
    command = client.cancellation("pay_x", session=world.session(world.applicant))
    sent = client.send(world.deps, command, wait=0.05)
    assert (sent.verdict, sent.waited) == (None, 0.05)


def test_login_and_logout_refuse_alike_whatever_failed(world: World) -> None:
    with pytest.raises(client.AuthenticationFailed):
        client.login(world.deps, "alice", "wrong")
    with pytest.raises(client.AuthenticationFailed):
        client.login(world.deps, "ghost", "wrong")
    opened = client.login(world.deps, "alice", "alice-password")
    assert opened.session.username == "alice"
    client.logout(world.deps, opened.token)
    with pytest.raises(client.AuthenticationFailed):
        client.person(world.deps, opened.token)


def test_another_enterprises_payment_is_not_found_for_a_challenge(world: World) -> None:
    payment_id = world.to_pending_review()
    gina = world.enrol("gina", OTHER_ENTERPRISE, "authorizer", "gina-password")
    with pytest.raises(client.PaymentNotFound) as raised:
        client.challenge(world.deps, payment_id, session=world.session(gina))
    assert raised.value.reason_code == "payment_not_found"
    shown = client.challenge(world.deps, payment_id, session=world.session(world.authorizer))
    assert (shown["payment_id"], shown["amount"]) == (payment_id, "1250.00")
