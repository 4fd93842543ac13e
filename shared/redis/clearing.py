"""The interbank clearing adapter and its built-in simulator.

Every call is keyed by the payment's stable end-to-end id, so the same payment can never be
cleared twice: the stage asks for the status of an id before it submits, and a timeout is
treated as "may have been accepted" — resolved by asking, never by resubmitting blindly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources
from typing import Literal, Protocol

import redis

from shared.domain.errors import TransientError
from shared.redis.keys import Keys
from shared.redis.replies import as_text

ClearingState = Literal["unknown", "accepted", "settled", "rejected"]

#: ISO 20022 reason codes the simulator can be told to answer with, for example.
ISO_REJECT_REASONS = {
    "AC01": "incorrect account number",
    "AC04": "closed account number",
    "AM04": "insufficient funds",
    "AG01": "transaction forbidden",
}


class ClearingTimeout(TransientError):
    """Raised when clearing did not answer in time: the instruction may or may not have been
    accepted. Retried; the retry asks for the status first."""


class ClearingUnavailable(TransientError):
    """Raised when clearing refused the connection: nothing was accepted. Retried."""


@dataclass(frozen=True)
class ClearingResult:
    state: ClearingState
    reason_code: str | None = None


class ClearingAdapter(Protocol):
    def submit(
        self, end_to_end_id: str, amount: str, currency: str, payee_account: str, payee_bank: str
    ) -> ClearingResult: ...

    def status(self, end_to_end_id: str) -> ClearingResult: ...


_TAKE_ONE = resources.files("shared.redis").joinpath("clearing_take.lua").read_text()


class SimulatedClearing:
    """A clearing house in Redis, shared by every worker and test. It accepts each
    end-to-end id once and settles it. Faults are set in the hash ``<prefix>clearing:faults``:
    ``unavailable`` / ``timeout_after_accept`` / ``reject_next`` (counts of coming
    submissions), ``reject_code`` (ISO code, default AC04), ``delay_ms`` (every call),
    ``settle_after_polls`` (status polls answered "accepted" before "settled")."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys
        self._take = client.register_script(_TAKE_ONE)

    def _faults(self) -> dict[str, str]:
        """The fault settings, read once per call (an empty hash when nothing is set)."""
        raw: dict[bytes, bytes] = self._redis.hgetall(self._keys.clearing_faults)  # type: ignore[assignment]
        return {as_text(k): as_text(v) for k, v in raw.items()}

    def _fault(self, faults: dict[str, str], name: str) -> bool:
        """Take one of the coming submissions counted under ``name``, if any is left (the
        count read in ``faults`` only spares the atomic take when there is none)."""
        if int(faults.get(name) or 0) <= 0:
            return False
        return bool(self._take(keys=[self._keys.clearing_faults], args=[name]))

    @staticmethod
    def _delay(faults: dict[str, str]) -> None:
        delay = faults.get("delay_ms")
        if delay:
            time.sleep(int(delay) / 1000)

    def submit(
        self, end_to_end_id: str, amount: str, currency: str, payee_account: str, payee_bank: str
    ) -> ClearingResult:
        faults = self._faults()
        self._delay(faults)
        if self._fault(faults, "unavailable"):
            raise ClearingUnavailable("clearing refused the connection")
        if self._fault(faults, "reject_next"):
            code = faults.get("reject_code") or "AC04"
            record: dict[str, str | int] = {"state": "rejected", "reason_code": code}
        else:
            polls = faults.get("settle_after_polls")
            record = {"state": "accepted", "polls_left": int(polls or 0)}
        # Received and recorded in one step, as a clearing house does: an instruction that
        # reached it is known to its status query.
        pipe = self._redis.pipeline(transaction=True)
        pipe.rpush(
            self._keys.clearing_log,
            json.dumps(
                {
                    "e2e": end_to_end_id,
                    "amount": amount,
                    "currency": currency,
                    "payee_account": payee_account,
                    "payee_bank": payee_bank,
                }
            ),
        )
        pipe.set(self._keys.clearing(end_to_end_id), json.dumps(record), nx=True)
        _, first = pipe.execute()
        if self._fault(faults, "timeout_after_accept"):
            raise ClearingTimeout("no answer from clearing within the timeout")
        if first and record["state"] == "rejected":
            return ClearingResult("rejected", str(record["reason_code"]))
        return ClearingResult("accepted")

    def status(self, end_to_end_id: str) -> ClearingResult:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(self._keys.clearing_faults, "delay_ms")
        pipe.get(self._keys.clearing(end_to_end_id))
        delay, raw = pipe.execute()
        if delay:
            time.sleep(int(as_text(delay)) / 1000)
            # Answered as it stands after the delay, as a slow clearing house would.
            raw = self._redis.get(self._keys.clearing(end_to_end_id))
        if raw is None:
            return ClearingResult("unknown")
        record = json.loads(raw)
        if record["state"] == "rejected":
            return ClearingResult("rejected", record["reason_code"])
        if record.get("polls_left", 0) > 0:
            record["polls_left"] -= 1
            self._redis.set(self._keys.clearing(end_to_end_id), json.dumps(record))
            return ClearingResult("accepted")
        return ClearingResult("settled")

    def instructions(self) -> list[dict[str, str]]:
        """Every instruction ever received, in order: what clearing would pay, and to whom."""
        return [json.loads(x) for x in self._redis.lrange(self._keys.clearing_log, 0, -1)]

    def submissions(self) -> list[str]:
        """Every end-to-end id ever submitted, in order (duplicates included)."""
        return [json.loads(x)["e2e"] for x in self._redis.lrange(self._keys.clearing_log, 0, -1)]
