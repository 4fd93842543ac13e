"""Issue 9's "done when", as one flow over real sockets: a platform with only its API key
creates a payment and gets every status change by webhook; the applicant confirms it over
HTTP; a reviewer and an authorizer finish it over HTTP; an event-stream client that drops its
connection mid-flow and reconnects with ``Last-Event-ID`` misses nothing."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from services.webhooks.run import webhooks_of
from services.webhooks.signature import verify
from shared.app.deps import platforms_of
from tests.api.conftest import ACC1, E1
from tests.happy_path import FULL_HISTORY
from tests.integration.receiver import Receiver
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

FLOW = FULL_HISTORY


def _sse(
    stack: Stack, token: str, pid: str, last_id: str | None, until: Any
) -> list[tuple[str, dict[str, Any]]]:
    """Events of ``pid`` from the stream, resumed after ``last_id``, until ``until(events)``
    (then the connection drops)."""
    headers = {"Authorization": f"Bearer {token}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    got: list[tuple[str, dict[str, Any]]] = []
    with (
        stack.http(timeout=60) as c,
        c.stream("GET", "/v1/events", headers=headers, params={"payment_id": pid}) as r,
    ):
        assert r.status_code == 200
        sid = ""
        for line in r.iter_lines():
            if line.startswith("id: "):
                sid = line[4:]
            elif line.startswith("data: "):
                got.append((sid, json.loads(line[6:])))
                if until(got):
                    break
    return got


def test_a_platform_with_its_key_gets_every_status_change_by_webhook_while_people_finish_over_http(
    stack: Stack,
) -> None:
    platform_id = f"ld{secrets.token_hex(3)}"
    directory = stack.world.deps.directory
    _, key = platforms_of(stack.world.deps).add(
        platform_id, "Liandong", [E1], lambda e: directory.enterprise(e) is not None
    )
    receiver = Receiver()
    _, secret = webhooks_of(stack.world.deps).add(platform_id, receiver.url, ["payment.*"])
    order = f"LD-{secrets.token_hex(3)}"
    request = {
        "order_id": order,
        "payer": {"enterprise_id": E1, "account": ACC1, "name": "Payer Co."},
        "payee": {"bank_code": "BOC", "account": "62220200001234", "name": "Supplier Co."},
        "amount": "990.00",
        "currency": "CNY",
        "purpose": "order payment",
    }
    # The platform: only its key (curl would send exactly these headers).
    with stack.http(headers={"X-Api-Key": key, "Idempotency-Key": order}) as c:
        created = c.post("/v1/payments", json=request)
    assert created.status_code == 201, created.text
    pid = created.json()["payment_id"]
    app, rev, auth = (stack.login(n) for n in ("app8", "rev1", "auth1"))
    # An event-stream client sees the request, and its connection drops.
    first = _sse(stack, rev, pid, None, lambda got: len(got) == 1)
    assert first[0][1]["status"] == "requested"
    with stack.http(headers={"Authorization": f"Bearer {app}"}) as c:
        confirmed = c.post(
            f"/v1/payments/{pid}/confirmation",
            json={"bank": "BOC", "otp": stack.world.code("app8")},
        )
    assert (confirmed.status_code, confirmed.json()["status"]) == (200, "otp_verified")
    with stack.http(headers={"Authorization": f"Bearer {rev}"}) as c:
        reviewed = c.post(f"/v1/payments/{pid}/review", json={"approve": True})
    assert (reviewed.status_code, reviewed.json()["status"]) == (200, "pending_auth")
    with stack.http(headers={"Authorization": f"Bearer {auth}"}) as c:
        assert c.get(f"/v1/payments/{pid}/challenge").json()["amount"] == "990.00"
        authorized = c.post(
            f"/v1/payments/{pid}/authorization",
            json={"approve": True, "otp": stack.world.auth_code(pid, "auth1")},
        )
    assert (authorized.status_code, authorized.json()["status"]) == (200, "authorized")
    # The client reconnects after the last event it saw, and reads on to the end.
    rest = _sse(stack, rev, pid, first[-1][0], lambda got: got[-1][1].get("status") == "settled")
    seen = [e for _, e in first + rest if e["kind"] == "transition"]
    assert [e["status"] for e in seen] == FLOW
    assert [e["seq"] for e in seen] == sorted({e["seq"] for e in seen})  # no gap, no repeat
    assert len({sid for sid, _ in first + rest}) == len(first + rest)

    # The platform follows its own payment on the event stream too, with its key.
    platform_view: list[dict[str, Any]] = []
    with (
        stack.http(timeout=60) as c,
        c.stream("GET", "/v1/events", headers={"X-Api-Key": key}, params={"payment_id": pid}) as r,
    ):
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                platform_view.append(json.loads(line[6:]))
                if platform_view[-1].get("status") == "settled":
                    break
    assert [e["status"] for e in platform_view if e["kind"] == "transition"] == FLOW

    # Every status change reached the platform's webhook, signed, in order, exactly once.
    def all_delivered() -> list[dict[str, Any]] | None:
        got = [json.loads(b) for b in receiver.bodies()]
        return got if [e.get("status") for e in got] == FLOW else None

    delivered = wait_until("every status change by webhook", all_delivered, timeout=60)
    assert [e["payment_id"] for e in delivered] == [pid] * len(FLOW)
    for r in receiver.received:
        headers = {k.lower(): v for k, v in r.headers.items()}
        assert verify(secret, headers["b2bpay-signature"], r.body, now=time.time())
        assert headers["b2bpay-event-id"] == json.loads(r.body)["event_id"]
    receiver.close()
