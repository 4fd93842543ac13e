"""``/metrics`` of real worker processes and ``b2bpay top`` against them: each stage counts
what it handled and refused, a stopped stage's queue grows and drains after its restart, a
stopped reader's lag shows and clears; ``top --json`` says the same numbers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from rich.console import Console

from services.cli.top import Sampler, render
from shared.app import client as app_client
from shared.metrics.exporter import system_reader
from tests.faults.conftest import Cluster, make_cluster
from tests.stack import delete_keys, free_port, wait_until

pytestmark = pytest.mark.e2e

PAYMENTS = 5
HELD = 3
REFUSED = 2
ALONE = ("apply", "authorize", "interbank", "query", "audit", "sweeper")


@dataclass
class Stack:
    cluster: Cluster
    ports: dict[str, list[int]]
    workers: dict[str, subprocess.Popen[bytes]]

    def start(self, stage: str, processes: int = 1) -> None:
        """``b2bpay worker STAGE --metrics-port P`` (with --processes N: ports P..P+N-1)."""
        args = ["--processes", str(processes), "--metrics-port", str(self.ports[stage][0])]
        self.workers[stage] = self.cluster.start(stage, args=args)
        for port in self.ports[stage]:
            wait_until(f"{stage}'s /metrics on {port}", lambda p=port: _answers(p), 30)

    def stop(self, stage: str) -> None:
        proc = self.workers.pop(stage)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0

    def urls(self, *stages: str) -> list[str]:
        return [_url(p) for s in stages for p in self.ports[s]]

    def samples(self, stage: str) -> list[Any]:
        """Every sample of every process of ``stage``."""
        return [
            sample
            for url in self.urls(stage)
            for family in text_string_to_metric_families(httpx.get(url, timeout=5).text)
            for sample in family.samples
        ]

    def total(self, stage: str, name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in self.samples(stage)
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def system(self, name: str, **labels: str) -> float | None:
        """A gauge of the installation, as the sweeper's /metrics shows it."""
        for s in self.samples("sweeper"):
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        return None


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/metrics"


