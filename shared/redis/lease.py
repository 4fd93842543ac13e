"""Short exclusive leases in Redis: one worker at a time for a side effect that cannot be
made atomic with the payment's state (a call to clearing). A lease expires by itself, so a
crashed holder blocks others only until its TTL runs out; a live holder keeps it by renewing
it in the background for as long as it works under it."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from shared.domain.errors import TransientError

_RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
"""

_RENEW = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
"""


class LeaseHeld(TransientError):
    """Raised when another worker holds the lease; the message is retried later."""


class LeaseLost(TransientError):
    """Raised when a lease expired or passed to another worker while its holder worked under
    it: what the holder read may be stale, so it records nothing and is retried."""


class Lease:
    """A lease this worker holds. :meth:`check` before acting on what was read under it."""

    def __init__(self, renew_script: redis.commands.core.Script, key: str, token: str, ttl_ms: int):
        self._renew_script = renew_script
        self._key = key
        self._token = token
        self.ttl_ms = ttl_ms
        self._lost = threading.Event()

    def renew(self) -> bool:
        """Extend the lease to a full TTL from now, if it is still ours."""
        if self._lost.is_set():
            return False
        if not self._renew_script(keys=[self._key], args=[self._token, self.ttl_ms]):
            # Once lost, never "renewed" again: another worker may have held it meanwhile.
            self._lost.set()
            return False
        return True

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is still ours (and renew it)."""
        if not self.renew():
            raise LeaseLost(f"lease {self._key.rsplit(':', 1)[-1]} was lost while held")

    def _keep_alive(self, stop: threading.Event) -> None:
        # A third of the TTL: two renewals may fail to a blip before the lease runs out.
        interval = max(self.ttl_ms / 3000, 0.01)
        while not stop.wait(interval):
            try:
                if not self.renew():
                    return
            except redis.RedisError:
                continue  # the next renewal, or check(), decides


class Leases:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    @contextmanager
    def hold(self, name: str, ttl_ms: int = 30_000) -> Iterator[Lease]:
        """Hold the lease ``name`` (or raise :class:`LeaseHeld`), renewed in the background
        until the block ends; the block must :meth:`Lease.check` it before it records what
        it did, since a renewal can fail (a long stall, Redis unreachable)."""
        key = f"{self._prefix}lease:{name}"
        token = secrets.token_hex(8)
        if not self._redis.set(key, token, nx=True, px=ttl_ms):
            raise LeaseHeld(f"{name} is being handled by another worker")
        lease = Lease(self._renew, key, token, ttl_ms)
        stop = threading.Event()
        renewer = threading.Thread(
            target=lease._keep_alive, args=(stop,), name=f"lease-{name}", daemon=True
        )
        renewer.start()
        try:
            yield lease
        finally:
            stop.set()
            renewer.join()
            self._release(keys=[key], args=[token])
