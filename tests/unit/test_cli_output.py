"""What the CLI prints of data: never markup, never a terminal escape, whatever the data holds
(the payee name of a payment written straight to Redis, past every contract)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import context
from services.cli.main import app
from shared.app.deps import Deps
from shared.domain.contracts import payment_id_for
from tests.unit.cli_api import serve_in_process
from tests.unit.support import PAYER, World

#: A payee name as an attacker with Redis write access would store it: erase the line and
#: rewrite the amount, close a style never opened (rich used to crash on it), hide the rest.
FORGED_NAME = "Supplier Co.\x1b[2K\x1b[1Gamount 1250.00 [/bold] [conceal]990000.00 \u202eevil"


def run_text(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str, stdin: str = "") -> Any:
    """The command as a person runs it in a terminal: tables, not --json."""
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    serve_in_process(monkeypatch, deps)
    return CliRunner().invoke(app, list(args), input=stdin)


def test_the_challenge_refuses_a_forged_payee_name_and_prints_none_of_it(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    payment_id = world.to_pending_review()
    world.deps.redis.hset(world.deps.keys.payment(payment_id), "payee_name", FORGED_NAME)

    result = run_text(
        monkeypatch,
        world.deps,
        "challenge",
        payment_id,
        "--session",
        world.session(world.authorizer),
    )

    # The content hash does not cover the forged name: nothing of the payment is shown.
    assert result.exit_code == 1, repr(result.output)
    assert "content differs" in result.output
    assert "\x1b" not in result.output and "Supplier" not in result.output


def test_the_challenge_shows_markup_in_a_confirmed_payee_name_inert_and_does_not_crash(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    # Visible text passes the contracts at apply, markup included: it is hashed and shown.
    name = "Supplier Co. amount 1250.00 [/bold] [conceal]990000.00"
    world.apply(payee={"bank_code": "PAYEEBK", "account": "DE0012345678", "name": name})
    world.intake_all()
    payment_id = payment_id_for(PAYER, "req-1")
    world.assert_status(payment_id, "pending_review")

    result = run_text(
        monkeypatch,
        world.deps,
        "challenge",
        payment_id,
        "--session",
        world.session(world.authorizer),
    )

    assert result.exit_code == 0, repr(result.output)
    assert result.exception is None
    shown = result.stdout
    assert "\x1b" not in shown
    # The markup is printed as the characters it is, the hidden part is there to see.
    assert "[/bold]" in shown and "[conceal]990000.00" in shown
    assert "1250.00" in shown  # the payment's real amount row is still there


def test_an_error_message_holding_data_is_printed_inert(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    result = run_text(monkeypatch, world.deps, "admin", "unlock", "[/red]\x1b[2Jghost")
    assert result.exit_code == 2, repr(result.output)
    assert "\x1b" not in result.output
    assert "[/red]" in result.output


def test_a_dead_letter_list_with_forged_fields_is_printed_inert(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    world.deps.deadletters.add("apply", "apply_payment", "m-1", f"reason {FORGED_NAME}", {})
    result = run_text(monkeypatch, world.deps, "dlq", "list")
    assert result.exit_code == 0, repr(result.output)
    assert "\x1b" not in result.stdout and "[/bold]" in result.stdout


def test_the_json_output_escapes_every_control_character(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    # Stored data a command prints unverified (the challenge no longer shows any: a forged
    # payee name is refused there as content_mismatch).
    world.deps.deadletters.add("apply", "apply_payment", "m-1", FORGED_NAME, {})
    result = run_text(monkeypatch, world.deps, "dlq", "list", "--json")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    [letter] = json.loads(result.stdout)["dead_letters"]
    assert letter["reason"] == FORGED_NAME


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (("review", "pay_1", "--session", "t", "--reject", "--reason"), "no\x1b[2K"),
        (("cancel", "pay_1", "--session", "t", "--reason"), "later\u202e"),
        (("admin", "add-bank", "EVIL", "--name"), "Bank\x1b[31m"),
        (("admin", "add-enterprise", "EVIL", "--name"), "Corp\u200b"),
    ],
)
def test_free_text_typed_on_the_command_line_is_refused_as_bad_input(
    monkeypatch: pytest.MonkeyPatch, world: World, command: tuple[str, ...], text: str
) -> None:
    before = sorted(world.deps.redis.keys("*"))
    result = run_text(monkeypatch, world.deps, *command, text, "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout.splitlines()[-1])["error"]
    assert "control or format character" in error and text not in error
    assert sorted(world.deps.redis.keys("*")) == before  # nothing enqueued, nothing stored
