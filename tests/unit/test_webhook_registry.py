"""The webhook registry and outbox on fakeredis with the real Lua: what an endpoint may be,
how its secret is kept, and the order and idempotency of deliveries; routing keys; the CLI."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from typer.testing import CliRunner

from services.apply.handlers import handle_platform_request
from services.cli import context
from services.cli.main import app
from services.webhooks import seams
from services.webhooks.dispatcher import MAX_BACKOFF_SECONDS, backoff
from services.webhooks.run import webhooks_of
from services.webhooks.signature import signature_header, verify
from shared.app import platform_client
from shared.app.deps import Deps, platforms_of
from shared.domain.contracts import StatusEvent, payment_id_for
from shared.domain.routing_keys import is_pattern, matches, routing_key
from shared.messaging import routes as q
from shared.redis.webhooks import (
    DeliveryStatus,
    WebhookError,
    WebhookRefusal,
    Webhooks,
    delivery_id_of,
)
from shared.security.keyring import CryptoError
from tests.unit.support import PAYER, PAYER_ACCOUNT, World, queued


def _event(seq: int, status: str = "pending_review", kind: str = "transition") -> StatusEvent:
    return StatusEvent(
        event_id=f"pay_1:{seq}", kind=kind, payment_id="pay_1", seq=seq, status=status,  # type: ignore[arg-type]
        previous_status=None, stage="review", actor_role=None, actor_id=None,
        reason_code="wrong_role" if kind == "refusal" else None, reason=None,
        at="2026-01-01T00:00:00Z",
    )  # fmt: skip


@pytest.fixture
def hooks(deps: Deps) -> Webhooks:
    return webhooks_of(deps)


def test_routing_keys_name_the_status_of_a_transition_and_the_reason_of_a_refusal() -> None:
    assert routing_key(_event(1, "settled")) == "payment.settled"
    assert routing_key(_event(2, kind="refusal")) == "refusal.wrong_role"


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("payment.*", "payment.settled", True),
        ("payment.*", "refusal.wrong_role", False),
        ("payment.*", "payment", False),
        ("#", "refusal.otp_invalid", True),
        ("refusal.#", "refusal.otp_invalid", True),
        ("payment.settled", "payment.rejected", False),
    ],
)
def test_patterns_follow_amqp_topic_rules(pattern: str, key: str, expected: bool) -> None:
    assert matches(pattern, key) is expected


@pytest.mark.parametrize("pattern", ["", "payment.", "Payment.*", "payment.*x", "a b"])
def test_a_malformed_pattern_is_not_a_pattern(pattern: str) -> None:
    assert not is_pattern(pattern)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://platform.example/hooks",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https:///no-host",
        "https://user:pass@platform.example/hooks",
        "https://platform.example/hooks\r\nX-Injected: 1",
        "https://platform.example/ho oks",
        "https://platform.example:99999/",
        "https://platform.example/" + "a" * 2100,
    ],
)
def test_an_endpoint_url_other_than_plain_http_or_https_is_refused_without_echoing_it(
    hooks: Webhooks, url: str
) -> None:
    with pytest.raises(WebhookError) as refused:
        hooks.add("liandong", url)
    assert refused.value.reason_code is WebhookRefusal.INVALID_URL
    assert url not in str(refused.value)


def test_the_signing_secret_is_stored_only_sealed_and_bound_to_its_endpoint(
    hooks: Webhooks, deps: Deps
) -> None:
    first, secret = hooks.add("liandong", "https://platform.example/a")
    second, _ = hooks.add("liandong", "https://platform.example/b")
    stored = deps.redis.hgetall(deps.keys.webhook(first.endpoint_id))
    assert secret.encode() not in b"".join(stored.values())
    assert hooks.secret(first) == secret
    # The attack: copy the sealed secret onto another endpoint to have it sign with it.
    deps.redis.hset(deps.keys.webhook(second.endpoint_id), "secret", stored[b"secret"])
    with pytest.raises(CryptoError):
        hooks.secret(second)


def test_recording_a_delivery_twice_records_it_once(hooks: Webhooks) -> None:
    endpoint, _ = hooks.add("liandong", "https://platform.example/a")
    assert hooks.enqueue(endpoint, _event(1), "{}")
    assert not hooks.enqueue(endpoint, _event(1), "{}")
    assert len(hooks.deliveries()) == 1


def test_only_the_first_undelivered_event_of_a_payment_is_due_for_an_endpoint(
    hooks: Webhooks,
) -> None:
    endpoint, _ = hooks.add("liandong", "https://platform.example/a")
    other, _ = hooks.add("liandong", "https://platform.example/b")
    for seq in (1, 2, 3):
        hooks.enqueue(endpoint, _event(seq), "{}")
    hooks.enqueue(other, _event(2), "{}")
    first = delivery_id_of(endpoint.endpoint_id, "pay_1:1")
    assert set(hooks.due()) == {first, delivery_id_of(other.endpoint_id, "pay_1:2")}
    delivery = hooks.delivery(first)
    assert delivery is not None and hooks.claim(delivery, lease_seconds=30)
    assert not hooks.claim(delivery, lease_seconds=30)  # one sender at a time
    assert hooks.settle(delivery, "delivered", None, None)
    assert delivery_id_of(endpoint.endpoint_id, "pay_1:2") in hooks.due()
    assert hooks.delivery(first).status is DeliveryStatus.DELIVERED  # type: ignore[union-attr]


def test_a_delivery_still_pending_or_unknown_is_not_replayed(hooks: Webhooks) -> None:
    endpoint, _ = hooks.add("liandong", "https://platform.example/a")
    hooks.enqueue(endpoint, _event(1), "{}")
    with pytest.raises(WebhookError) as pending:
        hooks.replay(delivery_id_of(endpoint.endpoint_id, "pay_1:1"))
    assert pending.value.reason_code is WebhookRefusal.DELIVERY_PENDING
    with pytest.raises(WebhookError) as unknown:
        hooks.replay("whd_nothing")
    assert unknown.value.reason_code is WebhookRefusal.UNKNOWN_DELIVERY


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    waits = [backoff(n, 5, rng) for n in range(1, 6)]
    for n, wait in enumerate(waits, start=1):
        assert 5 * 2 ** (n - 1) / 2 <= wait <= 5 * 2 ** (n - 1)
    assert backoff(40, 5, rng) <= MAX_BACKOFF_SECONDS
    assert len({backoff(3, 5, rng) for _ in range(5)}) > 1


def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    header = signature_header("whsec_k", 1_700_000_000, b'{"a":1}')
    assert verify("whsec_k", header, b'{"a":1}', now=1_700_000_010)
    assert not verify("whsec_k", header, b'{"a":2}', now=1_700_000_010)
    assert not verify("whsec_other", header, b'{"a":1}', now=1_700_000_010)
    assert not verify("whsec_k", header, b'{"a":1}', now=1_700_001_000)
    assert not verify("whsec_k", "v1=deadbeef", b'{"a":1}', now=1_700_000_010)


def _cli(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str) -> Any:
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    return CliRunner().invoke(app, list(args))


def _register_liandong(deps: Deps) -> None:
    deps.directory.add_bank("BOC", "Bank of China", True)
    deps.directory.add_enterprise("ACME", "Acme", ["BOC"], ["A-1"], True)
    platforms_of(deps).add("liandong", "Liandong", ["ACME"], lambda e: True)


def test_add_webhook_refuses_a_platform_that_is_not_registered(
    monkeypatch: pytest.MonkeyPatch, deps: Deps, hooks: Webhooks
) -> None:
    refused = _cli(
        monkeypatch, deps, "admin", "add-webhook", "ghost", "https://platform.example/h", "--json"
    )
    assert refused.exit_code == 1, refused.output
    assert json.loads(refused.output)["reason_code"] == "unknown_platform"
    assert hooks.of_platform("ghost") == []


def test_add_webhook_shows_the_secret_once_and_the_listing_never_does(
    monkeypatch: pytest.MonkeyPatch, deps: Deps, hooks: Webhooks
) -> None:
    _register_liandong(deps)
    added = _cli(
        monkeypatch, deps, "admin", "add-webhook", "liandong", "https://platform.example/h",
        "--events", "payment.*,refusal.#", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    shown = json.loads(added.output)
    assert shown["events"] == ["payment.*", "refusal.#"]
    assert shown["secret"].startswith("whsec_")
    endpoint = hooks.get(shown["endpoint_id"])
    assert endpoint is not None
    hooks.enqueue(endpoint, _event(1), "{}")
    listed = _cli(monkeypatch, deps, "webhooks", "deliveries", "--json")
    assert listed.exit_code == 0
    assert len(json.loads(listed.output)["deliveries"]) == 1
    assert shown["secret"] not in listed.output


def test_add_webhook_refuses_a_bad_url_with_its_reason_code(
    monkeypatch: pytest.MonkeyPatch, deps: Deps
) -> None:
    _register_liandong(deps)
    refused = _cli(monkeypatch, deps, "admin", "add-webhook", "liandong", "ftp://x/", "--json")
    assert refused.exit_code == 2
    assert json.loads(refused.output)["reason_code"] == "invalid_url"


def test_the_owner_of_a_payment_is_the_platform_that_created_it_and_none_for_a_person(
    world: World,
) -> None:
    platform, _ = platforms_of(world.deps).add(
        "liandong", "Liandong", [PAYER], lambda e: world.deps.directory.enterprise(e) is not None
    )
    by_person = world.to_pending_review()
    request = {
        "request_id": "LD-1",
        "order_id": "ORDER-LD-1",
        "payer": {"enterprise_id": PAYER, "account": PAYER_ACCOUNT, "name": "Acme"},
        "payee": {"bank_code": "PAYEEBK", "account": "DE0012345678", "name": "Supplier"},
        "amount": "10.00",
        "currency": "EUR",
    }
    platform_client.create_request(world.deps, request, platform)
    assert (
        handle_platform_request(queued(world.deps, q.APPLY)[-1], world.deps).outcome == "accepted"
    )
    by_platform = payment_id_for(PAYER, "LD-1", "liandong")
    owner = seams.owner_of(world.deps)
    assert owner(by_platform) == "liandong"
    assert owner(by_person) is None
    assert owner("pay_missing") is None
    assert seams.platform_exists(world.deps, "liandong")
    assert not seams.platform_exists(world.deps, "ghost")
