"""Reading the stage workers' ``/metrics`` back, for ``b2bpay top``: the message counters and
latency histogram summed per stage over every scraped process, and between two scrapes each
stage's rate and latency percentiles (from the histogram's bucket deltas, interpolated
within a bucket as Prometheus's ``histogram_quantile`` does)."""

from __future__ import annotations

import math
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

HANDLED = "b2bpay_messages_handled"
REFUSED = "b2bpay_messages_refused"
DEAD_LETTERED = "b2bpay_messages_dead_lettered"
LATENCY = "b2bpay_message_handler_seconds"
SCRAPE_TIMEOUT_SECONDS = 2.0
#: The most of one ``/metrics`` page read (a worker's is a few KiB).
MAX_SCRAPE_BYTES = 8 * 1024 * 1024


@dataclass
class StageTotals:
    """One stage's counters, summed over its processes, since they started."""

    handled: float = 0.0
    refused: float = 0.0
    dead_lettered: float = 0.0
    #: Cumulative histogram: upper bound -> observations at or below it.
    buckets: dict[float, float] = field(default_factory=dict)
    latency_sum: float = 0.0


def stage_totals(texts: Iterable[str]) -> dict[str, StageTotals]:
    """Per stage, the counters of every scraped text (Prometheus text format) added up."""
    totals: dict[str, StageTotals] = defaultdict(StageTotals)
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                stage = sample.labels.get("stage")
                if stage is None:
                    continue
                t = totals[stage]
                if sample.name == f"{HANDLED}_total":
                    t.handled += sample.value
                elif sample.name == f"{REFUSED}_total":
                    t.refused += sample.value
                elif sample.name == f"{DEAD_LETTERED}_total":
                    t.dead_lettered += sample.value
                elif sample.name == f"{LATENCY}_bucket":
                    le = float(sample.labels["le"])
                    t.buckets[le] = t.buckets.get(le, 0.0) + sample.value
                elif sample.name == f"{LATENCY}_sum":
                    t.latency_sum += sample.value
    return dict(totals)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of a cumulative histogram (upper bound -> count), linearly
    interpolated within its bucket; None without observations. An answer in the ``+Inf``
    bucket is the highest finite bound (as ``histogram_quantile`` answers)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class StageRates:
    """One stage between two scrapes."""

    stage: str
    #: Totals at the later scrape.
    handled: float
    refused: float
    dead_lettered: float
    #: Messages handled per second between the scrapes.
    rate_per_second: float
    #: Handler latency percentiles between the scrapes; None when nothing was handled.
    p50_seconds: float | None
    p99_seconds: float | None


def stage_rates(
    before: dict[str, StageTotals], after: dict[str, StageTotals], seconds: float
) -> list[StageRates]:
    """Each stage's rate and percentiles from ``before`` to ``after`` (``seconds`` apart).
    A counter that went down (a process restarted) counts from zero."""
    out = []
    for stage in sorted(after):
        now, then = after[stage], before.get(stage, StageTotals())
        handled = now.handled - then.handled if now.handled >= then.handled else now.handled
        delta = {
            le: max(count - then.buckets.get(le, 0.0), 0.0) for le, count in now.buckets.items()
        }
        out.append(
            StageRates(
                stage=stage,
                handled=now.handled,
                refused=now.refused,
                dead_lettered=now.dead_lettered,
                rate_per_second=handled / seconds if seconds > 0 else 0.0,
                p50_seconds=quantile(0.5, delta),
                p99_seconds=quantile(0.99, delta),
            )
        )
    return out


class ScrapeFailed(Exception):
    """Raised when a ``/metrics`` URL does not answer in time or with 200."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed scrape: urllib would send the bearer token on to wherever a
    scraped address (a port a local user took over, say) points it."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def scrape(url: str, token: str | None = None, timeout: float = SCRAPE_TIMEOUT_SECONDS) -> str:
    """The text at ``url`` (http or https only), with ``token`` as a bearer if given; at most
    :data:`MAX_SCRAPE_BYTES` of it, never following a redirect."""
    try:
        scheme = urllib.parse.urlsplit(url).scheme
    except ValueError:
        raise ScrapeFailed(f"{shown(url)}: not a URL") from None
    if scheme not in ("http", "https"):
        raise ScrapeFailed(f"{shown(url)}: not an http(s) URL")
    request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            body: bytes = answer.read(MAX_SCRAPE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ScrapeFailed(f"{shown(url)}: {type(error).__name__}") from None
    if len(body) > MAX_SCRAPE_BYTES:
        raise ScrapeFailed(f"{shown(url)}: larger than {MAX_SCRAPE_BYTES} bytes")
    return body.decode(errors="replace")


def shown(url: str) -> str:
    """``url`` without any user or password in it, for output (or a placeholder for one
    that does not parse)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "(a URL that does not parse)"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
