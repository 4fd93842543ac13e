"""b2bpay under test: every queue stage as its own worker process (``python -m
services.runtime STAGE``, the runtime ``b2bpay worker STAGE`` runs, as in production;
development-mode keys on the bench's prefix), and a driver playing the people.

The people are the demo's (:class:`services.demo.scenario.Demo`: its seeding, one applicant
and one authorizer desk per payment for the one-code-per-step rule); they submit, review and
authorize through the application client (:mod:`shared.app.client`), the same functions the CLI
and the HTTP API call. They act as soon as a payment reaches their work list: what the
bench reports is machine time, from the status events' timestamps, never their think time.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr
from rich.console import Console

from services.bench.processes import Workers
from services.bench.systems import SystemUnderTest, submit_paced
from services.bench.trace import Trace
from services.demo.scenario import ENTERPRISE, Demo
from shared.app import client
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.contracts import StatusEvent, payment_id_for
from shared.messaging.routes import QUEUE_STAGES
from shared.redis.directory import Directory
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.testing import cheap_hasher

#: Which hop a status event ends, and what it started from: the command the person sent
#: (by its name in :attr:`Flow.sent`) or the event before.
HOP_OF_EVENT: dict[str, tuple[str, str]] = {
    "otp_verified": ("apply", "submit"),
    "pending_review": ("take_in", "otp_verified"),
    "pending_auth": ("review", "review"),
    "authorized": ("authorize", "authorize"),
    "settled": ("interbank", "authorized"),
}
#: Statuses after which a payment goes no further (settled is the expected one).
FINAL = {"settled", "rejected", "failed", "expired", "cancelled"}


def event_time(event: StatusEvent) -> float:
    return datetime.fromisoformat(event.at.replace("Z", "+00:00")).timestamp()


class Flow:
    """One payment followed: when each command was sent and each event happened."""

    def __init__(self, trace: Trace, index: int) -> None:
        self.trace = trace
        self.index = index
        self.times: dict[str, float] = {}


class Pipeline(SystemUnderTest):
    name = "b2bpay"

    def __init__(self, url: str, prefix: str, threads: int, workdir: Path, people: int) -> None:
        self.threads = threads
        self.session_secret = secrets.token_hex(32)
        self.settings = Settings(
            redis_url=url,
            prefix=prefix,
            database_url=f"sqlite:///{workdir / 'read.db'}",
            session_secret=SecretStr(self.session_secret),
            log_format="json",
            log_level="WARNING",
            # The bench runs on its own throwaway prefix: generated keys in Redis are fine.
            dev_mode=True,
        )
        self.client = redis.Redis.from_url(url)
        keys = Keys(prefix)
        self.deps = bootstrap(
            self.settings, self.client, Directory(self.client, keys, cheap_hasher())
        )
        self.demo = Demo(self.deps, Console(quiet=True), people)
        self.next_index = 1  # 0 is the demo's alice
        env = {
            **os.environ,
            "B2BPAY_REDIS_URL": url,
            "B2BPAY_PREFIX": prefix,
            "B2BPAY_DATABASE_URL": self.settings.database_url,
            "B2BPAY_SESSION_SECRET": self.session_secret,
            "B2BPAY_LOG_FORMAT": "json",
            "B2BPAY_LOG_LEVEL": "WARNING",
            "B2BPAY_DEV_MODE": "1",
        }
        self.workers = Workers(workdir, env)

    def seed(self) -> None:
        """The demo's world: banks, enterprises, and a desk per payment."""
        self.demo.seed()

    def start(self, followers: tuple[str, ...] = ()) -> None:
        """Every queue stage as its own worker process; ``followers`` (query, audit) too."""
        for stage in (*(s.value for s in QUEUE_STAGES), *followers):
            argv = ["services.runtime", stage, "--threads", str(self.threads)]
            self.workers.start(stage, argv)
        traces = self.drive(2, None, 90)
        if any(t.finished_at is None for t in traces):
            dead = self.workers.dead()
            raise RuntimeError(
                f"the b2bpay workers did not start (see {self.workers.workdir}); exited: {dead}"
            )

    def pids(self) -> list[int]:
        return self.workers.pids

    def named_pids(self) -> dict[str, int]:
        return self.workers.by_name

    def stop(self) -> None:
        self.workers.stop()

    # -- the people --------------------------------------------------------------------
    def drive(self, count: int, rate: float | None, timeout: float) -> list[Trace]:
        demo = self.demo
        if self.next_index + count > demo.n:
            raise RuntimeError(f"only {demo.n - 1} desks were seeded; the bench needs more")
        first = self.next_index
        self.next_index += count
        flows: dict[str, Flow] = {}
        for i in range(first, first + count):
            # The demo's request ids (LD-REQ-nnnnn) for its buyer.
            pid = payment_id_for(ENTERPRISE, f"LD-REQ-{i:05d}")
            flows[pid] = Flow(Trace(pid, 0.0), i)
        requests = list(flows)
        last_id = self._stream_end()
        stop = threading.Event()

        def submit(n: int) -> None:
            flow = flows[requests[n]]
            i = flow.index
            request = demo.request(i, f"applicant-{i:03d}")
            flow.trace.submitted_at = flow.times["submit"] = time.time()
            client.send(self.deps, request)

        submitter = submit_paced(count, rate, submit, stop)
        deadline = time.monotonic() + timeout
        left = count
        try:
            while left and time.monotonic() < deadline:
                for sid, event in self.deps.store.follow_events(last_id, block_ms=100):
                    last_id = sid
                    flow = flows.get(event.payment_id)
                    if flow is None or flow.trace.finished_at:
                        continue
                    if event.kind == "refusal":
                        # Never expected: a refused payment goes no further; reported.
                        flow.trace.failed = event.reason_code or "refused"
                        flow.trace.finished_at = event_time(event)
                        left -= 1
                        continue
                    left -= self._react(flow, event)
        finally:
            stop.set()
            submitter.join(timeout=5)
        return [f.trace for f in flows.values()]

    def _react(self, flow: Flow, event: StatusEvent) -> int:
        """Record the event; the person whose work list it reaches acts. 1 if it is final."""
        status = event.status or ""
        at = event_time(event)
        flow.times[status] = at
        hop = HOP_OF_EVENT.get(status)
        if hop is not None and hop[1] in flow.times:
            flow.trace.hops[hop[0]] = at - flow.times[hop[1]]
        i, pid = flow.index, event.payment_id
        if status == "pending_review":
            token = self.demo.tokens[f"reviewer-{i % 8:02d}"]
            flow.times["review"] = time.time()
            client.review(self.deps, pid, approve=True, session=token)
        elif status == "pending_auth":
            name = f"authorizer-{i:03d}"
            code = self.demo.auth_code(name, pid)
            flow.times["authorize"] = time.time()
            client.authorize(self.deps, pid, approve=True, session=self.demo.tokens[name], otp=code)
        elif status in FINAL:
            flow.trace.finished_at = at
            if status != "settled":
                flow.trace.failed = status
            return 1
        return 0

    def _stream_end(self) -> str:
        found: Any = self.client.xrevrange(self.deps.keys.events, count=1)
        return as_text(found[0][0]) if found else "0"
