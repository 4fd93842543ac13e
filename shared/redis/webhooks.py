"""Webhooks on Redis: the platforms' endpoints (the registry) and their deliveries (the
outbox the webhooks worker sends from).

An endpoint's signing secret is shown once, when it is added, and stored only sealed with
the TOTP key ring, bound to the endpoint and its platform (a sealed secret copied onto
another endpoint does not decrypt). A delivery's id derives from its endpoint and event, so
recording it twice records it once; each endpoint gets a payment's events in ``seq`` order
(:file:`webhooks.lua`: only the first undelivered delivery of a lane is due).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import redis

from shared.domain.contracts import StatusEvent
from shared.domain.errors import B2bpayError
from shared.domain.routing_keys import DEFAULT_PATTERN, is_pattern, matches, routing_key
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.keyring import KeyRing

_SCRIPT = resources.files("shared.redis").joinpath("webhooks.lua").read_text()
MAX_URL_LENGTH = 2048
_PLATFORM_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


class WebhookRefusal(StrEnum):
    """Why a webhook command was refused."""

    #: The URL is not an absolute http(s) URL with a host, holds a user name or password,
    #: whitespace or control characters, or is longer than 2048 characters.
    INVALID_URL = "invalid_url"
    #: An event pattern is not lower-case words, ``*`` and ``#`` separated by dots.
    INVALID_PATTERN = "invalid_pattern"
    #: The platform id is malformed (1-64 letters, digits, ``_``, ``.``, ``-``).
    INVALID_PLATFORM = "invalid_platform"
    #: No platform has this id.
    UNKNOWN_PLATFORM = "unknown_platform"
    #: No delivery has this id.
    UNKNOWN_DELIVERY = "unknown_delivery"
    #: The delivery is still being attempted; only a delivered or failed one is replayed.
    DELIVERY_PENDING = "delivery_pending"


class WebhookError(B2bpayError):
    """Raised when a webhook command is refused; carries its :class:`WebhookRefusal` and
    never the refused URL (it may hold a token) or any secret."""

    def __init__(self, reason_code: WebhookRefusal, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class DeliveryStatus(StrEnum):
    #: Recorded, not yet accepted by the endpoint; attempted when due.
    PENDING = "pending"
    #: The endpoint answered 2xx.
    DELIVERED = "delivered"
    #: No 2xx within the retry window; kept until replayed.
    FAILED = "failed"


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    platform_id: str
    url: str
    events: tuple[str, ...]
    #: Unix seconds; events on the stream before this are not sent to it.
    created_at: float

    def wants(self, event: StatusEvent) -> bool:
        key = routing_key(event)
        return any(matches(p, key) for p in self.events)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint_id": self.endpoint_id,
            "platform_id": self.platform_id,
            "url": self.url,
            "events": list(self.events),
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    endpoint_id: str
    event_id: str
    payment_id: str
    seq: int
    routing_key: str
    #: The exact bytes POSTed (and signed): the event's JSON.
    body: str
    status: DeliveryStatus
    attempts: int
    created_at: float
    first_at: float | None
    next_at: float | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "payment_id": self.payment_id,
            "seq": self.seq,
            "routing_key": self.routing_key,
            "status": str(self.status),
            "attempts": self.attempts,
            "created_at": self.created_at,
            "next_at": self.next_at,
            "last_error": self.last_error,
        }


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL fit to POST to, else :class:`WebhookError`."""
    refused = WebhookError(WebhookRefusal.INVALID_URL, "URL must be an absolute http(s) URL")
    if len(url) > MAX_URL_LENGTH or any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in url):
        raise refused
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise refused from None
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and listings; the signature authenticates us.
        raise refused
    return url


def check_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """The patterns (comma-separated ones split), or :class:`WebhookError`; none given
    means :data:`~shared.domain.routing_keys.DEFAULT_PATTERN`."""
    split = [p.strip() for item in patterns for p in item.split(",") if p.strip()]
    if not all(is_pattern(p) for p in split):
        raise WebhookError(WebhookRefusal.INVALID_PATTERN, "event patterns are words, * and #")
    return tuple(dict.fromkeys(split)) or (DEFAULT_PATTERN,)


def check_platform_id(platform_id: str) -> str:
    if not 0 < len(platform_id) <= 64 or not set(platform_id) <= _PLATFORM_ID_CHARS:
        raise WebhookError(WebhookRefusal.INVALID_PLATFORM, "malformed platform id")
    return platform_id


def bound(endpoint_id: str, platform_id: str) -> str:
    """What an endpoint's sealed secret is bound to (AES-GCM associated data)."""
    return f"webhook:{endpoint_id}:{platform_id}"


def delivery_id_of(endpoint_id: str, event_id: str) -> str:
    """Stable: the same event recorded twice for one endpoint is one delivery."""
    return "whd_" + hashlib.sha256(f"{endpoint_id}\x00{event_id}".encode()).hexdigest()[:24]


