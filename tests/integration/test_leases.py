"""A lease is kept alive for as long as its holder works under it, by the process's one
renewer; released, it is gone at once and no longer renewed."""

from __future__ import annotations

import time

import pytest
import redis

from shared.redis.lease import LeaseHeld, Leases

pytestmark = pytest.mark.integration

#: Long enough that a stall of a few hundred milliseconds on a loaded machine (the renewer
#: thread not scheduled) does not outlive it; the renewer still runs every third of it.
TTL_MS = 1500


def test_a_held_lease_outlives_several_ttls_and_is_gone_once_released(
    redis_client: redis.Redis, prefix: str
) -> None:
    leases = Leases(redis_client, prefix)
    key = f"{prefix}lease:work"
    with leases.hold("work", TTL_MS) as first, leases.hold("other", TTL_MS):
        held_until = time.monotonic() + 4 * TTL_MS / 1000
        while time.monotonic() < held_until:
            # Never expired meanwhile: the renewer extends it every third of its TTL.
            assert redis_client.get(key) is not None
            time.sleep(0.02)  # sampling the key, not waiting for it
        first.check()
        with pytest.raises(LeaseHeld), leases.hold("work", TTL_MS):
            pass
    assert redis_client.get(key) is None
    with leases.hold("work", TTL_MS):
        assert redis_client.get(key) is not None
