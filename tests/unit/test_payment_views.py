"""The typed read side (issue 16, item 4): the read model, the application client and the HTTP
API all give a payment as :class:`PaymentView` (a list as :class:`PaymentListItem`), the
OpenAPI document describes it field by field, and the JSON people see keeps its keys, their
order and their values."""

from __future__ import annotations

import json
import types
import typing
import warnings
from pathlib import Path
from typing import Any

import pytest
from jsonschema_rs import Draft202012Validator
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from services.api.app import create_app
from services.api.dependencies import Api
from services.cli import context
from services.cli.main import app as cli_app
from services.query.readmodel import ReadModel, make_engine
from shared.app import client
from shared.domain.contracts import payment_id_for
from shared.domain.views import HistoryEntry, PaymentListItem, PaymentView, RefusalEntry
from shared.security.totp import STEP_SECONDS
from tests.unit.cli_api import serve_in_process
from tests.unit.support import PAYER, World, wrong_code

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PID = payment_id_for(PAYER, "req-1")
#: The JSON keys of a payment, in the order people have always seen them.
PAYMENT_KEYS = [
    "payment_id",
    "status",
    "order_id",
    "enterprise_id",
    "amount",
    "currency",
    "seq",
    "created_at",
    "updated_at",
]
HISTORY_KEYS = ["status", "at", "stage", "actor_role", "actor_id", "reason_code", "reason", "seq"]
REFUSAL_KEYS = [
    "at",
    "stage",
    "actor_role",
    "actor_id",
    "reason_code",
    "reason",
    "command_id",
    "seq",
]


@pytest.fixture
def projected(world: World, tmp_path: Path) -> tuple[World, ReadModel]:
    """The payer's payment waiting for authorization after one wrong authorizer code,
    projected into a read model on disk."""
    url = f"sqlite:///{tmp_path / 'read.db'}"
    world.deps.settings = world.deps.settings.model_copy(update={"database_url": url})
    payment_id = world.to_pending_review()
    world.review(payment_id)
    world.clock.advance(STEP_SECONDS)
    bad = wrong_code(world.authorizer.totp_secret, world.clock())
    assert world.authorize(payment_id, otp=bad).reason_code == "otp_invalid"
    model = ReadModel(make_engine(url))
    model.apply_batch(world.deps.store.read_events())
    return world, model


def _http(world: World, model: ReadModel) -> TestClient:
    return TestClient(create_app(Api(deps=world.deps, views=lambda: model, wait_seconds=0.1)))


def _nullable(annotation: Any) -> bool:
    return isinstance(annotation, types.UnionType) and type(None) in typing.get_args(annotation)


def test_a_view_is_frozen_and_takes_no_field_it_does_not_declare() -> None:
    entry = HistoryEntry(
        status="settled",
        at="2026-12-01T00:00:00.000Z",
        stage="interbank",
        actor_role=None,
        actor_id=None,
        reason_code=None,
        reason=None,
        seq=7,
    )
    with pytest.raises(ValidationError):
        entry.seq = 8  # type: ignore[misc]
    with pytest.raises(ValidationError):
        HistoryEntry.model_validate({**entry.model_dump(), "kind": "transition"})
    with pytest.raises(ValidationError):
        HistoryEntry.model_validate({**entry.model_dump(), "status": "paid"})


def test_the_read_model_and_the_client_give_typed_views_in_seq_order(
    projected: tuple[World, ReadModel],
) -> None:
    world, model = projected
    found = model.payment(PID)
    assert isinstance(found, PaymentView)
    assert [h.status for h in found.history] == [
        "requested",
        "otp_verified",
        "pending_review",
        "pending_auth",
    ]
    assert [r.reason_code for r in found.refusals] == ["otp_invalid"]
    assert model.payment(payment_id_for(PAYER, "nope")) is None
    assert [type(p) for p in model.list(enterprise_id=PAYER)] == [PaymentListItem]

    shown = client.status(world.deps, lambda: model, PID, session=world.session(world.reviewer))
    assert [r.reason_code for r in shown.refusals] == ["authentication_failed"]
    # The person's view is a copy: the read model's own is left as it is.
    assert found.refusals[0].reason_code == "otp_invalid"


@pytest.mark.parametrize("view", [PaymentView, HistoryEntry, RefusalEntry])
def test_the_openapi_document_describes_each_field_of_a_payment_nullable_where_it_may_be_null(
    projected: tuple[World, ReadModel], view: type[BaseModel]
) -> None:
    world, model = projected
    schemas = _http(world, model).get("/openapi.json").json()["components"]["schemas"]
    described = schemas[view.__name__]

    assert list(described["properties"]) == list(view.model_fields)
    assert sorted(described["required"]) == sorted(view.model_fields)
    assert described["additionalProperties"] is False
    for name, field in view.model_fields.items():
        prop = described["properties"][name]
        assert prop.get("description"), f"{view.__name__}.{name} is not described"
        accepts_null = {"type": "null"} in prop.get("anyOf", [])
        assert accepts_null == _nullable(field.annotation), f"{view.__name__}.{name}"


def test_a_payment_and_a_page_over_http_match_the_openapi_document_key_for_key(
    projected: tuple[World, ReadModel],
) -> None:
    world, model = projected
    http = _http(world, model)
    document = http.get("/openapi.json").json()
    headers = {"Authorization": f"Bearer {world.session(world.reviewer)}"}

    one = http.get(f"/v1/payments/{PID}", headers=headers)
    page = http.get("/v1/payments", headers=headers)

    assert (one.status_code, page.status_code) == (200, 200)
    for path, answer in (("/v1/payments/{payment_id}", one), ("/v1/payments", page)):
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]
        validator = Draft202012Validator(
            {**schema["application/json"]["schema"], "components": document["components"]}
        )
        validator.validate(answer.json())
    body = one.json()
    assert list(body) == [*PAYMENT_KEYS, "history", "refusals"]
    assert {tuple(h) for h in body["history"]} == {tuple(HISTORY_KEYS)}
    assert [list(r) for r in body["refusals"]] == [REFUSAL_KEYS]
    assert body["status"] == "pending_auth"
    assert body["refusals"][0]["reason_code"] == "authentication_failed"
    assert [list(p) for p in page.json()["payments"]] == [PAYMENT_KEYS]
    assert page.json()["next_cursor"] is None


def test_the_cli_prints_with_json_exactly_what_the_api_answers(
    monkeypatch: pytest.MonkeyPatch, projected: tuple[World, ReadModel]
) -> None:
    world, model = projected
    monkeypatch.setattr(context, "deps", lambda: world.deps)
    monkeypatch.setattr(context, "settings", lambda: world.deps.settings)
    serve_in_process(monkeypatch, world.deps)
    session = world.session(world.reviewer)
    answered = _http(world, model).get(
        f"/v1/payments/{PID}", headers={"Authorization": f"Bearer {session}"}
    )

    printed = CliRunner().invoke(cli_app, ["status", PID, "--session", session, "--json"])

    assert printed.exit_code == 0, printed.output
    assert printed.stdout.strip() == json.dumps(answered.json())
