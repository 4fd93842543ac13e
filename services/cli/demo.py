"""``b2bpay demo``: the whole flow, end to end, in one process.

Without ``--redis`` every stage runs on an embedded Redis (fakeredis with Lua) and an SQLite
read model in a temporary folder; with ``--redis URL`` the same runs on a real server under a
key prefix of its own, deleted afterwards. People are simulated: reviewers and authorizers
react to status events, as they would to their online-banking work list.
"""

from __future__ import annotations

import json
import random
import secrets
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from argon2 import PasswordHasher
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.audit.auditor import Auditor, audit_log_of
from services.cli.worker import start_stages
from services.query.projector import Projector
from services.query.readmodel import ReadModel, make_engine
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.deps import Deps
from shared.domain.contracts import (
    AuthDecision,
    PaymentRequest,
    ReviewDecision,
    StatusEvent,
    payment_id_for,
)
from shared.domain.states import TERMINAL
from shared.logging import configure_logging
from shared.messaging import routes as q
from shared.redis.directory import Directory, User
from shared.redis.keys import Keys
from shared.security.audit import AuditLog
from shared.security.linking import authorizer_code, is_linked
from shared.security.otp import code_for

ENTERPRISE, SMALL = "LIANDONG-BUYER-01", "SMALLCO-02"
ACCOUNT, SMALL_ACCOUNT = "6216600100001234", "6216600100009999"
DEADLINE_SECONDS = 300

MANUAL_STEPS = [
    (
        1,
        "choose online payment (some customers only)",
        "payer {enterprise} eligible; order {order} locked to this payment",
    ),
    (2, "confirm the payment content", "content hash {hash} frozen"),
    (3, "choose a B2B-enabled bank", "bank {bank}: B2B enabled, payer holds a contract"),
    (4, "applicant login", "session of {applicant} (applicant)"),
    (5, "applicant dynamic password", "one-time code checked, used once"),
    (6, "code accepted: payment started", "status otp_verified"),
    (7, "reviewer login", "session of {reviewer} (reviewer)"),
    (8, "login success", "review stage takes it in: pending_review"),
    (9, "order review", "{reviewer} approves"),
    (10, "review success, awaiting authorization", "status pending_auth"),
    (11, "authorizer login", "session of {authorizer} (authorizer)"),
    (12, "authorize", "{authorizer} approves"),
    (
        13,
        "authorizer dynamic password",
        "one-time code answering the payment's challenge (amount, payee), used once",
    ),
    (14, "authorization success", "status authorized"),
    (
        15,
        "interbank processing, nobody can affect it",
        "end-to-end id {e2e}: submitted, then settled",
    ),
    (16, "real-time progress query", "read model: {final}"),
]
STEP_EVENT = {
    1: "requested",
    2: "requested",
    3: "requested",
    4: "requested",
    5: "requested",
    6: "otp_verified",
    8: "pending_review",
    10: "pending_auth",
    14: "authorized",
    15: "settled",
}


