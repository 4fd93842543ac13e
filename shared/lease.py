"""Short exclusive leases in Redis: one worker at a time for a side effect that cannot be
made atomic with the payment's state (a call to clearing). A lease expires by itself, so a
crashed holder blocks others only until its TTL runs out."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from shared.errors import TransientError

_RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
"""


class LeaseHeld(TransientError):
    """Raised when another worker holds the lease; the message is retried later."""


class Leases:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._release = client.register_script(_RELEASE)

    @contextmanager
    def hold(self, name: str, ttl_ms: int = 30_000) -> Iterator[None]:
        key = f"{self._prefix}lease:{name}"
        token = secrets.token_hex(8)
        if not self._redis.set(key, token, nx=True, px=ttl_ms):
            raise LeaseHeld(f"{name} is being handled by another worker")
        try:
            yield
        finally:
            self._release(keys=[key], args=[token])