class Webhooks:
    """The registry of endpoints and the outbox of their deliveries."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        ring: KeyRing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._ring = ring
        self._clock = clock
        self._script = client.register_script(_SCRIPT)

    def now(self) -> float:
        return self._clock()

    # -- endpoints ------------------------------------------------------------------------
    def add(self, platform_id: str, url: str, events: Sequence[str] = ()) -> tuple[Endpoint, str]:
        """A new endpoint and its signing secret, which is not kept in the clear anywhere:
        show it once."""
        endpoint = Endpoint(
            endpoint_id="whe_" + secrets.token_hex(12),
            platform_id=check_platform_id(platform_id),
            url=check_url(url),
            events=check_patterns(events),
            created_at=self.now(),
        )
        secret = "whsec_" + secrets.token_urlsafe(32)
        sealed = self._ring.encrypt(secret, bound(endpoint.endpoint_id, endpoint.platform_id))
        with self._redis.pipeline() as pipe:
            pipe.hset(
                self._keys.webhook(endpoint.endpoint_id),
                mapping={
                    "platform_id": endpoint.platform_id,
                    "url": endpoint.url,
                    "events": ",".join(endpoint.events),
                    "created_at": repr(endpoint.created_at),
                    "secret": sealed,
                },
            )
            pipe.sadd(self._keys.webhooks_of(endpoint.platform_id), endpoint.endpoint_id)
            pipe.execute()
        return endpoint, secret

    def get(self, endpoint_id: str) -> Endpoint | None:
        raw = self._redis.hgetall(self._keys.webhook(endpoint_id))
        if not raw:
            return None
        f = {as_text(k): as_text(v) for k, v in raw.items()}
        return Endpoint(
            endpoint_id=endpoint_id,
            platform_id=f["platform_id"],
            url=f["url"],
            events=tuple(f["events"].split(",")),
            created_at=float(f["created_at"]),
        )

    def of_platform(self, platform_id: str) -> list[Endpoint]:
        ids = sorted(as_text(i) for i in self._redis.smembers(self._keys.webhooks_of(platform_id)))
        return [e for e in map(self.get, ids) if e is not None]

    def secret(self, endpoint: Endpoint) -> str:
        """The endpoint's signing secret, decrypted (raises ``CryptoError`` if tampered)."""
        sealed = as_text(self._redis.hget(self._keys.webhook(endpoint.endpoint_id), "secret"))
        return self._ring.decrypt(sealed, bound(endpoint.endpoint_id, endpoint.platform_id))

    # -- deliveries -----------------------------------------------------------------------
    def _run(self, op: str, delivery_id: str, payment_id: str, endpoint_id: str, *args: Any) -> int:
        keys = [
            self._keys.webhook_delivery(delivery_id),
            self._keys.webhook_lane(endpoint_id, payment_id),
            self._keys.webhook_due,
            self._keys.webhook_deliveries,
            self._keys.webhook_failed,
        ]
        return int(self._script(keys=keys, args=[op, delivery_id, *args]))

    def enqueue(self, endpoint: Endpoint, event: StatusEvent, body: str) -> bool:
        """Record one delivery of ``event`` to ``endpoint``; False if it already was."""
        delivery_id = delivery_id_of(endpoint.endpoint_id, event.event_id)
        return bool(
            self._run(
                "enqueue", delivery_id, event.payment_id, endpoint.endpoint_id,
                endpoint.endpoint_id, event.event_id, event.payment_id, event.seq,
                routing_key(event), body, repr(self.now()),
            )
        )  # fmt: skip

    def due(self, limit: int = 100) -> list[str]:
        """Ids of deliveries whose time has come (each the first of its lane)."""
        ids = self._redis.zrangebyscore(self._keys.webhook_due, "-inf", self.now(), 0, limit)
        return [as_text(i) for i in ids]

    def claim(self, delivery: Delivery, lease_seconds: float) -> bool:
        """Take a due delivery for one attempt; it is due again after ``lease_seconds`` if
        its sender dies. False if another sender took it first."""
        now = self.now()
        return bool(
            self._run(
                "claim", delivery.delivery_id, delivery.payment_id, delivery.endpoint_id,
                repr(now), repr(now + lease_seconds),
            )
        )  # fmt: skip

    def settle(
        self, delivery: Delivery, outcome: str, next_at: float | None, error: str | None
    ) -> bool:
        """Record an attempt: ``delivered``, ``failed`` for good, or ``retry`` at ``next_at``;
        a settled delivery lets the next of its lane become due."""
        return bool(
            self._run(
                "settle", delivery.delivery_id, delivery.payment_id, delivery.endpoint_id,
                outcome, repr(self.now()), repr(next_at or 0.0), error or "",
            )
        )  # fmt: skip

    def replay(self, delivery_id: str) -> Delivery:
        """Attempt a delivered or failed delivery again, from a fresh retry window."""
        delivery = self.delivery(delivery_id)
        if delivery is None:
            raise WebhookError(WebhookRefusal.UNKNOWN_DELIVERY, f"no delivery {delivery_id}")
        done = self._run(
            "replay", delivery_id, delivery.payment_id, delivery.endpoint_id, repr(self.now())
        )
        if done == 0:
            raise WebhookError(WebhookRefusal.DELIVERY_PENDING, "the delivery is still pending")
        replayed = self.delivery(delivery_id)
        assert replayed is not None
        return replayed

    def delivery(self, delivery_id: str) -> Delivery | None:
        raw = self._redis.hgetall(self._keys.webhook_delivery(delivery_id))
        if not raw:
            return None
        f = {as_text(k): as_text(v) for k, v in raw.items()}
        return Delivery(
            delivery_id=f["delivery_id"],
            endpoint_id=f["endpoint_id"],
            event_id=f["event_id"],
            payment_id=f["payment_id"],
            seq=int(f["seq"]),
            routing_key=f["routing_key"],
            body=f["body"],
            status=DeliveryStatus(f["status"]),
            attempts=int(f["attempts"]),
            created_at=float(f["created_at"]),
            first_at=float(f["first_at"]) if "first_at" in f else None,
            next_at=float(f["next_at"]) if "next_at" in f else None,
            last_error=f.get("last_error") or None,
        )

    def deliveries(self, limit: int = 100, failed_only: bool = False) -> list[Delivery]:
        """The latest deliveries (or failed ones), newest first."""
        index = self._keys.webhook_failed if failed_only else self._keys.webhook_deliveries
        ids = [as_text(i) for i in self._redis.zrevrange(index, 0, limit - 1)]
        return [d for d in map(self.delivery, ids) if d is not None]
