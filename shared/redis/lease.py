"""Short exclusive leases in Redis: one worker at a time for a side effect that cannot be
made atomic with the payment's state (a call to clearing). A lease expires by itself, so a
crashed holder blocks others only until its TTL runs out; a live holder keeps it by renewing
it in the background for as long as it works under it."""

from __future__ import annotations

import heapq
import itertools
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import redis

from shared.domain.errors import TransientError
from shared.redis.keys import Keys

_RELEASE = resources.files("shared.redis").joinpath("lease_release.lua").read_text()
_RENEW = resources.files("shared.redis").joinpath("lease_renew.lua").read_text()


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
        #: Set when the holder lets it go: the renewer drops it.
        self.released = False

    @property
    def renew_interval(self) -> float:
        # A third of the TTL: two renewals may fail to a blip before the lease runs out.
        return max(self.ttl_ms / 3000, 0.01)

    def renew(self) -> bool:
        """Extend the lease to a full TTL from now, if it is still ours."""
        if self._lost.is_set():
            return False
        if not self._renew_script(keys=[self._key], args=[self._token, self.ttl_ms]):
            # Once lost, never "renewed" again: another worker may have held it meanwhile.
            self._lost.set()
            return False
        return True

    @property
    def key(self) -> str:
        return self._key

    @property
    def token(self) -> str:
        return self._token

    def lost(self) -> LeaseLost:
        """What to raise when an atomic write found the lease no longer ours (it is never
        renewed again)."""
        self._lost.set()
        return LeaseLost(f"lease {self._key.rsplit(':', 1)[-1]} was lost while held")

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is still ours (and renew it)."""
        if not self.renew():
            raise LeaseLost(f"lease {self._key.rsplit(':', 1)[-1]} was lost while held")


class _Renewer:
    """One thread per process renewing every lease held there, each a third of its TTL after
    the last renewal, until it is released or lost. (A thread started and joined per lease
    cost more CPU than the work done under most leases.)"""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, Lease]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, lease: Lease) -> None:
        with self._wake:
            heapq.heappush(
                self._due, (time.monotonic() + lease.renew_interval, next(self._order), lease)
            )
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self._thread.start()
            if self._due[0][2] is lease:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    if not self._due:
                        self._wake.wait()
                    else:
                        self._wake.wait(self._due[0][0] - time.monotonic())
                _, _, lease = heapq.heappop(self._due)
            if lease.released:
                continue
            try:
                if not lease.renew():
                    continue  # lost: check() tells its holder
            except redis.RedisError:
                pass  # the next renewal, or check(), decides
            if not lease.released:
                with self._wake:
                    heapq.heappush(
                        self._due,
                        (time.monotonic() + lease.renew_interval, next(self._order), lease),
                    )


class Leases:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._keys = Keys(prefix)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._renewer = _Renewer()

    @contextmanager
    def hold(self, name: str, ttl_ms: int = 30_000) -> Iterator[Lease]:
        """Hold the lease ``name`` (or raise :class:`LeaseHeld`), renewed in the background
        until the block ends; the block must :meth:`Lease.check` it before it records what
        it did, since a renewal can fail (a long stall, Redis unreachable)."""
        key = self._keys.lease(name)
        token = secrets.token_hex(8)
        if not self._redis.set(key, token, nx=True, px=ttl_ms):
            raise LeaseHeld(f"{name} is being handled by another worker")
        lease = Lease(self._renew, key, token, ttl_ms)
        self._renewer.add(lease)
        try:
            yield lease
        finally:
            lease.released = True
            self._release(keys=[key], args=[token])
