"""The status event schema: what the transition script writes is exactly the model, and one
decoder (with its upcasters) reads every stored event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.review.handlers import handle_review_decision
from shared.domain.contracts import StatusEvent
from shared.domain.status_events import (
    CURRENT,
    UPCASTERS,
    UndecodableEvent,
    decode_status_event,
)
from tests.unit.support import World

#: The field names of the model as they are written (``schema``, not ``schema_``).
MODEL_FIELDS = {field.alias or name for name, field in StatusEvent.model_fields.items()}


def _raw_bodies(world: World) -> list[dict[str, Any]]:
    """Every event body the script wrote: on the stream, and in every history list."""
    deps = world.deps
    bodies = [json.loads(data[b"event"]) for _id, data in deps.redis.xrange(deps.keys.events)]
    for payment_id in {body["payment_id"] for body in bodies}:
        history = deps.redis.lrange(deps.keys.history(payment_id), 0, -1)
        bodies += [json.loads(h) for h in history]
    return bodies


def test_every_kind_of_event_the_transition_script_writes_has_exactly_the_models_fields(
    world: World,
) -> None:
    # "create" and "transition": a payment through every stage.
    payment_id = world.to_pending_review()
    # "refuse": one of the payer's own people in the wrong role.
    wrong_role = world.review(payment_id, session=world.session(world.applicant))
    assert wrong_role.reason_code == "wrong_role"
    # "refuse_unattached": someone not known as a person of the payer.
    message = world.review_decision(payment_id, session="v1.garbage.token")
    assert handle_review_decision(message, world.deps).outcome == "refused"
    # A refusal decided inside "create": the same request id for other content.
    conflict = world.apply(request_id="req-1", amount="99.00")
    assert conflict.reason_code == "idempotency_conflict"
    assert world.review(payment_id).status == "pending_auth"
    assert world.authorize(payment_id).status == "authorized"
    world.submit_all()

    bodies = _raw_bodies(world)
    kinds = {
        "transition": [b for b in bodies if b["kind"] == "transition"],
        "refuse": [b for b in bodies if b["kind"] == "refusal" and b["seq"] > 0],
        "refuse_unattached": [b for b in bodies if str(b["event_id"]).startswith("refusal:")],
        "refused at create": [b for b in bodies if b["reason_code"] == "idempotency_conflict"],
    }
    for kind, written in kinds.items():
        assert written, f"no {kind} event was written"
        for body in written:
            assert set(body) == MODEL_FIELDS, kind
            assert body["schema"] == CURRENT
            assert decode_status_event(json.dumps(body)) == StatusEvent.model_validate(body)


# -- the decoder and its upcasters -----------------------------------------------------------

V0 = "b2bpay.status_event.v0"


def _v0_body() -> dict[str, Any]:
    """A made-up earlier version: ``state`` instead of ``status``, no ``previous_status``,
    the actor in one ``actor`` field ("role:id")."""
    return {
        "schema": V0,
        "event_id": "pay_1:1",
        "kind": "transition",
        "payment_id": "pay_1",
        "seq": 1,
        "state": "requested",
        "stage": "apply",
        "actor": "applicant:alice",
        "reason_code": None,
        "reason": None,
        "at": "2025-01-01T00:00:00.000Z",
    }


def _v0_to_v1(raw: dict[str, Any]) -> dict[str, Any]:
    role, _, user = raw.pop("actor").partition(":")
    status = raw.pop("state")
    return {
        **raw,
        "schema": CURRENT,
        "status": status,
        "previous_status": None,
        "actor_role": role,
        "actor_id": user,
    }


def test_an_event_of_an_earlier_version_is_read_through_its_registered_upcaster(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = world.deps
    payment_id = world.to_pending_review()
    deps.redis.xadd(deps.keys.events, {"event": json.dumps(_v0_body())})
    with pytest.raises(UndecodableEvent, match="no upcaster"):
        deps.store.read_events()

    monkeypatch.setitem(UPCASTERS, V0, _v0_to_v1)
    events = [event for _id, event in deps.store.read_events()]
    assert [e.payment_id for e in events[:-1]] == [payment_id] * (len(events) - 1)
    old = events[-1]
    assert (old.schema_, old.payment_id, old.status, old.previous_status) == (
        CURRENT,
        "pay_1",
        "requested",
        None,
    )
    assert (old.actor_role, old.actor_id) == ("applicant", "alice")


def test_upcasters_are_chained_until_the_current_version(monkeypatch: pytest.MonkeyPatch) -> None:
    older = "b2bpay.status_event.v-1"
    monkeypatch.setitem(UPCASTERS, older, lambda raw: {**raw, "schema": V0, "actor": "x:y"})
    monkeypatch.setitem(UPCASTERS, V0, _v0_to_v1)
    event = decode_status_event({**_v0_body(), "schema": older, "actor": None})
    assert (event.actor_role, event.actor_id, event.status) == ("x", "y", "requested")


def test_the_current_version_is_read_as_it_is() -> None:
    body = {**_v0_to_v1(_v0_body()), "order_id": "ORD-1"}
    assert decode_status_event(json.dumps(body).encode()) == StatusEvent.model_validate(body)
    assert UPCASTERS[CURRENT](dict(body)) == body


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1, 2]", b"\xff\xfe", json.dumps({"schema": CURRENT, "kind": "x"})],
    ids=["empty", "not-json", "not-an-object", "not-utf8", "invalid"],
)
def test_a_body_that_is_no_status_event_is_undecodable(body: bytes | str) -> None:
    with pytest.raises(UndecodableEvent):
        decode_status_event(body)


def test_upcasters_that_never_reach_the_current_version_are_undecodable_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(UPCASTERS, V0, lambda raw: raw)
    with pytest.raises(UndecodableEvent, match="never upcast"):
        decode_status_event(_v0_body())
