"""What ``b2bpay bench`` prints: the targets of issue 11 against the medians, and a table of
both systems and their ratio (median and range over rounds); or all of it as JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from services.bench.trace import HOP_NAMES


def _rate_key(rate: float) -> str:
    return f"{rate:g}".replace(".", "_")


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 11, the value reached (median over rounds) and whether it is met."""
    s = result["summary"]
    out = []

    def add(what: str, value: float | None, bound: float, at_least: bool) -> None:
        met = None if value is None else (value >= bound if at_least else value <= bound)
        out.append(
            {"target": what, "value": value, "bound": bound, "at_least": at_least, "met": met}
        )

    add(
        "burst throughput, b2bpay / baseline",
        s["ratio"]["burst_payments_per_s"]["median"],
        0.75,
        True,
    )
    add(
        "Redis commands per payment, b2bpay / baseline",
        s["ratio"]["burst_redis_commands_per_payment"]["median"],
        1.2,
        False,
    )
    if 5.0 in result["settings"]["rates"]:
        hops = [s["b2bpay"][f"paced_5_{h}_p50_ms"]["median"] for h in HOP_NAMES]
        worst = max((h for h in hops if h is not None), default=None)
        add("paced 5/s: slowest hop p50 (ms)", worst, 5.0, False)
        add(
            "paced 5/s: submit to settled p50 (ms)",
            s["b2bpay"]["paced_5_e2e_p50_ms"]["median"],
            25.0,
            False,
        )
    add("idle workers (cores)", s["b2bpay"]["idle_cores"]["median"], 0.05, False)
    add(
        "worker CPU per payment (ms)",
        s["b2bpay"]["burst_worker_cpu_ms_per_payment"]["median"],
        6.0,
        False,
    )
    return out


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, metric name) of the table's rows."""
    out = [
        ("burst: payments/s (10-90 %)", "burst_payments_per_s"),
        ("burst: submit to settled p50 ms", "burst_e2e_p50_ms"),
        ("burst: worker CPU ms / payment", "burst_worker_cpu_ms_per_payment"),
        ("burst: driver (people) CPU ms / payment", "burst_driver_cpu_ms_per_payment"),
        ("burst: Redis CPU ms / payment", "burst_redis_cpu_ms_per_payment"),
        ("burst: Redis commands / payment", "burst_redis_commands_per_payment"),
        ("burst: Redis memory bytes / payment", "burst_memory_bytes_per_payment"),
    ]
    for rate in result["settings"]["rates"]:
        key = _rate_key(rate)
        for hop in HOP_NAMES:
            out.append((f"paced {rate:g}/s: {hop} p50 / p99 ms", f"paced_{key}_{hop}"))
        out.append((f"paced {rate:g}/s: submit to settled p50 / p99 ms", f"paced_{key}_e2e"))
    out.append(("idle: worker cores", "idle_cores"))
    return out


def _cell(stats: dict[str, float | None]) -> str:
    median = stats["median"]
    if median is None:
        return "-"
    if stats["min"] == stats["max"]:
        return f"{median:g}"
    return f"{median:g} [{stats['min']:g}-{stats['max']:g}]"


def _pair(summary: dict[str, Any], name: str) -> str:
    return f"{_cell(summary[name + '_p50_ms'])} / {_cell(summary[name + '_p99_ms'])}"


def render(result: dict[str, Any], as_json: bool, console: Console) -> None:
    result = {**result, "targets": targets(result)}
    if as_json:
        console.print_json(json.dumps(result))
        return
    s = result["summary"]
    settings = result["settings"]
    table = Table(
        title=(
            f"b2bpay bench: {settings['payments']} payments burst, paced "
            f"{', '.join(f'{r:g}/s' for r in settings['rates'])}; {settings['rounds']} round(s), "
            "median \\[range]"
        )
    )
    for column in ("metric", "baseline (dramatiq chain)", "b2bpay", "b2bpay / baseline"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, name in rows(result):
        if name in s["b2bpay"]:
            table.add_row(
                label, _cell(s["baseline"][name]), _cell(s["b2bpay"][name]), _cell(s["ratio"][name])
            )
        else:
            table.add_row(
                label,
                _pair(s["baseline"], name),
                _pair(s["b2bpay"], name),
                f"{_cell(s['ratio'][name + '_p50_ms'])}",
            )
    console.print(table)
    by_process = Table(title="burst: worker CPU ms per payment, by process (median \\[range])")
    for column in ("system", "process", "CPU ms / payment"):
        by_process.add_column(column, justify="left" if column != "CPU ms / payment" else "right")
    for system, processes in s["cpu_ms_per_payment_by_process"].items():
        for name, stats in processes.items():
            by_process.add_row(system, name, _cell(stats))
    console.print(by_process)
    goals = Table(title="targets (issue 11), medians")
    for column in ("target", "reached", "bound", "met"):
        goals.add_column(column)
    for t in result["targets"]:
        bound = f"{'>=' if t['at_least'] else '<='} {t['bound']:g}"
        met = {True: "[green]yes", False: "[red]no", None: "-"}[t["met"]]
        goals.add_row(t["target"], "-" if t["value"] is None else f"{t['value']:g}", bound, met)
    console.print(goals)


def render_memory(rows: list[dict[str, Any]], as_json: bool, console: Console) -> None:
    """``--memory``: one row per size; flat is good."""
    if as_json:
        console.print_json(json.dumps({"memory": rows}))
        return
    table = Table(title="b2bpay bench --memory: per payment, as the number of payments grows")
    columns = [
        ("payments", "payments"),
        ("settled", "settled"),
        ("Redis bytes / payment", "memory_bytes_per_payment"),
        ("after trimming events", "memory_bytes_per_payment_after_trim"),
        ("events trimmed", "events_trimmed"),
        ("worker CPU ms / payment", "worker_cpu_ms_per_payment"),
        ("Redis commands / payment", "redis_commands_per_payment"),
        ("Redis CPU ms / payment", "redis_cpu_ms_per_payment"),
    ]
    for label, _ in columns:
        table.add_column(label, justify="right")
    for row in rows:
        table.add_row(*(f"{row[key]:g}" for _, key in columns))
    console.print(table)
