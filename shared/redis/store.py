"""Payment state in Redis, changed only through the atomic Lua transition. The one mapping
between a payment's hash and :class:`~shared.domain.payment.Payment` is in
:mod:`shared.redis.payment_hash`; its field names are also those of ``transition.lua``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import redis
from redis.client import Pipeline

from shared.domain.contracts import StatusEvent, Verdict
from shared.domain.errors import ConcurrentUpdate, ReasonCode, Refusal
from shared.domain.payment import Actor, Application, Payment, Record, Step
from shared.domain.states import RELEASES_ORDER, PaymentStatus
from shared.domain.status_events import decode_status_event
from shared.redis.keys import Keys
from shared.redis.lease import Lease
from shared.redis.payment_hash import (
    application_fields,
    fields_of,
    payment_of,
    payment_written,
    record_fields,
    step_spec,
    version_of,
)
from shared.redis.replies import as_text, status_events
from shared.redis.sessions import SESSION_USE_LUA, Sessions, SessionUse

VERDICT_TTL_SECONDS = 3600
BLOCK_SLICE_SECONDS = 2.0
_SCRIPT = SESSION_USE_LUA + resources.files("shared.redis").joinpath("transition.lua").read_text()


def utc_now_iso(now: float | None = None) -> str:
    moment = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class CreateResult:
    outcome: str  # "created" | "duplicate"
    payment_id: str
    status: PaymentStatus | None
    #: The payment as the create left it (a duplicate: None; read it if needed).
    payment: Payment | None = None


class RecordedRefusal(Refusal):
    """Raised when the atomic write itself refused and recorded the refusal (event and
    verdict): the caller must not record it again."""


class DeadlinePassed(Refusal):
    """Raised when a person acts on a payment after its deadline; the payment is expired."""


class PaymentStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        deadlines: dict[PaymentStatus, float] | None = None,
        clock: Callable[[], float] = time.time,
        refusal_cap: int = 20,
        refusal_window_seconds: int = 3600,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._script = client.register_script(_SCRIPT)
        #: Seconds a payment may wait in each status before it expires.
        self._deadline_ms = {s.value: int(v * 1000) for s, v in (deadlines or {}).items()}
        self._clock = clock
        #: At most this many refusal events per payment id and per actor in each window
        #: (refusals to a verified person of the payer, of a payment that exists, are not
        #: bounded: such a person is rate limited by OTP lockout and sessions).
        self._refusal_cap = refusal_cap
        self._refusal_window = refusal_window_seconds

    def _run(
        self,
        mode: str,
        payment_id: str,
        spec: dict[str, Any],
        extra_keys: tuple[str, str],
        seq_key: str | None = None,
        session: SessionUse | None = None,
        lease: Lease | None = None,
    ) -> list[Any]:
        now = self._clock()
        window = int(now) // self._refusal_window
        spec = {
            "payment_id": payment_id,
            "at": utc_now_iso(now),
            "now_ms": int(now * 1000),
            "deadlines": self._deadline_ms or {"-": 0},
            "verdict_ttl": VERDICT_TTL_SECONDS,
            "releases_order": sorted(s.value for s in RELEASES_ORDER),
            "refusal_cap": self._refusal_cap,
            # Twice the window: a counter outlives its window, never the other way round.
            "refusal_window": 2 * self._refusal_window,
            **spec,
        }
        actor = f"{spec.get('actor_role') or '-'}:{spec.get('actor_id') or '-'}"
        keys = [
            self._keys.payment(payment_id),
            self._keys.history(payment_id),
            self._keys.events,
            seq_key or self._keys.event_seq(payment_id),
            self._keys.verdict(spec.get("command_id") or "-"),
            *extra_keys,
            self._keys.deadlines,
            self._keys.refusal_count(window, "payment", payment_id),
            self._keys.refusal_count(window, "actor", actor),
            session.record_key if session else "-",
            session.epoch_key if session else "-",
            lease.key if lease else "-",
        ]
        if lease is not None:
            spec["lease_token"] = lease.token
        if session is not None:
            spec["session"] = {
                "now": session.now,
                "idle": session.idle_seconds,
                "username": session.username,
            }
        reply = self._script(keys=keys, args=[mode, json.dumps(spec)])
        if reply[0] in (b"session", "session"):
            # The person's session ended since it was verified: nothing was changed.
            Sessions.refuse_unless_ok(as_text(reply[1]))
        if reply[0] in (b"lease_lost", "lease_lost") and lease is not None:
            raise lease.lost()
        # A transition's reply ends with the payment's hash and history, as lists.
        return [part if isinstance(part, list) else as_text(part) for part in reply]

    @staticmethod
    def _actor_spec(actor: Actor, command_id: str | None) -> dict[str, Any]:
        return {
            "stage": actor.stage,
            "actor_role": actor.role,
            "actor_id": actor.user_id,
            "command_id": command_id,
            "to_verified_person": actor.verified_person,
        }

    def create(
        self,
        application: Application,
        steps: Sequence[Step],
        actor: Actor,
        command_id: str,
        session: SessionUse | None = None,
    ) -> CreateResult:
        """Create the payment with its first steps, unless the request_id is known (same
        content: duplicate; other content: refused) or the order has a live payment. With
        ``session``, the person's session is checked first and used by the same atomic call
        (see :meth:`transition`)."""
        payment_id = application.payment_id
        content = application.content
        spec = {
            **self._actor_spec(actor, command_id),
            "fields": application_fields(application),
            "steps": [step_spec(s) for s in steps],
            "order_id": content.order_id,
            "enterprise_id": content.enterprise_id,
            "amount": content.amount,
            "currency": content.currency,
        }
        extra = (
            self._keys.idempotency(payment_id),
            self._keys.order_lock(content.enterprise_id or "", content.order_id or ""),
        )
        reply = self._run("create", payment_id, spec, extra, session=session)
        if reply[0] == "refused":
            raise RecordedRefusal(ReasonCode(reply[1]), reply[2])
        if reply[0] == "duplicate":
            existing = self.get(reply[1])
            return CreateResult("duplicate", reply[1], existing.status if existing else None)
        return CreateResult(
            "created",
            payment_id,
            PaymentStatus(reply[1]),
            payment_written(payment_id, {}, [], reply),
        )

    def now(self) -> float:
        """The store's clock (seconds): what deadlines are measured against."""
        return self._clock()

    def check_order_free(self, enterprise_id: str, order_id: str, payment_id: str) -> None:
        """Refuse early if another live payment holds the order (the create re-checks)."""
        holder = self._redis.get(self._keys.order_lock(enterprise_id, order_id))
        order_free_in(holder, payment_id)

    def read_order_holder(self, pipe: Pipeline, enterprise_id: str, order_id: str) -> None:
        """Queue the read :func:`order_free_in` answers from (to share a round trip)."""
        pipe.get(self._keys.order_lock(enterprise_id, order_id))

    def transition(
        self,
        payment: Payment,
        steps: Sequence[Step],
        actor: Actor,
        command_id: str | None,
        record: Record | None = None,
        enforce_deadline: bool = False,
        session: SessionUse | None = None,
        lease: Lease | None = None,
    ) -> Payment:
        """Move ``payment`` through ``steps`` if it is still at the status and version it was
        read at; otherwise raise :class:`ConcurrentUpdate` (the caller re-reads and retries).
        With ``enforce_deadline`` (a person's decision) a payment past its deadline is left
        as it is and :class:`DeadlinePassed` is raised. With ``session`` (a person's command)
        the session is checked before anything else (a :class:`Refusal` if it is no longer
        live) and its idle timeout restarts in the same atomic call, only if the change is
        made. With ``lease``, the change is made only if the lease is still the caller's
        (else :class:`~shared.redis.lease.LeaseLost`, the lease's check and the write in one
        atomic call)."""
        spec = {
            **self._actor_spec(actor, command_id),
            "expected_status": payment.status.value,
            "expected_version": payment.version,
            "steps": [step_spec(s) for s in steps],
            "set": record_fields(record) or {"updated_by": actor.stage},
            "enforce_deadline": enforce_deadline,
            **payment.summary(),
        }
        order_lock = self._keys.order_lock(
            payment.content.enterprise_id or "", payment.content.order_id or ""
        )
        reply = self._run(
            "transition",
            payment.payment_id,
            spec,
            ("-", order_lock),
            session=session,
            lease=lease,
        )
        if reply[0] == "not_found":
            raise Refusal(ReasonCode.PAYMENT_NOT_FOUND, payment.payment_id)
        if reply[0] == "conflict":
            raise ConcurrentUpdate(f"{payment.payment_id} moved to {reply[1]} v{reply[2]}")
        if reply[0] == "past_deadline":
            raise DeadlinePassed(ReasonCode.DEADLINE_PASSED, "the payment's deadline has passed")
        # The payment as the same atomic call left it: what it was at the version the script
        # checked, with what the script wrote; no second read.
        return payment_written(payment.payment_id, fields_of(payment), list(payment.history), reply)

    def refuse(
        self,
        payment_id: str,
        actor: Actor,
        refusal: Refusal,
        command_id: str | None,
        summary: dict[str, str | None] | None = None,
    ) -> None:
        """Record a refusal: an event and the sender's verdict; the payment is unchanged.

        The event is numbered in the payment's own sequence: only for a refusal to the
        payer's own people (or a stage), who may know the payment's status."""
        known = {"order_id": None, "enterprise_id": None, "amount": None, "currency": None}
        spec = {
            **self._actor_spec(actor, command_id),
            "reason_code": refusal.reason_code.value,
            "reason": refusal.detail or refusal.reason_code.value,
            **known,
            **(summary or {}),
        }
        self._run("refuse", payment_id, spec, ("-", "-"))

    def refuse_unattached(
        self,
        payment_id: str,
        actor: Actor,
        refusal: Refusal,
        command_id: str | None,
        told: tuple[str | None, str | None],
    ) -> None:
        """Record a refusal to someone not known as a person of the payer, without reading
        or touching the payment it names: an event outside every payment's sequence (``seq``
        0, ``event_id`` ``refusal:<n>``, no status, amount or order) with the precise code
        for operators, and a verdict saying only ``told`` (the same whether the payment
        exists or not)."""
        spec = {
            **self._actor_spec(actor, command_id),
            "reason_code": refusal.reason_code.value,
            "reason": refusal.detail or refusal.reason_code.value,
            "order_id": None,
            "enterprise_id": None,
            "amount": None,
            "currency": None,
            "told_code": told[0],
            "told_reason": told[1],
        }
        self._run(
            "refuse_unattached",
            payment_id,
            spec,
            ("-", "-"),
            seq_key=self._keys.unattached_refusals,
        )

    def get(self, payment_id: str) -> Payment | None:
        return self.get_reading(payment_id)[0]

    def get_reading(
        self, payment_id: str, reads: Callable[[Pipeline], None] | None = None
    ) -> tuple[Payment | None, list[Any]]:
        """:meth:`get`, and the replies of the reads ``reads`` queues, in one round trip."""
        raw, history, replies = self._read(payment_id, atomic=False, reads=reads)
        if raw and version_of(raw) != len(history):
            # A transition came between the two reads (or the record is not as the
            # transition script leaves it): read both again, atomically.
            raw, history, _ = self._read(payment_id, atomic=True)
        if not raw:
            return None, replies
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        payment = payment_of(payment_id, fields, [decode_status_event(h) for h in history])
        return payment, replies

    def _read(
        self, payment_id: str, atomic: bool, reads: Callable[[Pipeline], None] | None = None
    ) -> tuple[dict[Any, Any], list[Any], list[Any]]:
        """The payment's hash and history (and ``reads``) in one round trip. Without
        ``atomic``, a transition may fall between the two reads: every transition adds one
        history entry per version, so a hash whose version is not the history's length
        shows it."""
        pipe = self._redis.pipeline(transaction=atomic)
        pipe.hgetall(self._keys.payment(payment_id))
        pipe.lrange(self._keys.history(payment_id), 0, -1)
        if reads is not None:
            reads(pipe)
        raw, history, *replies = pipe.execute()
        return raw, history, replies

    def overdue(self, now: float, limit: int = 200) -> list[str]:
        """Payments whose deadline is at or before ``now``, oldest first."""
        ids = self._redis.zrangebyscore(
            self._keys.deadlines, "-inf", int(now * 1000), start=0, num=limit
        )
        return [as_text(i) for i in ids]

    def wait_verdict(self, command_id: str, timeout: float) -> Verdict | None:
        """Block until the stage answers ``command_id``, or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            # Block in slices: a client's socket timeout (5 s by default in redis-py) would
            # otherwise cut a longer BLPOP short with an error.
            reply: Any = self._redis.blpop(
                [self._keys.verdict(command_id)], timeout=min(max(left, 0.01), BLOCK_SLICE_SECONDS)
            )
            if reply is not None:
                return Verdict.model_validate_json(reply[1])
            if left <= BLOCK_SLICE_SECONDS:
                return None

    def read_events(self, after: str = "-", count: int = 1000) -> list[tuple[str, StatusEvent]]:
        start = "-" if after == "-" else f"({after}"
        reply = self._redis.xrange(self._keys.events, min=start, count=count)
        return status_events(reply)

    def follow_events(self, last_id: str, block_ms: int) -> list[tuple[str, StatusEvent]]:
        reply = self._redis.xread({self._keys.events: last_id}, block=block_ms, count=1000)
        return status_events(reply)


def order_free_in(holder: Any, payment_id: str) -> None:
    """:meth:`PaymentStore.check_order_free` from the holder already read."""
    if holder is not None and as_text(holder) != payment_id:
        raise Refusal(ReasonCode.DUPLICATE_ORDER, "the order already has a live payment")