@dataclass
class Plan:
    """What the simulated people will do with one payment."""

    index: int
    request: PaymentRequest
    applicant: str
    reviewer: str
    authorizer: str
    review_approves: bool = True
    auth_approves: bool = True
    expect: str = "settled"
    submitted_at: float = 0.0
    finished_at: float = 0.0
    final: str | None = None
    notes: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, deps: Deps, console: Console, payments: int) -> None:
        self.deps = deps
        self.console = console
        self.n = payments
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.plans: dict[str, Plan] = {}
        self.expected_refusals: list[tuple[str, str, str]] = []  # (what, command_id, reason_code)
        self.refusals: Counter[str] = Counter()
        self.refused_commands: dict[str, str] = {}
        self.duplicate_command: str | None = None
        #: Carol's code for payment 0, and when her token made it.
        self.carol_spent: tuple[str, float] | None = None
        self.carol_authorized = False
        #: The payment on which an authorizer's code for another payment is tried; its own
        #: authorization waits until those attempts are answered.
        self.linking_index = 5
        self.linking_waiting: str | None = None
        self.last_event = "0"
        self.rng = random.Random(7)

    # -- seeding -----------------------------------------------------------------------
    def seed(self) -> None:
        d = self.deps.directory
        d.add_bank("BOC", "Bank of China", True)
        d.add_bank("ICBC", "Industrial and Commercial Bank of China", True)
        d.add_bank("CITYRURAL", "City Rural Credit Union", False)
        d.add_enterprise(ENTERPRISE, "Liandong Buyer Co., Ltd.", ["BOC", "ICBC"], [ACCOUNT], True)
        d.add_enterprise(SMALL, "Small Trading Co.", ["BOC"], [SMALL_ACCOUNT], False)
        # The manual's three people, plus desks: TOTP accepts one code per user per 30 s,
        # so pushing hundreds of payments in seconds takes one desk per payment.
        people = [("alice", "applicant"), ("bob", "reviewer"), ("carol", "authorizer")]
        people += [(f"applicant-{i:03d}", "applicant") for i in range(self.n)]
        people += [(f"reviewer-{i:02d}", "reviewer") for i in range(8)]
        people += [(f"authorizer-{i:03d}", "authorizer") for i in range(self.n + 2)]
        for name, role in people:
            self._enrol(name, ENTERPRISE, role)
        self._enrol("applicant-late", ENTERPRISE, "applicant")
        self._enrol("smallco-applicant", SMALL, "applicant")

    def _enrol(self, name: str, enterprise: str, role: str) -> None:
        password = secrets.token_urlsafe(12)
        user, _uri = self.deps.directory.add_user(name, enterprise, role, password)  # type: ignore[arg-type]
        # The real login path: password check, then a signed session.
        assert self.deps.directory.check_password(user, password)
        self.users[name] = user
        self.tokens[name] = self.deps.sessions.issue(name, enterprise, role)[0]

    def code(self, name: str) -> str:
        return code_for(self.users[name].totp_secret)

    def auth_code(self, name: str, payment_id: str, at: float | None = None) -> str:
        """The authorizer's code for this payment: their token's answer to the challenge
        that ``b2bpay challenge`` shows with amount and payee (or a plain code in totp mode)."""
        payment = self.deps.store.get(payment_id)
        assert payment is not None
        mode = self.deps.settings.authorizer_otp
        return authorizer_code(mode, self.users[name].totp_secret, payment, at)

    def request(
        self,
        i: int,
        applicant: str,
        enterprise: str = ENTERPRISE,
        order: str | None = None,
        otp: str | None = None,
    ) -> PaymentRequest:
        amount = f"{self.rng.randint(1_000, 2_000_000) / 100:.2f}"
        return PaymentRequest.model_validate(
            {
                "request_id": f"LD-REQ-{i:05d}",
                "order_id": order or f"LD-ORDER-{i:05d}",
                "payer": {
                    "enterprise_id": enterprise,
                    "account": ACCOUNT if enterprise == ENTERPRISE else SMALL_ACCOUNT,
                    "name": "Liandong Buyer Co., Ltd."
                    if enterprise == ENTERPRISE
                    else "Small Trading Co.",
                },
                "payee": {
                    "bank_code": "ICBC",
                    "account": f"62220200{i:08d}",
                    "name": f"Supplier {i:03d}",
                },
                "amount": amount,
                "currency": "CNY",
                "bank": "BOC",
                "purpose": f"Liandong order {i}",
                "session": self.tokens[applicant],
                "otp": otp or self.code(applicant),
            }
        )

    # -- driving -----------------------------------------------------------------------
    def send(self, queue: str, actor: str, payload: dict[str, Any]) -> None:
        self.deps.dispatch(queue, actor, payload)

    def expect_refusal(self, what: str, command_id: str, reason_code: str) -> None:
        self.expected_refusals.append((what, command_id, reason_code))

    def submit_all(self) -> None:
        n = self.n
        reject_review = set(self.rng.sample(range(3, n), max(1, n // 12)))
        reject_auth = set(
            self.rng.sample(sorted(set(range(3, n)) - reject_review), max(1, n // 25))
        )
        self.linking_index = next(i for i in range(5, n) if i not in reject_review)
        for i in range(n):
            applicant = "alice" if i == 0 else f"applicant-{i:03d}"
            reviewer = "bob" if i == 0 else f"reviewer-{i % 8:02d}"
            authorizer = "carol" if i == 0 else f"authorizer-{i:03d}"
            request = self.request(i, applicant)
            plan = Plan(i, request, applicant, reviewer, authorizer)
            if i in reject_review:
                plan.review_approves, plan.expect = False, "rejected"
            elif i in reject_auth:
                plan.auth_approves, plan.expect = False, "rejected"
            pid = payment_id_for(request.payer.enterprise_id, request.request_id)
            self.plans[pid] = plan
            plan.submitted_at = time.monotonic()
            if i == 1:
                # A wrong code first: refused, nothing created; then the right one.
                wrong = request.model_copy(
                    update={
                        "otp": SecretStr(_wrong(self.code(applicant))),
                        "command_id": f"wrong-otp-{i}",
                    }
                )
                self.send(q.APPLY, q.APPLY_PAYMENT, wrong.to_wire())
                self.expect_refusal(
                    "applicant enters a wrong one-time code", wrong.command_id, "otp_invalid"
                )
                if self.deps.store.wait_verdict(wrong.command_id, 10) is None:
                    plan.notes.append("no verdict for the wrong code")
                plan.notes.append("first attempt with a wrong code was refused")
            self.send(q.APPLY, q.APPLY_PAYMENT, request.to_wire())
            if i == 2:
                again = request.model_copy(update={"command_id": "duplicate-request-2"})
                self.send(q.APPLY, q.APPLY_PAYMENT, again.to_wire())
                self.duplicate_command = again.command_id
        # An ineligible payer, and a second payment for an order that already has one.
        small = self.request(n, "smallco-applicant", enterprise=SMALL)
        small = small.model_copy(update={"command_id": "ineligible-payer"})
        self.send(q.APPLY, q.APPLY_PAYMENT, small.to_wire())
        self.expect_refusal(
            "payer enterprise not eligible for online payment",
            small.command_id,
            "payer_not_eligible",
        )
        dup_order = self.request(n + 1, "applicant-late", order="LD-ORDER-00003")
        dup_order = dup_order.model_copy(update={"command_id": "duplicate-order"})
        self.send(q.APPLY, q.APPLY_PAYMENT, dup_order.to_wire())
        self.expect_refusal(
            "second payment for an order that has a live one",
            dup_order.command_id,
            "duplicate_order",
        )

    def react(self, event: StatusEvent) -> None:
        """The people: each acts when the payment reaches their work list."""
        plan = self.plans.get(event.payment_id)
        if plan is None or event.kind != "transition":
            return
        pid = event.payment_id
        if event.status == "pending_review":
            if plan.index == 0:
                # The applicant tries to review her own payment: refused.
                own = ReviewDecision(
                    payment_id=pid,
                    approve=True,
                    session=SecretStr(self.tokens["alice"]),
                    command_id="applicant-reviews-own",
                )
                self.send(q.PENDING_REVIEW, q.DECIDE_REVIEW, own.to_wire())
                self.expect_refusal(
                    "applicant reviews her own payment", own.command_id, "wrong_role"
                )
            decision = ReviewDecision(
                payment_id=pid,
                approve=plan.review_approves,
                reason="" if plan.review_approves else "payee account does not match the contract",
                session=SecretStr(self.tokens[plan.reviewer]),
            )
            self.send(q.PENDING_REVIEW, q.DECIDE_REVIEW, decision.to_wire())
        elif event.status == "pending_auth":
            if plan.index == self.linking_index:
                self.linking_waiting = pid
                self.try_carols_codes_elsewhere()
                return
            code = None
            if plan.index == 0:
                made_at = time.time()
                code = self.auth_code("carol", pid, made_at)
                self.carol_spent = (code, made_at)
            self.authorize(plan, pid, code)
        elif event.status == "authorized" and plan.index == 0:
            self.carol_authorized = True
            self.try_carols_codes_elsewhere()
        elif event.status in TERMINAL:
            plan.final = event.status
            plan.finished_at = time.monotonic()

    def authorize(self, plan: Plan, pid: str, code: str | None = None) -> None:
        authorization = AuthDecision(
            payment_id=pid,
            approve=plan.auth_approves,
            reason="" if plan.auth_approves else "over the daily limit agreed with the supplier",
            session=SecretStr(self.tokens[plan.authorizer]),
            otp=SecretStr(code or self.auth_code(plan.authorizer, pid)),
        )
        self.send(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, authorization.to_wire())

    def try_carols_codes_elsewhere(self) -> None:
        """Once carol's code has authorized payment 0 and another payment waits for its
        authorizer: carol types her spent code for that payment (bound to payment 0: not
        valid there), then a code her token makes for that payment in the time step she has
        spent (a replay). Each is answered before the next is sent; then the payment's own
        authorizer acts."""
        pid = self.linking_waiting
        if pid is None or not self.carol_authorized or self.carol_spent is None:
            return
        self.linking_waiting = None
        spent, made_at = self.carol_spent
        linked = is_linked(self.deps.settings.authorizer_otp)
        attempts = [
            (
                "authorizer's code for one payment typed for another",
                "code-for-another-payment",
                spent,
                # Plain TOTP codes are bound to nothing: there it is a replay.
                "otp_invalid" if linked else "otp_replayed",
            ),
            (
                "authorizer replays a used time step",
                "replayed-otp",
                self.auth_code("carol", pid, made_at),
                "otp_replayed",
            ),
        ]
        for what, command_id, code, reason_code in attempts:
            attempt = AuthDecision(
                payment_id=pid,
                approve=True,
                session=SecretStr(self.tokens["carol"]),
                otp=SecretStr(code),
                command_id=command_id,
            )
            self.send(q.PENDING_AUTH, q.DECIDE_AUTHORIZATION, attempt.to_wire())
            self.expect_refusal(what, command_id, reason_code)
            self.deps.store.wait_verdict(command_id, 10)
        self.authorize(self.plans[pid], pid)

    def pump_events(self) -> list[StatusEvent]:
        batch = self.deps.store.follow_events(self.last_event, block_ms=50)
        for sid, event in batch:
            self.last_event = sid
            if event.kind == "refusal":
                self.refusals[event.reason_code or "?"] += 1
                if event.command_id:
                    self.refused_commands[event.command_id] = event.reason_code or "?"
            self.react(event)
        return [e for _, e in batch]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def run_demo(payments: int, redis_url: str | None, threads: int, as_json: bool) -> int:
    console = Console(stderr=as_json)
    workdir = Path(tempfile.mkdtemp(prefix="b2bpay-demo-"))
    prefix = f"b2bpay-demo-{secrets.token_hex(3)}:"
    settings = Settings(
        redis_url=redis_url or "redis://embedded",
        prefix=prefix,
        database_url=f"sqlite:///{workdir / 'read.db'}",
        session_secret=SecretStr(secrets.token_hex(32)),
        log_format="json",
        log_level="WARNING",
        # The demo runs on its own throwaway prefix: generated keys in Redis are fine here.
        dev_mode=True,
    )
    configure_logging("json", "WARNING", stream=open(workdir / "demo.log", "w"))  # noqa: SIM115
    if redis_url:
        client: redis.Redis = redis.Redis.from_url(redis_url)
        where = f"Redis at {redis_url} (prefix {prefix})"
    else:
        import fakeredis

        client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        where = "embedded Redis (fakeredis with Lua)"
    # Demo users get a cheap argon2 cost so seeding hundreds of desks takes seconds; the real
    # `admin add-user` uses argon2id's defaults.
    deps = bootstrap(
        settings,
        client,
        Directory(
            client, Keys(prefix), PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        ),
    )
    console.rule("[bold]b2bpay demo")
    console.print(
        "Stages: apply, review, authorize, interbank, query, audit — "
        f"on {where}; read model {workdir / 'read.db'}"
    )
    demo = Demo(deps, console, payments)
    try:
        return _run(demo, settings, threads, as_json, console)
    finally:
        if redis_url:
            stem = prefix.rstrip(":")
            for key in client.scan_iter(match=f"{stem}*", count=1000):
                client.delete(key)


def _run(demo: Demo, settings: Settings, threads: int, as_json: bool, console: Console) -> int:
    deps = demo.deps
    t0 = time.monotonic()
    demo.seed()
    seeded = time.monotonic() - t0
    console.print(
        "Seeded 3 banks, 2 enterprises (one not eligible), "
        f"{len(demo.users)} users in {seeded:.1f} s"
    )
    worker = start_stages(deps, ["apply", "review", "authorize", "interbank"], threads)
    assert worker is not None
    model = ReadModel(make_engine(settings.database_url))
    projector = Projector(deps.redis, deps.keys, model)
    stop = threading.Event()
    projector_thread = threading.Thread(target=projector.run, args=(stop, 100), daemon=True)
    projector_thread.start()
    audit = audit_log_of(deps)
    auditor = Auditor(deps.redis, deps.keys, audit)
    auditor_thread = threading.Thread(target=auditor.run, args=(stop, 100), daemon=True)
    auditor_thread.start()
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks = {
        "apply": progress.add_task("apply: code verified", total=demo.n),
        "review": progress.add_task("review: decided", total=demo.n),
        "authorize": progress.add_task("authorize: decided", total=demo.n),
        "interbank": progress.add_task("interbank: settled", total=demo.n),
    }
    counted: set[tuple[str, str]] = set()
    started = time.monotonic()
    submitter = threading.Thread(target=demo.submit_all, daemon=True)
    try:
        with progress:
            submitter.start()
            while time.monotonic() - started < DEADLINE_SECONDS:
                for event in demo.pump_events():
                    if event.kind == "transition" and event.payment_id in demo.plans:
                        _count(progress, tasks, counted, event)
                if not submitter.is_alive() and all(p.final for p in demo.plans.values()):
                    break
        elapsed = time.monotonic() - started
        submitter.join(timeout=5)
        # Let the late refusals and the read model catch up with what happened.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            len(demo.refused_commands) < len(demo.expected_refusals)
            or deps.redis.xpending(deps.keys.events, "query")["pending"]
            or model.count_events() < deps.redis.xlen(deps.keys.events)
            or audit.audited() < deps.redis.xlen(deps.keys.events)
        ):
            demo.pump_events()
    finally:
        stop.set()
        worker.stop(timeout=10_000)
        projector_thread.join(timeout=5)
        auditor_thread.join(timeout=5)
    return _report(demo, model, elapsed, as_json, console, audit)


#: Which stage's bar a transition advances, and which later bars it takes a payment off.
_PROGRESS = {
    ("otp_verified", "apply"): ("apply", ()),
    ("pending_auth", "review"): ("review", ()),
    ("rejected", "review"): ("review", ("authorize", "interbank")),
    ("authorized", "authorize"): ("authorize", ()),
    ("rejected", "authorize"): ("authorize", ("interbank",)),
    ("settled", "interbank"): ("interbank", ()),
    ("failed", "interbank"): ("interbank", ()),
}


def _count(
    progress: Progress, tasks: dict[str, Any], counted: set[tuple[str, str]], event: StatusEvent
) -> None:
    found = _PROGRESS.get((event.status or "", event.stage))
    if found is None or (found[0], event.payment_id) in counted:
        return
    stage, leaves = found
    counted.add((stage, event.payment_id))
    progress.advance(tasks[stage])
    for later in leaves:
        task = next(t for t in progress.tasks if t.id == tasks[later])
        progress.update(tasks[later], total=(task.total or 1) - 1)


def _report(
    demo: Demo, model: ReadModel, elapsed: float, as_json: bool, console: Console, audit: AuditLog
) -> int:
    plans = list(demo.plans.values())
    outcomes = Counter(p.final or "unfinished" for p in plans)
    settled = [p for p in plans if p.final == "settled"]
    latencies = [(p.finished_at - p.submitted_at) * 1000 for p in settled]
    mismatched = [p for p in plans if p.final != p.expect]
    checks: list[dict[str, Any]] = []
    for what, command_id, reason in demo.expected_refusals:
        got = demo.refused_commands.get(command_id)
        checks.append({"scenario": what, "expected": reason, "got": got, "ok": got == reason})
    dup_ok = (
        demo.duplicate_command is not None and demo.duplicate_command not in demo.refused_commands
    )
    dup_pid = payment_id_for(ENTERPRISE, "LD-REQ-00002")
    dup_history = demo.deps.store.get(dup_pid)
    dup_single = (
        dup_history is not None and [e.status for e in dup_history.history].count("requested") == 1
    )
    checks.append(
        {
            "scenario": "the same request sent twice",
            "expected": "same payment, executed once",
            "got": "one payment, one history" if dup_single else "two executions",
            "ok": dup_ok and dup_single,
        }
    )
    events = int(demo.deps.redis.xlen(demo.deps.keys.events))
    verified = audit.verify()
    checks.append(
        {
            "scenario": "the audit trail: every event hash-chained",
            "expected": f"{events} entries, chain intact",
            "got": f"{verified.entries} entries, "
            + ("chain intact" if verified.ok else f"broken: {verified.broken}"),
            "ok": verified.ok and verified.entries == events,
        }
    )
    summary: dict[str, Any] = {
        "payments": demo.n,
        "elapsed_seconds": round(elapsed, 3),
        "throughput_per_second": round(len(plans) / elapsed, 1) if elapsed else None,
        "latency_ms": {
            "p50": round(_percentile(latencies, 50), 1),
            "p90": round(_percentile(latencies, 90), 1),
            "p99": round(_percentile(latencies, 99), 1),
            "max": round(max(latencies, default=0), 1),
        },
        "outcomes": dict(outcomes),
        "refusals": dict(demo.refusals),
        "scenarios": checks,
        "unexpected_outcomes": [
            {"payment_id": p.request.request_id, "expected": p.expect, "got": p.final}
            for p in mismatched
        ],
    }
    featured_pid = payment_id_for(ENTERPRISE, "LD-REQ-00000")
    timeline = _timeline(demo, model, featured_pid)
    ok = not mismatched and all(c["ok"] for c in checks)
    summary["ok"] = ok
    if as_json:
        print(json.dumps({**summary, "timeline": timeline}))
        return 0 if ok else 1
    table = Table(title="Outcomes")
    table.add_column("final status")
    table.add_column("payments", justify="right")
    for status, count in sorted(outcomes.items()):
        table.add_row(status, str(count))
    console.print(table)
    table = Table(title="Refusals (each recorded as an event, nothing changed)")
    table.add_column("scenario")
    table.add_column("expected")
    table.add_column("got")
    for c in checks:
        mark = "[green]✔[/green]" if c["ok"] else "[red]✘[/red]"
        table.add_row(c["scenario"], c["expected"], f"{mark} {c['got']}")
    console.print(table)
    lat = summary["latency_ms"]
    console.print(
        f"[bold]{len(plans)}[/bold] payments in {elapsed:.2f} s: "
        f"[bold]{summary['throughput_per_second']}[/bold] payments/s; submit→settled latency "
        f"p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms"
    )
    table = Table(title=f"One payment, step by step: {featured_pid} (alice → bob → carol)")
    for col in ("#", "manual step", "what the system recorded", "at (UTC)"):
        table.add_column(col)
    for row in timeline:
        table.add_row(str(row["step"]), row["manual"], row["system"], (row["at"] or "")[11:23])
    console.print(table)
    console.print(
        "[green]All flows behaved as expected.[/green]"
        if ok
        else "[red]Some flows did not behave as expected.[/red]"
    )
    return 0 if ok else 1


def _timeline(demo: Demo, model: ReadModel, payment_id: str) -> list[dict[str, Any]]:
    payment = demo.deps.store.get(payment_id)
    read = model.payment(payment_id)
    if payment is None:
        return []
    at = {e.status: e.at for e in payment.history}
    values = {
        "enterprise": payment.fields["enterprise_id"],
        "order": payment.fields["order_id"],
        "hash": payment.fields["content_hash"][:12] + "…",
        "bank": payment.fields["bank"],
        "applicant": payment.fields.get("applicant_id"),
        "reviewer": payment.fields.get("reviewer_id"),
        "authorizer": payment.fields.get("authorizer_id"),
        "e2e": payment.fields.get("end_to_end_id"),
        "final": read["status"] if read else "not projected",
    }
    rows = []
    for step, manual, system in MANUAL_STEPS:
        status = STEP_EVENT.get(step)
        rows.append(
            {
                "step": step,
                "manual": manual,
                "system": system.format(**values),
                "at": at.get(status) if status else None,
            }
        )
    return rows
