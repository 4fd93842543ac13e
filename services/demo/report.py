"""What the demo reports: outcomes, the refusal scenarios it expected, throughput and
latency, and one payment followed step by step against the manual's sixteen steps."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from services.demo.scenario import ENTERPRISE, Demo
from services.query.readmodel import ReadModel
from shared.domain.contracts import payment_id_for
from shared.domain.manual import MANUAL_STEPS, STEP_EVENT
from shared.redis.audit import AuditLog


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(
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
    split = [p for p in plans if p.via_platform]
    confirmed = [p for p in split if p.final == p.expect]
    checks.append(
        {
            "scenario": "the platform creates (PaymentRequest v2), the applicant picks the bank "
            "and confirms with her code",
            "expected": f"{len(split)} created by Liandong, each confirmed and finished",
            "got": f"{len(confirmed)} confirmed and finished as planned",
            "ok": len(confirmed) == len(split),
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
        "enterprise": payment.content.enterprise_id,
        "order": payment.content.order_id,
        "hash": payment.content.content_hash[:12] + "…",
        "bank": payment.content.bank,
        "applicant": payment.applicant_id,
        "reviewer": payment.reviewer_id,
        "authorizer": payment.authorizer_id,
        "e2e": payment.end_to_end_id,
        "final": read.status.value if read else "not projected",
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
