"""The interbank clearing adapter and its built-in simulator.

Every call is keyed by the payment's stable end-to-end id, so the same payment can never be
cleared twice: the stage asks for the status of an id before it submits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Protocol

import redis

from shared.keys import Keys

ClearingState = Literal["unknown", "accepted", "settled", "rejected"]


@dataclass(frozen=True)
class ClearingResult:
    state: ClearingState
    reason_code: str | None = None


class ClearingAdapter(Protocol):
    def submit(
        self, end_to_end_id: str, amount: str, currency: str, payee_account: str, payee_bank: str
    ) -> ClearingResult: ...

    def status(self, end_to_end_id: str) -> ClearingResult: ...


class SimulatedClearing:
    """Accepts every instruction once and settles it; state lives in Redis so every worker
    and test sees the same clearing house. Each submission is also appended to a log."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys

    def submit(
        self, end_to_end_id: str, amount: str, currency: str, payee_account: str, payee_bank: str
    ) -> ClearingResult:
        self._redis.rpush(
            self._keys.clearing_log,
            json.dumps({"e2e": end_to_end_id, "amount": amount, "currency": currency}),
        )
        first = self._redis.set(self._keys.clearing(end_to_end_id), "settled", nx=True)
        return ClearingResult("accepted" if first else "settled")

    def status(self, end_to_end_id: str) -> ClearingResult:
        state = self._redis.get(self._keys.clearing(end_to_end_id))
        if state is None:
            return ClearingResult("unknown")
        return ClearingResult("settled")

    def submissions(self) -> list[str]:
        """Every end-to-end id ever submitted, in order (duplicates included)."""
        return [json.loads(x)["e2e"] for x in self._redis.lrange(self._keys.clearing_log, 0, -1)]
