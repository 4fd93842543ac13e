"""Fault-injection points for the fault suite: a test can hold a worker at a named point
inside a handler (then kill it there). Inert unless ``B2BPAY_FAULT_HOOKS`` is on; never
enable it in production."""

from __future__ import annotations

import time

import redis

from shared.keys import Keys

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
        while self._redis.exists(self._keys.fault_hold(name)) and time.monotonic() < deadline:
            time.sleep(0.05)
