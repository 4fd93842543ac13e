"""Where each server key comes from: the configured one, or, in development mode only
(``B2BPAY_DEV_MODE``), one generated once and kept in Redis, shared by every process of the
installation. Anyone who can read Redis then holds it; outside development mode a missing key
is refused (:class:`~shared.security.keyneeds.MissingKeys`), never generated.

The keys themselves, and what they do, are :mod:`shared.security`'s.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import redis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.config import Settings
from shared.redis.keys import Keys
from shared.security.audit_chain import AuditKeys
from shared.security.keyneeds import KeyNeed, key_or_dev_key
from shared.security.keyring import KEY_BYTES, KeyRing
from shared.security.signing import STAGES, StageSigner, configured, load_configured


def kept_in_redis(
    client: redis.Redis, name: str, generate: Callable[[], bytes], field: str | None = None
) -> bytes:
    """The development key kept in Redis under ``name`` (or in its hash ``field``), generated
    with ``generate`` by whichever process of the installation asks first: every process
    then shares it. Anyone who can read Redis has it, so only development mode uses it."""
    if field is None:
        client.set(name, generate(), nx=True)
        stored = client.get(name)
    else:
        client.hsetnx(name, field, generate())
        stored = client.hget(name, field)
    assert stored is not None
    return stored if isinstance(stored, bytes) else str(stored).encode()


#: The id of the key generated for development when no key ring (TOTP, audit) is configured.
DEV_KEY_ID = "dev"


def totp_key_ring(
    client: redis.Redis, keys: Keys, configured: str | None, dev_mode: bool
) -> KeyRing:
    """The configured key ring; in development mode only, without one, a key generated once
    and kept in Redis under the id ``dev``, shared by every process of the installation;
    else :class:`~shared.security.keyneeds.MissingKeys`."""
    return key_or_dev_key(
        KeyNeed.TOTP,
        KeyRing.parse(configured) if configured else None,
        dev_mode,
        lambda: KeyRing([(DEV_KEY_ID, base64.b64decode(dev_key(client, keys.totp_dev_key)))]),
    )


def dev_key(client: redis.Redis, name: str) -> bytes:
    """A random 32-byte key (base64) kept in Redis under ``name``, for development only."""
    return kept_in_redis(client, name, lambda: base64.b64encode(secrets.token_bytes(KEY_BYTES)))


def stage_signer(client: redis.Redis, keys: Keys, settings: Settings) -> StageSigner:
    """The configured keys, or (development mode only) a key pair per stage generated once
    and kept in Redis, shared by every process of the installation. Neither:
    :class:`~shared.security.keyneeds.MissingKeys`."""
    return key_or_dev_key(
        KeyNeed.SIGNING,
        load_configured(settings) if configured(settings) else None,
        settings.dev_mode,
        lambda: _dev_signer(client, keys),
    )


def _dev_signer(client: redis.Redis, keys: Keys) -> StageSigner:
    def new_seed() -> bytes:
        return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw())

    private = {
        stage: Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(kept_in_redis(client, keys.signing_dev_keys, new_seed, field=stage))
        )
        for stage in STAGES
    }
    return StageSigner(private, {s: k.public_key() for s, k in private.items()}, development=True)


def session_key(client: redis.Redis, keys: Keys, configured: bytes | None, dev_mode: bool) -> bytes:
    """The configured key, or (development mode only) one generated once and shared via
    Redis. Neither: :class:`~shared.security.keyneeds.MissingKeys`."""
    return key_or_dev_key(
        KeyNeed.SESSION,
        configured or None,
        dev_mode,
        lambda: kept_in_redis(client, keys.session_secret, lambda: secrets.token_hex(32).encode()),
    )


def audit_key_ring(
    client: redis.Redis, keys: Keys, configured: str | None, dev_mode: bool
) -> AuditKeys:
    """The configured key ring, or (development mode only) one key generated once and kept in
    Redis under the id ``dev``: with it, the chain detects mistakes but not an attacker who
    can read Redis. Neither: :class:`~shared.security.keyneeds.MissingKeys`."""
    return key_or_dev_key(
        KeyNeed.AUDIT,
        AuditKeys.parse(configured) if configured else None,
        dev_mode,
        lambda: AuditKeys([(DEV_KEY_ID, base64.b64decode(dev_key(client, keys.audit_dev_key)))]),
    )
