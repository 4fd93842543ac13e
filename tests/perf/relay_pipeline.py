"""The full pipeline under the relay (:mod:`tests.perf.relay_throughput` ``--pipeline-rate``):
payments applied at a fixed rate through the stage workers, each its own process (apply,
review, authorize, interbank), reviewed and authorized by people who answer as soon as the
payment waits for them; the relay publishes whatever the stages write."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.app.deps import Deps
from shared.domain.contracts import (
    AuthDecision,
    Payee,
    Payer,
    PaymentRequest,
    ReviewDecision,
    payment_id_for,
)
from shared.domain.states import PaymentStatus
from shared.messaging import routes as q
from shared.testing import World, cheap_hasher

STAGES = ("apply", "review", "authorize", "interbank")
ENTERPRISE, ACCOUNT, BANK, PAYEE_BANK = "PIPE-BUYER", "6216600100005678", "BOC", "ICBC"


class People:
    """An applicant and an authorizer of their own per payment (a one-time code is taken
    once per 30 s step), one reviewer for all."""

    def __init__(self, deps: Deps, count: int) -> None:
        self.world = World(deps)
        deps.directory._hasher = cheap_hasher()
        self.world.bank(BANK, "Bank of China")
        self.world.bank(PAYEE_BANK, "ICBC")
        self.world.enterprise(ENTERPRISE, "Pipe Buyer", [BANK], [ACCOUNT])
        password = "perf-" + secrets.token_hex(8)
        for i in range(count):
            for role in ("applicant", "authorizer"):
                self.world.enrol(f"{role}-{i:05d}", ENTERPRISE, role, password)
        self.world.enrol("reviewer", ENTERPRISE, "reviewer", password)
        self.reviewer_session = self.world.session("reviewer")

    def request(self, i: int) -> PaymentRequest:
        applicant = f"applicant-{i:05d}"
        return PaymentRequest(
            request_id=f"PIPE-REQ-{i:05d}",
            order_id=f"PIPE-ORD-{i:05d}",
            payer=Payer(enterprise_id=ENTERPRISE, account=ACCOUNT, name="Pipe Buyer"),
            payee=Payee(bank_code=PAYEE_BANK, account=f"62220200{i:08d}", name="Supplier"),
            amount="1250.00",
            currency="CNY",
            bank=BANK,
            session=self.world.session(applicant),  # type: ignore[arg-type]
            otp=self.world.code(applicant),
        )


def start_stages(env: dict[str, str], workdir: Path, threads: int) -> list[subprocess.Popen[bytes]]:
    """One worker process per stage; returns once each has said it started."""
    procs = []
    logs = []
    for stage in STAGES:
        logs.append(workdir / f"{stage}.log")
        cmd = [sys.executable, "-m", "services.cli.main", "worker", stage]
        with open(logs[-1], "w") as log:
            procs.append(
                subprocess.Popen(
                    [*cmd, "--threads", str(threads)],
                    env={**env, "B2BPAY_LOG_LEVEL": "INFO"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + 90
    while not all("worker started" in path.read_text() for path in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"the stage workers did not start; see {workdir}")
        time.sleep(0.2)  # polling the workers' logs, bounded by the deadline
    return procs


def drive(deps: Deps, people: People, rate: float, count: int) -> dict[str, Any]:
    """Apply ``count`` payments at ``rate``/s; review and authorize each as soon as the
    events stream shows it waiting; returns when all are settled (or after a deadline)."""
    index = {payment_id_for(ENTERPRISE, f"PIPE-REQ-{i:05d}"): i for i in range(count)}
    settled: dict[str, float] = {}
    applied: dict[str, float] = {}
    ended: dict[str, str] = {}
    refused: dict[str, str] = {}
    done = threading.Event()
    start_id = deps.redis.xinfo_stream(deps.keys.events)["last-generated-id"]
    last_id = start_id.decode() if isinstance(start_id, bytes) else str(start_id)

    def follow() -> None:
        nonlocal last_id
        while not done.is_set():
            for sid, event in deps.store.follow_events(last_id, 200):
                last_id = sid
                pid = event.payment_id
                if pid not in index:
                    continue
                if event.kind != "transition":
                    refused[pid] = event.reason_code or event.kind
                    continue
                if event.status == PaymentStatus.PENDING_REVIEW:
                    decision: Any = ReviewDecision(
                        payment_id=pid, approve=True, reason="", session=people.reviewer_session
                    )
                    deps.dispatch(q.PENDING_REVIEW, q.DECIDE_REVIEW, decision.to_wire())
                elif event.status == PaymentStatus.PENDING_AUTH:
                    who = f"authorizer-{index[pid]:05d}"
                    decision = AuthDecision(
                        payment_id=pid,
                        approve=True,
                        reason="",
                        session=people.world.session(who),
                        otp=people.world.auth_code(pid, who),
                    )
                    deps.dispatch(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, decision.to_wire())
                elif event.status == PaymentStatus.SETTLED:
                    settled[pid] = time.time()
                elif event.status in (
                    PaymentStatus.REJECTED,
                    PaymentStatus.FAILED,
                    PaymentStatus.EXPIRED,
                    PaymentStatus.CANCELLED,
                ):
                    ended[pid] = event.status.value

    follower = threading.Thread(target=follow, name="people", daemon=True)
    follower.start()
    requests = [people.request(i) for i in range(count)]
    began = time.time()
    start = time.monotonic()
    for i, request in enumerate(requests):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the load generator, not waiting on the stages
        applied[payment_id_for(ENTERPRISE, request.request_id)] = time.time()
        deps.dispatch(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
    applied_s = time.monotonic() - start
    deadline = time.monotonic() + 120
    _until(lambda: len(settled) + len(ended) + len(refused) >= count, deadline)
    done.set()
    follower.join(timeout=5)
    span = (max(settled.values()) - began) if settled else 0.0
    through = sorted(settled[p] - applied[p] for p in settled)
    return {
        "asked_payments_per_s": rate,
        "payments": count,
        "applied_payments_per_s": round(count / applied_s, 1),
        "settled": len(settled),
        "ended_otherwise": ended,
        "refused": refused,
        "settled_payments_per_s": round(len(settled) / span, 1) if span else None,
        "apply_to_settled_p50_ms": _ms(through, 50),
        "apply_to_settled_p99_ms": _ms(through, 99),
        "_payment_ids": set(index),
        "_began": began,
    }


def _ms(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 1)


def _until(condition: Callable[[], bool], deadline: float) -> None:
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the payments' progress, bounded by the deadline
