"""Upstream platforms as principals: their records in Redis, sealed, and their API keys.

A platform (:class:`shared.domain.parties.Platform`, the upstream marketplace of the manual)
creates payments for the payer enterprises registered with it, and sees only the payments it
created. Its API key is shown once, at registration, and stored only as its SHA-256 digest:
the key is 32 random bytes, so a digest is as good as a slow hash and lets the key be found
by it; the digest is compared again in constant time.

Each record carries a MAC (HMAC-SHA-256 under a key derived from the TOTP key ring, which is
not in Redis) over id, name, enterprises and key digest: a Redis writer who adds an
enterprise to a platform, or plants a platform or a key, gets a record that does not verify,
and is refused as ``platform_invalid``. What the MAC does not prove: that a record was not
deleted, nor replaced by an older sealed version of itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

import redis

from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import Platform
from shared.redis.keys import Keys
from shared.redis.reference_data import DirectoryError
from shared.redis.replies import as_text
from shared.security.keyring import KeyRing

#: Every API key starts so: a key pasted in the wrong place is recognisable (and findable
#: by secret scanners).
KEY_PREFIX = "b2bp_"
#: HKDF info of the platform-record MAC key: distinct from every other use of the TOTP keys.
PLATFORM_MAC_PURPOSE = b"b2bpay.platform-record.v1"
MAC_FIELD = "mac"
AMQP_USER_FIELD = "amqp_user"
#: A RabbitMQ user name, as ``b2bpay admin platform amqp-user`` accepts it.
AMQP_USER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}"
#: The one queue the AMQP intake answers a platform's RabbitMQ user on: this, then the user.
REPLY_QUEUE_PREFIX = "reply-"
#: What a refused key is told: never whether the platform exists or which check failed.
INVALID = "the platform's API key is not accepted"
#: What a publisher to the AMQP intake is told when its user is no platform's.
INVALID_AMQP_USER = "the AMQP user is not a registered platform's"


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _record_message(platform_id: str, record: dict[str, str]) -> bytes:
    fields = [
        "b2bpay.platform-record.v1",
        platform_id,
        record.get("name", ""),
        record.get("enterprises", ""),
        record.get("key_digest", ""),
    ]
    # Sealed only when set, so that records made before the AMQP intake keep their MAC;
    # an ``amqp_user`` field added in Redis without the key makes the record fail its check.
    if AMQP_USER_FIELD in record:
        fields.append(record[AMQP_USER_FIELD])
    return json.dumps(fields, separators=(",", ":")).encode()


class Platforms:
    """The platform records, beside the directory."""

    def __init__(self, client: redis.Redis, keys: Keys, ring_of: Callable[[], KeyRing]) -> None:
        self._redis = client
        self._keys = keys
        self._ring_of = ring_of

    def add(
        self,
        platform_id: str,
        name: str,
        enterprises: Iterable[str],
        known: Callable[[str], bool],
    ) -> tuple[Platform, str]:
        """Register a platform for ``enterprises`` (each must be ``known``); returns it and
        its API key, which is shown once and never stored."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", platform_id):
            raise DirectoryError("platform ID must be letters, digits and . _ : - (at most 64)")
        chosen = sorted(set(enterprises))
        if not chosen:
            raise DirectoryError("a platform needs at least one enterprise")
        unknown = [e for e in chosen if not known(e)]
        if unknown:
            raise DirectoryError(f"unknown enterprise {unknown[0]!r}; add it first")
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = key_digest(api_key)
        record = {"name": name, "enterprises": json.dumps(chosen), "key_digest": digest}
        record[MAC_FIELD] = self._ring_of().seal_mac(
            PLATFORM_MAC_PURPOSE, _record_message(platform_id, record)
        )
        key = self._keys.platform(platform_id)
        with self._redis.pipeline() as pipe:
            try:
                # WATCH + MULTI: the record appears whole, MAC included, or not at all.
                pipe.watch(key)  # type: ignore[no-untyped-call]
                if pipe.exists(key):
                    raise DirectoryError(f"platform {platform_id!r} already exists")
                pipe.multi()
                pipe.hset(key, mapping={k: v for k, v in record.items()})
                pipe.set(self._keys.platform_key(digest), platform_id)
                pipe.execute()
            except redis.WatchError:
                raise DirectoryError(f"platform {platform_id!r} already exists") from None
        return Platform(platform_id, name, frozenset(chosen)), api_key

    def set_amqp_user(self, platform_id: str, amqp_user: str) -> Platform:
        """Let ``platform_id`` publish to the AMQP intake as the RabbitMQ user ``amqp_user``
        (replacing an earlier one); a user already given to another platform is refused.
        The record is resealed; the record's current fields must verify first."""
        if not re.fullmatch(AMQP_USER_PATTERN, amqp_user):
            raise DirectoryError("AMQP user must be letters, digits and . _ @ : - (at most 128)")
        self._verified(platform_id)  # refuses a record that does not verify
        key = self._keys.platform(platform_id)
        index = self._keys.platform_amqp_user(amqp_user)
        with self._redis.pipeline() as pipe:
            try:
                pipe.watch(key, index)  # type: ignore[no-untyped-call]
                owner = pipe.get(index)
                if owner is not None and as_text(owner) != platform_id:
                    raise DirectoryError(f"AMQP user {amqp_user!r} belongs to another platform")
                raw: dict[Any, Any] = pipe.hgetall(key)
                record = {as_text(k): as_text(v) for k, v in raw.items()}
                previous = record.get(AMQP_USER_FIELD)
                record[AMQP_USER_FIELD] = amqp_user
                record[MAC_FIELD] = self._ring_of().seal_mac(
                    PLATFORM_MAC_PURPOSE, _record_message(platform_id, record)
                )
                pipe.multi()
                pipe.hset(key, mapping={k: v for k, v in record.items()})
                if previous is not None and previous != amqp_user:
                    pipe.delete(self._keys.platform_amqp_user(previous))
                pipe.set(index, platform_id)
                pipe.execute()
            except redis.WatchError:
                raise DirectoryError(f"platform {platform_id!r} changed meanwhile; retry") from None
        return self.get(platform_id)

    def by_amqp_user(self, amqp_user: str) -> Platform:
        """The platform that publishes as the RabbitMQ user ``amqp_user`` (the broker checked
        the message's ``user_id`` against its connection); a ``platform_invalid`` refusal if
        none does, or if the record does not verify or names another user (an index
        pointed elsewhere in Redis)."""
        found = self._redis.get(self._keys.platform_amqp_user(amqp_user))
        if found is None:
            raise Refusal(ReasonCode.PLATFORM_INVALID, INVALID_AMQP_USER)
        platform = self.get(as_text(found))
        if platform.amqp_user != amqp_user:
            raise Refusal(ReasonCode.PLATFORM_INVALID, INVALID_AMQP_USER)
        return platform

    def get(self, platform_id: str) -> Platform:
        """The platform, if its record verifies; else a ``platform_invalid`` refusal."""
        platform, _ = self._verified(platform_id)
        return platform

    def authenticate(self, api_key: str) -> Platform:
        """The platform this API key belongs to; a ``platform_invalid`` refusal, the same
        for every cause, otherwise."""
        digest = key_digest(api_key)
        found = self._redis.get(self._keys.platform_key(digest))
        platform_id = as_text(found) if found is not None else None
        # Compared against something even for an unknown key, so both take alike.
        platform, stored = self._verified(platform_id) if platform_id else (None, "")
        if not hmac.compare_digest(stored.encode(), digest.encode()) or platform is None:
            raise Refusal(ReasonCode.PLATFORM_INVALID, INVALID)
        return platform

    def _verified(self, platform_id: str) -> tuple[Platform, str]:
        raw: dict[Any, Any] = self._redis.hgetall(self._keys.platform(platform_id))
        text = {as_text(k): as_text(v) for k, v in raw.items()}
        sealed = text.get(MAC_FIELD)
        if sealed is None or not self._ring_of().check_mac(
            PLATFORM_MAC_PURPOSE, _record_message(platform_id, text), sealed
        ):
            raise Refusal(ReasonCode.PLATFORM_INVALID, INVALID)
        try:
            enterprises = json.loads(text.get("enterprises", ""))
        except ValueError:
            raise Refusal(ReasonCode.PLATFORM_INVALID, INVALID) from None
        platform = Platform(
            platform_id,
            text.get("name", ""),
            frozenset(enterprises),
            text.get(AMQP_USER_FIELD),
        )
        return platform, text.get("key_digest", "")
