"""Sends due webhook deliveries from a pool of threads, so a slow or dead endpoint holds up
no other endpoint (each endpoint may use at most a quarter of the pool) and no stage (the
stages never wait for a webhook).

Each attempt claims its delivery first (it is due again after a lease if this process
dies), POSTs it with a timeout, and records the outcome: delivered on 2xx; else retried
after an exponential backoff with jitter, until the retry window from its first attempt has
passed, then failed for good. Settling a delivery makes the next event of the same payment
due for that endpoint, so each endpoint gets a payment's events in ``seq`` order.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import structlog

from services.webhooks import sender
from shared.redis.webhooks import Delivery, Webhooks

#: No retry waits longer than this (seconds), however many attempts came before.
MAX_BACKOFF_SECONDS = 3600.0
log = structlog.get_logger()

Post = Callable[[str, bytes, str, str, int, float], sender.Attempt]


def backoff(attempts: int, base: float, rng: random.Random) -> float:
    """The wait before attempt ``attempts + 1``: ``base * 2**(attempts-1)`` (capped), of
    which the second half is random, so endpoints that failed together retry apart."""
    full = min(base * 2.0 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return full / 2 + rng.uniform(0, full / 2)


class Dispatcher:
    def __init__(
        self,
        webhooks: Webhooks,
        *,
        timeout: float,
        backoff_seconds: float,
        retry_seconds: float,
        threads: int = 8,
        post: Post = sender.post,
        rng: random.Random | None = None,
    ) -> None:
        self._webhooks = webhooks
        self._timeout = timeout
        self._backoff = backoff_seconds
        self._retry = retry_seconds
        self._post = post
        self._rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
        self._per_endpoint = max(1, threads // 4)
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def dispatch_due(self) -> list[Future[None]]:
        """Start an attempt of every due delivery whose endpoint has room; returns them."""
        started: list[Future[None]] = []
        for delivery_id in self._webhooks.due():
            delivery = self._webhooks.delivery(delivery_id)
            if delivery is None:
                continue
            with self._lock:
                if self._in_flight[delivery.endpoint_id] >= self._per_endpoint:
                    continue
                # The lease outlasts the POST's timeout: nobody else attempts it meanwhile.
                if not self._webhooks.claim(delivery, lease_seconds=self._timeout + 30):
                    continue
                self._in_flight[delivery.endpoint_id] += 1
            started.append(self._pool.submit(self._attempt, delivery))
        return started

    def _attempt(self, delivery: Delivery) -> None:
        try:
            endpoint = self._webhooks.get(delivery.endpoint_id)
            if endpoint is None:
                self._webhooks.settle(delivery, "failed", None, "endpoint removed")
                return
            now = self._webhooks.now()
            result = self._post(
                endpoint.url,
                delivery.body.encode(),
                delivery.event_id,
                self._webhooks.secret(endpoint),
                int(now),
                self._timeout,
            )
            self._settle(delivery, result)
        except Exception:
            # Never lost: its claim lapses and it is attempted again.
            log.exception("webhook attempt failed", delivery_id=delivery.delivery_id)
        finally:
            with self._lock:
                self._in_flight[delivery.endpoint_id] -= 1

    def _settle(self, delivery: Delivery, result: sender.Attempt) -> None:
        fields = {"delivery_id": delivery.delivery_id, "endpoint_id": delivery.endpoint_id}
        if result.delivered:
            self._webhooks.settle(delivery, "delivered", None, None)
            log.info("webhook delivered", **fields)
            return
        now = self._webhooks.now()
        fresh = self._webhooks.delivery(delivery.delivery_id)
        first = fresh.first_at if fresh is not None and fresh.first_at is not None else now
        attempts = (fresh.attempts if fresh is not None else delivery.attempts) + 1
        next_at = now + backoff(attempts, self._backoff, self._rng)
        if next_at > first + self._retry:
            self._webhooks.settle(delivery, "failed", None, result.error)
            log.warning("webhook failed for good", error=result.error, **fields)
        else:
            self._webhooks.settle(delivery, "retry", next_at, result.error)
            log.info("webhook to be retried", error=result.error, attempts=attempts, **fields)

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Dispatch due deliveries until ``stop`` is set; in-flight POSTs end within their
        timeout."""
        while not stop.is_set():
            try:
                self.dispatch_due()
            except Exception:
                log.exception("webhooks: dispatching failed; retrying")
                stop.wait(1.0)
            stop.wait(interval)
        self._pool.shutdown(wait=True, cancel_futures=True)
