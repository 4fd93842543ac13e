"""The query projector: the real events stream into an SQL read model (SQLite, PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from services.apply.handlers import handle_payment_request
from services.authorize.handlers import handle_auth_decision
from services.interbank.handlers import handle_submission
from services.query.projector import GROUP, Projector
from services.query.readmodel import ReadModel, make_engine
from services.review.handlers import handle_intake, handle_review_decision
from shared.domain.views import PaymentView
from shared.security.stage_signatures import signed_handoff
from tests.happy_path import FULL_HISTORY
from tests.integration.support import World, events_of, must_get, wrong_code

pytestmark = pytest.mark.integration

FULL_PATH = FULL_HISTORY
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _settle_one_payment(world: World) -> str:
    """Drive one payment through every stage's handler, with one refused command on the way."""
    deps = world.deps
    applied = handle_payment_request(world.payment_request().to_wire(), deps)
    assert applied.status == "otp_verified"
    payment = must_get(deps, applied.payment_id)
    intake = signed_handoff(deps.signer, payment, "apply", "c-in")
    assert handle_intake(intake.to_wire(), deps).status == "pending_review"
    assert (
        handle_review_decision(world.review(payment.payment_id).to_wire(), deps).status
        == "pending_auth"
    )
    bad = world.authorize(payment.payment_id, otp=wrong_code(world.authorizer.totp_secret))
    assert handle_auth_decision(bad.to_wire(), deps).reason_code == "otp_invalid"
    decision = world.authorize(payment.payment_id)
    assert handle_auth_decision(decision.to_wire(), deps).status == "authorized"
    authorized = must_get(deps, payment.payment_id)
    submit = signed_handoff(deps.signer, authorized, "authorize", decision.command_id)
    assert handle_submission(submit.to_wire(), deps).status == "settled"
    return payment.payment_id


def _snapshot(model: ReadModel, payment_id: str) -> tuple[PaymentView | None, int]:
    return model.payment(payment_id), model.count_events()


def _assert_projects_a_settled_payment(world: World, model: ReadModel) -> None:
    payment_id = _settle_one_payment(world)
    stream_events = events_of(world.deps, payment_id)
    projector = Projector(world.deps.redis, world.deps.keys, model)

    assert projector.catch_up() == len(stream_events)

    row = model.payment(payment_id)
    assert row is not None
    stored = must_get(world.deps, payment_id)
    assert row.status == "settled"
    assert row.seq == len(stream_events)
    assert (row.order_id, row.enterprise_id, row.amount, row.currency) == (
        stored.content.order_id,
        world.enterprise_id,
        "1250.00",
        "EUR",
    )
    assert [h.status for h in row.history] == FULL_PATH
    assert [h.seq for h in row.history] == sorted(h.seq for h in row.history)
    assert [h.seq for h in row.history] == [h.seq for h in stored.history]
    assert [(r.reason_code, r.actor_id) for r in row.refusals] == [
        ("otp_invalid", world.authorizer.username)
    ]
    assert model.count_events() == len(stream_events)
    assert [p.payment_id for p in model.list(status="settled")] == [payment_id]

    # Replaying the whole stream through a fresh projector changes nothing.
    before = _snapshot(model, payment_id)
    world.deps.redis.xgroup_setid(world.deps.keys.events, GROUP, id="0")
    assert Projector(world.deps.redis, world.deps.keys, model).catch_up() == len(stream_events)
    assert _snapshot(model, payment_id) == before


def test_the_projector_builds_a_settled_payment_with_its_history_in_seq_order_in_sqlite(
    world: World, tmp_path: Path
) -> None:
    model = ReadModel(make_engine(f"sqlite:///{tmp_path / 'projection' / 'read.db'}"))

    _assert_projects_a_settled_payment(world, model)


def test_a_consumer_that_crashed_before_acknowledging_reprojects_its_pending_entries_harmlessly(
    world: World, tmp_path: Path
) -> None:
    model = ReadModel(make_engine(f"sqlite:///{tmp_path / 'read.db'}"))
    payment_id = _settle_one_payment(world)
    total = len(events_of(world.deps, payment_id))
    Projector(world.deps.redis, world.deps.keys, model, consumer="query-1").catch_up()
    before = _snapshot(model, payment_id)
    # A second consumer reads every entry again (after a group reset) and dies unacknowledged...
    world.deps.redis.xgroup_setid(world.deps.keys.events, GROUP, id="0")
    read = world.deps.redis.xreadgroup(
        GROUP, "query-2", {world.deps.keys.events: ">"}, count=10_000
    )
    assert sum(len(entries) for _stream, entries in read) == total
    assert world.deps.redis.xpending(world.deps.keys.events, GROUP)["pending"] == total

    # ...and on restart re-reads its pending entries first.
    restarted = Projector(world.deps.redis, world.deps.keys, model, consumer="query-2")
    assert restarted.catch_up() == total

    assert _snapshot(model, payment_id) == before
    assert world.deps.redis.xpending(world.deps.keys.events, GROUP)["pending"] == 0


def test_events_arriving_after_a_catch_up_are_projected_by_the_next_one(
    world: World, tmp_path: Path
) -> None:
    model = ReadModel(make_engine(f"sqlite:///{tmp_path / 'read.db'}"))
    projector = Projector(world.deps.redis, world.deps.keys, model)
    applied = handle_payment_request(world.payment_request().to_wire(), world.deps)
    projector.catch_up()
    first = model.payment(applied.payment_id)
    assert first is not None
    assert first.status == "otp_verified"

    verified = must_get(world.deps, applied.payment_id)
    intake = signed_handoff(world.deps.signer, verified, "apply", "c-in")
    handle_intake(intake.to_wire(), world.deps)
    assert projector.catch_up() == 1

    later = model.payment(applied.payment_id)
    assert later is not None
    assert later.status == "pending_review"
    assert [h.status for h in later.history] == FULL_PATH[:3]


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is not installed")
    schema = f"b2bpay_test_{secrets.token_hex(4)}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_projector_builds_a_settled_payment_with_its_history_in_seq_order_in_postgresql(
    world: World, postgres_engine: Engine
) -> None:
    _assert_projects_a_settled_payment(world, ReadModel(postgres_engine))
