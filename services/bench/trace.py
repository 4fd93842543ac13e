"""What a driver records of one payment (or one baseline chain), and the numbers drawn from
many: percentiles, and the steady rate in the 10-90 % window of completions."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

#: The five messages of a payment, as hops, in order: the machine's part of the flow.
HOP_NAMES: tuple[str, ...] = ("apply", "take_in", "review", "authorize", "interbank")


@dataclass
class Trace:
    """One payment's machine time per hop (seconds), people's think time left out."""

    key: str
    submitted_at: float
    hops: dict[str, float] = field(default_factory=dict)
    #: Wall time (seconds since the epoch) of its final event; None if it never finished.
    finished_at: float | None = None
    #: The final status, if not the expected one (settled / last hop).
    failed: str | None = None

    @property
    def machine_seconds(self) -> float:
        return sum(self.hops.values())


def percentile(samples: list[float], p: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def steady_rate(finishes: list[float]) -> float | None:
    """Completions per second between the 10th and the 90th percentile completion."""
    ordered = sorted(finishes)
    if len(ordered) < 5:
        return None
    low, high = int(0.1 * len(ordered)), int(0.9 * len(ordered)) - 1
    span = ordered[high] - ordered[low]
    return (high - low) / span if span > 0 else None


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def latency_metrics(traces: list[Trace], prefix: str) -> dict[str, float | None]:
    """p50/p99 per hop and of the machine time end to end, in milliseconds."""
    done = [t for t in traces if t.finished_at is not None and t.failed is None]
    out: dict[str, float | None] = {}
    for hop in HOP_NAMES:
        samples = [t.hops[hop] for t in done if hop in t.hops]
        out[f"{prefix}_{hop}_p50_ms"] = ms(percentile(samples, 50))
        out[f"{prefix}_{hop}_p99_ms"] = ms(percentile(samples, 99))
    e2e = [t.machine_seconds for t in done]
    out[f"{prefix}_e2e_p50_ms"] = ms(percentile(e2e, 50))
    out[f"{prefix}_e2e_p99_ms"] = ms(percentile(e2e, 99))
    return out


def summary(values: list[float | None]) -> dict[str, float | None]:
    """Median and range of one metric over rounds."""
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None}
    return {
        "median": round(statistics.median(present), 3),
        "min": round(min(present), 3),
        "max": round(max(present), 3),
    }
