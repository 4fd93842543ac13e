"""People's views (issue 7, item 5): `status`, `list` and `challenge` show a person only their
own enterprise's payments, and never which authentication factor failed; the precise codes
stay in the operator's raw event stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import context
from services.cli.main import app
from services.query.readmodel import ReadModel, make_engine
from shared.app.deps import Deps
from shared.domain.contracts import payment_id_for
from shared.security.totp import STEP_SECONDS
from tests.unit.cli_api import serve_in_process
from tests.unit.support import OTHER_ENTERPRISE, PAYER, World, wrong_code


def run(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    serve_in_process(monkeypatch, deps)
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, json.loads(lines[-1]) if lines else {}


@pytest.fixture
def seen(world: World, tmp_path: Path) -> World:
    """The payer's payment, waiting for authorization after one wrong authorizer code, and
    another enterprise's payment; all projected into a read model on disk."""
    url = f"sqlite:///{tmp_path / 'read.db'}"
    world.deps.settings = world.deps.settings.model_copy(update={"database_url": url})
    payment_id = world.to_pending_review()
    world.review(payment_id)
    bad = wrong_code(world.authorizer.totp_secret, world.clock())
    assert world.authorize(payment_id, otp=bad).reason_code == "otp_invalid"
    gina, _ = world.deps.directory.add_user("gina", OTHER_ENTERPRISE, "applicant", "gina-password")
    world.clock.advance(STEP_SECONDS)
    other = world.apply(
        payer={"enterprise_id": OTHER_ENTERPRISE, "account": "GLOBEX-001", "name": "Globex"},
        session=world.session(gina),
        otp=world.code(gina),
    )
    assert other.outcome == "accepted"
    ReadModel(make_engine(url)).apply_batch(world.deps.store.read_events())
    return world


PID = payment_id_for(PAYER, "req-1")


def test_status_never_tells_a_person_which_factor_failed(
    monkeypatch: pytest.MonkeyPatch, seen: World
) -> None:
    code, shown = run(
        monkeypatch, seen.deps, "status", PID, "--session", seen.session(seen.authorizer)
    )
    assert code == 0
    assert [r["reason_code"] for r in shown["refusals"]] == ["authentication_failed"]
    assert "otp_invalid" not in json.dumps(shown)


def test_status_of_another_enterprises_payment_is_told_as_not_found(
    monkeypatch: pytest.MonkeyPatch, seen: World
) -> None:
    gina = seen.deps.directory.user("gina")
    assert gina is not None
    session = seen.session(gina)
    existing = run(monkeypatch, seen.deps, "status", PID, "--session", session)
    missing = run(
        monkeypatch, seen.deps, "status", payment_id_for(PAYER, "nope"), "--session", session
    )
    assert existing[0] == missing[0] == 1
    assert existing[1]["reason_code"] == missing[1]["reason_code"] == "payment_not_found"
    assert existing[1]["error"].replace(PID, "X") == missing[1]["error"].replace(
        payment_id_for(PAYER, "nope"), "X"
    )


def test_status_needs_a_live_session(monkeypatch: pytest.MonkeyPatch, seen: World) -> None:
    code, shown = run(monkeypatch, seen.deps, "status", PID, "--session", "v1.garbage.token")
    assert (code, shown["reason_code"]) == (1, "authentication_failed")


def test_list_shows_only_the_persons_own_enterprise(
    monkeypatch: pytest.MonkeyPatch, seen: World
) -> None:
    session = seen.session(seen.reviewer)
    code, shown = run(monkeypatch, seen.deps, "list", "--session", session)
    assert code == 0
    assert {p["enterprise_id"] for p in shown["payments"]} == {PAYER}
    assert [p["payment_id"] for p in shown["payments"]] == [PID]


def test_challenge_of_another_enterprises_payment_is_told_as_not_found(
    monkeypatch: pytest.MonkeyPatch, seen: World
) -> None:
    outsider, _ = seen.deps.directory.add_user(
        "gus", OTHER_ENTERPRISE, "authorizer", "gus-password"
    )
    session = seen.session(outsider)
    existing = run(monkeypatch, seen.deps, "challenge", PID, "--session", session)
    missing = run(
        monkeypatch, seen.deps, "challenge", payment_id_for(PAYER, "nope"), "--session", session
    )
    assert existing[0] == missing[0] == 1
    assert existing[1]["reason_code"] == missing[1]["reason_code"] == "payment_not_found"
    assert "amount" not in existing[1]


def test_challenge_shows_the_payers_authorizer_what_is_signed(
    monkeypatch: pytest.MonkeyPatch, seen: World
) -> None:
    code, shown = run(
        monkeypatch, seen.deps, "challenge", PID, "--session", seen.session(seen.authorizer)
    )
    assert (code, shown["amount"]) == (0, "1250.00")


def test_the_operators_event_stream_keeps_the_precise_code(
    monkeypatch: pytest.MonkeyPatch, seen: World
) -> None:
    monkeypatch.setattr(context, "deps", lambda: seen.deps)
    result = CliRunner().invoke(app, ["events", "--json"])
    assert "otp_invalid" in result.stdout
    assert "operator" in CliRunner().invoke(app, ["events", "--help"]).stdout.lower()
