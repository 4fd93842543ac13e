"""Only content verified against its hash is shown or acted on: someone who can write Redis
(but holds no stage key) can neither show the authorizer one amount while they sign another,
nor hand clearing a differently spelled value that hashes the same."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import context
from services.cli.main import app
from services.interbank.handlers import handle_submission
from shared.app.deps import Deps
from shared.domain.content import check_content
from shared.domain.contracts import payment_id_for
from shared.domain.errors import Refusal
from shared.messaging import routes as q
from shared.redis.clearing import SimulatedClearing
from tests.unit.cli_api import serve_in_process
from tests.unit.support import PAYER, World, queued

#: Spellings that parse or strip to the genuine value, so the content hash still matches,
#: but are not the text the hash was computed from.
RESPELLED = {
    "an amount in Arabic-Indic digits": {"amount": "\u0661\u0662\u0665\u0660.\u0660\u0660"},
    "an amount with an exponent": {"amount": "1.25E+3"},
    "an amount with one decimal place": {"amount": "1250.0"},
    "a payee account with a leading space": {"payee_account": " DE0012345678"},
    "a payee bank code with a trailing space": {"payee_bank_code": "PAYEEBK "},
    "a payee name with a trailing space": {"payee_name": "Globex Supplies "},
}


def respellings() -> Any:
    return pytest.mark.parametrize("respelled", list(RESPELLED.values()), ids=list(RESPELLED))


def run(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    serve_in_process(monkeypatch, deps)
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, json.loads(lines[-1]) if lines else {}


def _pending_auth(world: World, amount: str = "1250.00") -> str:
    outcome = world.apply(amount=amount)
    assert outcome.outcome == "accepted", outcome
    world.intake_all()
    payment_id = payment_id_for(PAYER, "req-1")
    assert world.review(payment_id).status == "pending_auth"
    return payment_id


def _authorized(world: World) -> tuple[str, dict[str, Any]]:
    payment_id = _pending_auth(world)
    assert world.authorize(payment_id).status == "authorized"
    [handoff] = queued(world.deps, q.INTERBANK)
    return payment_id, handoff


def _instructions(world: World) -> list[dict[str, str]]:
    clearing = world.deps.clearing
    assert isinstance(clearing, SimulatedClearing)
    return clearing.instructions()


def _rewrite(world: World, payment_id: str, fields: dict[str, str]) -> None:
    world.deps.redis.hset(world.deps.keys.payment(payment_id), mapping=fields)


# -- what the authorizer is shown ----------------------------------------------------------
def test_the_challenge_refuses_to_show_an_amount_and_payee_the_content_hash_does_not_cover(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    payment_id = _pending_auth(world, amount="990000.00")
    _rewrite(world, payment_id, {"amount": "1250.00", "payee_name": "Trusted Supplier"})

    session = world.session(world.authorizer)
    code, shown = run(monkeypatch, world.deps, "challenge", payment_id, "--session", session)

    assert (code, shown.get("reason_code")) == (1, "content_mismatch")
    assert "challenge" not in shown and "amount" not in shown


@respellings()
def test_the_challenge_refuses_a_respelled_field(
    monkeypatch: pytest.MonkeyPatch, world: World, respelled: dict[str, str]
) -> None:
    payment_id = _pending_auth(world)
    _rewrite(world, payment_id, respelled)

    session = world.session(world.authorizer)
    code, shown = run(monkeypatch, world.deps, "challenge", payment_id, "--session", session)

    assert (code, shown.get("reason_code")) == (1, "content_mismatch")


def test_the_challenge_shows_the_verified_amount_and_payee(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    payment_id = _pending_auth(world, amount="990000.00")

    session = world.session(world.authorizer)
    code, shown = run(monkeypatch, world.deps, "challenge", payment_id, "--session", session)

    assert code == 0
    assert (shown["amount"], shown["currency"], shown["payee_name"]) == (
        "990000.00",
        "EUR",
        "Globex Supplies",
    )


# -- the stages ----------------------------------------------------------------------------
@respellings()
def test_the_content_check_refuses_a_respelled_field_although_its_hash_matches(
    world: World, respelled: dict[str, str]
) -> None:
    payment_id = world.to_pending_review()
    _rewrite(world, payment_id, respelled)
    payment = world.deps.store.get(payment_id)
    assert payment is not None

    with pytest.raises(Refusal) as refused:
        check_content(payment)

    assert refused.value.reason_code == "content_mismatch"


@respellings()
def test_the_reviewer_cannot_approve_a_respelled_payment(
    world: World, respelled: dict[str, str]
) -> None:
    payment_id = world.to_pending_review()
    _rewrite(world, payment_id, respelled)

    outcome = world.review(payment_id)

    assert (outcome.outcome, outcome.reason_code) == ("refused", "content_mismatch")
    world.assert_status(payment_id, "pending_review")


@respellings()
def test_the_authorizer_cannot_authorize_a_respelled_payment(
    world: World, respelled: dict[str, str]
) -> None:
    payment_id = _pending_auth(world)
    _rewrite(world, payment_id, respelled)

    outcome = world.authorize(payment_id)

    assert (outcome.outcome, outcome.reason_code) == ("refused", "content_mismatch")
    world.assert_status(payment_id, "pending_auth")
    assert queued(world.deps, q.INTERBANK) == []


@respellings()
def test_a_respelled_authorized_payment_never_reaches_clearing(
    world: World, respelled: dict[str, str]
) -> None:
    payment_id, handoff = _authorized(world)
    _rewrite(world, payment_id, respelled)

    outcome = handle_submission(handoff, world.deps)

    assert (outcome.outcome, outcome.reason_code) == ("refused", "content_mismatch")
    assert _instructions(world) == []
    world.assert_status(payment_id, "authorized")


def test_clearing_is_told_the_canonical_verified_values(world: World) -> None:
    _, handoff = _authorized(world)

    assert handle_submission(handoff, world.deps).status == "settled"

    [instruction] = _instructions(world)
    assert (
        instruction["amount"],
        instruction["currency"],
        instruction["payee_account"],
        instruction["payee_bank"],
    ) == ("1250.00", "EUR", "DE0012345678", "PAYEEBK")
