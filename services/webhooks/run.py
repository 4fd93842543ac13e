"""``b2bpay worker webhooks``: the follower and the dispatcher of one process."""

from __future__ import annotations

import threading

from services.webhooks import seams
from services.webhooks.dispatcher import Dispatcher
from services.webhooks.follower import WebhookFollower
from services.webhooks.seams import OwnerOf
from shared.app.deps import Deps
from shared.redis.webhooks import Webhooks


def webhooks_of(deps: Deps) -> Webhooks:
    """The webhook registry and outbox, with the key ring that seals the secrets."""
    return Webhooks(deps.redis, deps.keys, deps.directory.totp_keys, clock=deps.store.now)


def dispatcher_of(deps: Deps, webhooks: Webhooks) -> Dispatcher:
    s = deps.settings
    return Dispatcher(
        webhooks,
        timeout=s.webhook_timeout_seconds,
        backoff_seconds=s.webhook_backoff_seconds,
        retry_seconds=s.webhook_retry_hours * 3600,
        threads=s.webhook_threads,
    )


def run_webhooks(deps: Deps, stop: threading.Event, owner_of: OwnerOf | None = None) -> None:
    """Follow the stream and send deliveries until ``stop`` is set; returns (so the worker
    notices) if either half ends."""
    webhooks = webhooks_of(deps)
    follower = WebhookFollower(
        deps.redis,
        deps.keys,
        webhooks,
        owner_of or seams.owner_of(deps),
        claim_idle_ms=deps.settings.webhook_claim_idle_ms,
    )
    inner = threading.Event()
    halves = [
        threading.Thread(target=follower.run, args=(inner,), name="webhook-follower"),
        threading.Thread(
            target=dispatcher_of(deps, webhooks).run, args=(inner,), name="webhook-dispatcher"
        ),
    ]
    for half in halves:
        half.start()
    while not stop.wait(0.5):
        if not all(half.is_alive() for half in halves):
            break
    inner.set()
    for half in halves:
        half.join(timeout=30)