def _answers(port: int) -> bool:
    try:
        return httpx.get(_url(port), timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cluster, client = make_cluster(redis_url, tmp_path_factory.mktemp("metrics"))
    ports = {stage: [free_port()] for stage in ALONE}
    base = free_port(span=2)  # review's two processes serve on P and P+1
    ports["review"] = [base, base + 1]
    made = Stack(cluster, ports, {})
    cluster.enrol("reviewer", "reviewer")
    try:
        for stage in ALONE:
            made.start(stage)
        made.start("review", processes=2)
        yield made
    finally:
        codes = cluster.stop_all()
        delete_keys(client, cluster.settings.prefix)
        client.close()
    assert set(codes.values()) == {0}, codes
    assert "Traceback" not in cluster.all_logs()


def _settle(stack: Stack, numbers: range) -> list[str]:
    c = stack.cluster
    for n in numbers:
        c.enrol(f"applicant-{n}", "applicant")
        c.enrol(f"authorizer-{n}", "authorizer")
    pids = [c.submit(n, f"applicant-{n}") for n in numbers]
    c.settle({pid: f"authorizer-{n}" for pid, n in zip(pids, numbers, strict=True)})
    return pids


def test_each_stage_counts_what_it_handled_and_refused(stack: Stack) -> None:
    c = stack.cluster
    _settle(stack, range(PAYMENTS))
    for n in range(100, 100 + REFUSED):
        c.enrol(f"applicant-{n}", "applicant")
        request = c.request(n, f"applicant-{n}").model_copy(update={"otp": SecretStr("000000")})
        sent = app_client.send(c.deps, request, wait=20)
        assert sent.verdict is not None and sent.verdict.outcome == "refused"

    def counted(stage: str, actor: str, outcome: str, expected: int) -> bool:
        name = "b2bpay_messages_handled_total"
        return stack.total(stage, name, actor=actor, outcome=outcome) == expected

    wait_until("apply's refusals", lambda: counted("apply", "apply_payment", "refused", 2), 30)
    assert counted("apply", "apply_payment", "accepted", PAYMENTS)
    # Two review processes (ports P and P+1): their counts add up to every payment.
    assert counted("review", "take_in_for_review", "accepted", PAYMENTS)
    assert counted("review", "decide_review", "accepted", PAYMENTS)
    assert counted("authorize", "decide_authorization", "accepted", PAYMENTS)
    wait_until(
        "interbank's count",
        lambda: counted("interbank", "submit_to_clearing", "accepted", PAYMENTS),
        30,
    )
    assert stack.total("apply", "b2bpay_messages_refused_total") == REFUSED
    refused_by = {
        s.labels["reason_code"]: s.value
        for s in stack.samples("apply")
        if s.name == "b2bpay_messages_refused_total"
    }
    # The precise code (people are told only authentication_failed).
    assert refused_by == {"otp_invalid": REFUSED}
    # Every handled message was timed once.
    handled = stack.total("apply", "b2bpay_messages_handled_total")
    assert stack.total("apply", "b2bpay_message_handler_seconds_count") == handled
    # The query worker's read model: every payment settled.
    wait_until(
        "the read model to show every payment settled",
        lambda: stack.total("query", "b2bpay_payments", status="settled") == PAYMENTS,
        30,
    )


def test_a_stopped_stage_s_queue_grows_and_drains_after_its_restart(stack: Stack) -> None:
    c = stack.cluster
    numbers = range(10, 10 + HELD)
    for n in numbers:
        c.enrol(f"applicant-{n}", "applicant")
        c.enrol(f"authorizer-{n}", "authorizer")
    pids = [c.submit(n, f"applicant-{n}") for n in numbers]
    for pid in pids:
        c.wait_status(pid, "pending_review")
        c.review(pid, "reviewer")
        c.wait_status(pid, "pending_auth")
    stack.stop("authorize")
    stack.stop("audit")
    for pid, n in zip(pids, numbers, strict=True):
        c.authorize(pid, f"authorizer-{n}")

    depth = wait_until(
        "pending-auth to hold the decisions",
        lambda: stack.system("b2bpay_queue_messages", queue="pending-auth", state="ready") == HELD,
        10,
    )
    assert depth
    assert (stack.system("b2bpay_queue_oldest_message_age_seconds", queue="pending-auth") or 0) > 0
    # The audit reader is stopped too: the events written since then are its lag.
    audit_lag = stack.system("b2bpay_stream_group_lag_events", group="audit") or 0
    info = {g["name"]: g for g in c.deps.redis.xinfo_groups(c.deps.keys.events)}
    assert audit_lag == info[b"audit"]["lag"]

    stack.start("authorize")
    for pid in pids:
        c.wait_status(pid, "settled")
    wait_until(
        "pending-auth to drain",
        lambda: stack.system("b2bpay_queue_messages", queue="pending-auth", state="ready") == 0,
        30,
    )
    # Authorizations, submissions and settlements were written while audit was away.
    lag = stack.system("b2bpay_stream_group_lag_events", group="audit") or 0
    assert lag >= 3 * HELD
    assert (stack.system("b2bpay_stream_group_lag_seconds", group="audit") or 0) > 0
    wait_until(
        "query, still running, to have read everything",
        lambda: stack.system("b2bpay_stream_group_lag_events", group="query") == 0,
        30,
    )

    stack.start("audit")
    wait_until(
        "audit to catch up",
        lambda: stack.system("b2bpay_stream_group_lag_events", group="audit") == 0,
        30,
    )


def test_top_json_shows_the_same_numbers_as_the_workers(stack: Stack) -> None:
    c = stack.cluster
    _settle(stack, range(200, 201))
    urls = stack.urls("apply", "review", "authorize", "interbank")
    args = ["top", "--json", "--interval", "0.5"]
    for url in urls:
        args += ["--scrape", url]
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env=c.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout.strip().splitlines()[-1])

    queues = {q["queue"]: q for q in shown["queues"]}
    assert set(queues) == {"apply", "otp-verified", "pending-review", "pending-auth", "interbank"}
    assert all(q["ready"] == 0 for q in queues.values()), queues
    stages = {s["stage"]: s for s in shown["stages"]}
    for stage in ("apply", "review", "authorize", "interbank"):
        assert stages[stage]["handled"] == stack.total(stage, "b2bpay_messages_handled_total")
        assert stages[stage]["handled"] > 0
        assert stages[stage]["rate_per_second"] == 0  # nothing was sent during the interval
    assert stages["apply"]["refused"] == stack.total("apply", "b2bpay_messages_refused_total")
    readers = {g["group"]: g for g in shown["groups"]}
    assert {"query", "audit"} <= set(readers)
    assert shown["stream_length"] == c.deps.redis.xlen(c.deps.keys.events)
    assert shown["dead_letters"] == dict.fromkeys(queues, 0)
    assert shown["scrape_errors"] == []


def test_top_s_live_view_renders_a_frame_of_the_same_numbers(stack: Stack) -> None:
    c = stack.cluster
    sampler = Sampler(system_reader(c.settings), stack.urls("apply", "review"), None)
    sampler.prime()
    console = Console(record=True, width=140)
    console.print(render(sampler.sample()))
    frame = console.export_text()

    for name in ("pending-auth", "otp-verified", "apply", "review", "query", "audit"):
        assert name in frame
    assert "p99" in frame and "msg/s" in frame
    handled = int(stack.total("review", "b2bpay_messages_handled_total"))
    assert f" {handled} " in frame


def test_the_workdir_logs_hold_no_metrics_errors(stack: Stack) -> None:
    text = "".join(p.read_text(errors="replace") for p in Path(stack.cluster.workdir).glob("*.log"))
    assert "metrics source unavailable" not in text
    assert "metrics served" in text
