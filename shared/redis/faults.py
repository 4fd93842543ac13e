"""Fault-injection points for the fault suite: a test can hold a worker at a named point
inside a handler (then kill it there, or race it against something else). Inert unless
``B2BPAY_FAULT_HOOKS`` is on; never enable it in production."""

from __future__ import annotations

import time

import redis

from shared.redis.keys import Keys

MAX_HOLD_SECONDS = 120.0


class FaultPoints:
    def __init__(self, client: redis.Redis, keys: Keys, enabled: bool) -> None:
        self._redis = client
        self._keys = keys
        self.enabled = enabled

    def point(self, name: str) -> None:
        """If a test holds ``name``: report arrival, then wait until the hold is lifted."""
        if not self.enabled or not self._redis.exists(self._keys.fault_hold(name)):
            return
        self._redis.rpush(self._keys.fault_held(name), str(time.time()))
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while time.monotonic() < deadline:
            # Woken at once by release(); the slices stay below the client's socket timeout.
            if self._redis.blpop([self._keys.fault_release(name)], timeout=2):
                return
            if not self._redis.exists(self._keys.fault_hold(name)):
                return

    def hold(self, name: str) -> None:
        """Make the next worker reaching ``name`` stop there until released."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._keys.fault_release(name), self._keys.fault_held(name))
        pipe.set(self._keys.fault_hold(name), "1")
        pipe.execute()

    def wait_held(self, name: str, timeout: float) -> bool:
        """Whether a worker reached ``name`` within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._redis.blpop([self._keys.fault_held(name)], timeout=2):
                return True
        return False

    def release(self, name: str) -> None:
        """Lift the hold on ``name`` and wake one worker waiting there."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._keys.fault_hold(name))
        pipe.rpush(self._keys.fault_release(name), "1")
        pipe.execute()
