"""A payment is read in one round trip without MULTI; when its hash and history disagree
(a transition landed between the two reads), it is read again atomically."""

from __future__ import annotations

from typing import Any

import fakeredis

from shared.redis.keys import Keys
from shared.redis.store import PaymentStore

PID = "pay_x"


def _store_counting_reads() -> tuple[fakeredis.FakeRedis, Keys, PaymentStore, list[bool]]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    keys = Keys("t:")
    store = PaymentStore(client, keys)
    reads: list[bool] = []
    original = store._read

    def counted(
        payment_id: str, atomic: bool, **kwargs: Any
    ) -> tuple[dict[Any, Any], list[Any], list[Any]]:
        reads.append(atomic)
        return original(payment_id, atomic, **kwargs)

    store._read = counted  # type: ignore[method-assign]
    return client, keys, store, reads


def test_a_payment_whose_version_is_its_history_length_is_read_once_without_multi() -> None:
    client, keys, store, reads = _store_counting_reads()
    client.hset(keys.payment(PID), mapping={"status": "requested", "version": 0})
    assert store.get(PID) is not None
    assert reads == [False]


def test_a_payment_whose_hash_and_history_disagree_is_read_again_atomically() -> None:
    client, keys, store, reads = _store_counting_reads()
    # Version 2 but no history: what a read sees when a transition lands between its two
    # reads (or a record not as the transition script leaves it).
    client.hset(keys.payment(PID), mapping={"status": "otp_verified", "version": 2})
    found = store.get(PID)
    assert found is not None and found.version == 2
    assert reads == [False, True]


def test_a_missing_payment_is_none_after_one_read() -> None:
    _client, _keys, store, reads = _store_counting_reads()
    assert store.get(PID) is None
    assert reads == [False]
