"""``b2bpay top``: the numbers an operator scales by, live in the terminal — each queue's depth
and the age of its next message, each stage's rate and handler latency (p50, p99), each
reader of the events stream's lag, the dead letters.

Queues, readers and dead letters are read from Redis directly (the same reads as
``/metrics``, :mod:`shared.metrics.system`); the stages' rates and latencies come from their
workers' ``/metrics``, given as ``--scrape URL`` (repeatable) or ``B2BPAY_TOP_SCRAPE``
(comma-separated), summed over the processes of each stage.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from services.cli import context
from services.cli.output import inert
from shared.metrics.exporter import system_reader
from shared.metrics.scrape import (
    ScrapeFailed,
    StageRates,
    StageTotals,
    scrape,
    shown,
    stage_rates,
    stage_totals,
)
from shared.metrics.system import SystemSnapshot


@dataclass(frozen=True)
class TopSnapshot:
    """What one refresh of ``top`` shows."""

    system: SystemSnapshot
    stages: list[StageRates]
    #: The scrape URLs that did not answer (credentials removed), with why.
    scrape_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.system.as_dict(),
            "stages": [asdict(s) for s in self.stages],
            "scrape_errors": self.scrape_errors,
        }


class Sampler:
    """Reads the system and scrapes the workers; keeps the previous scrape for the deltas."""

    def __init__(
        self,
        read_system: Callable[[], SystemSnapshot],
        urls: list[str],
        token: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_system = read_system
        self._urls = urls
        self._token = token
        self._clock = clock
        self._previous: tuple[float, dict[str, StageTotals]] | None = None

    def _scrape(self) -> tuple[dict[str, StageTotals], list[str]]:
        texts, errors = [], []
        for url in self._urls:
            try:
                texts.append(scrape(url, self._token))
            except ScrapeFailed as failed:
                errors.append(str(failed))
        return stage_totals(texts), errors

    def prime(self) -> None:
        """Take the first scrape, the base of the first rates."""
        totals, _errors = self._scrape()
        self._previous = (self._clock(), totals)

    def sample(self) -> TopSnapshot:
        totals, errors = self._scrape()
        now = self._clock()
        then, before = self._previous if self._previous is not None else (now, {})
        self._previous = (now, totals)
        return TopSnapshot(self._read_system(), stage_rates(before, totals, now - then), errors)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _age(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(snapshot: TopSnapshot) -> Group:
    """The tables of one frame. Names are printed inert: a consumer group's name is anyone's
    choice who can write Redis, and a stage label anyone's who answers a scrape."""
    queues = Table(title="queues", title_justify="left")
    for column in ("queue", "ready", "in flight", "delayed", "oldest", "dead letters"):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for q in snapshot.system.queues:
        queues.add_row(
            inert(q.queue),
            str(q.ready),
            "-" if q.in_flight is None else str(q.in_flight),
            str(q.delayed),
            _age(q.oldest_age_seconds),
            str(snapshot.system.dead_letters.get(q.queue, 0)),
        )
    stages = Table(title="stages", title_justify="left")
    for column in ("stage", "msg/s", "p50", "p99", "handled", "refused", "dead-lettered"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for s in snapshot.stages:
        stages.add_row(
            inert(s.stage),
            f"{s.rate_per_second:.1f}",
            _seconds(s.p50_seconds),
            _seconds(s.p99_seconds),
            f"{s.handled:.0f}",
            f"{s.refused:.0f}",
            f"{s.dead_lettered:.0f}",
        )
    if not snapshot.stages and not snapshot.scrape_errors:
        stages.caption = "no worker /metrics scraped: --scrape URL or B2BPAY_TOP_SCRAPE"
    readers = Table(title=f"readers ({snapshot.system.stream_length} events)", title_justify="left")
    for column in ("group", "lag", "lag age", "pending", "consumers"):
        readers.add_column(column, justify="left" if column == "group" else "right")
    for g in snapshot.system.groups:
        readers.add_row(
            inert(g.group),
            "?" if g.lag is None else str(g.lag),
            _age(g.lag_seconds),
            str(g.pending),
            str(g.consumers),
        )
    parts: list[Any] = [queues, stages, readers]
    if snapshot.scrape_errors:
        parts.append(inert("not answering: " + "; ".join(snapshot.scrape_errors)))
    return Group(*parts)


def top(
    scrape_urls: list[str] = typer.Option(
        [],
        "--scrape",
        help="A worker's /metrics URL (repeat for each); default B2BPAY_TOP_SCRAPE.",
    ),
    interval: float = typer.Option(2.0, "--interval", min=0.1, max=3600, help="Seconds."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print one snapshot as JSON and exit (with --scrape: rates over one interval).",
    ),
) -> None:
    """Live view of queues, stages, stream readers and dead letters (Ctrl-C to quit)."""
    settings = context.settings()
    urls = scrape_urls or [u.strip() for u in settings.top_scrape.split(",") if u.strip()]
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    sampler = Sampler(system_reader(settings), urls, token)
    if as_json:
        if urls:
            sampler.prime()
            time.sleep(interval)  # the interval the rates are measured over
        sys.stdout.write(json.dumps(sampler.sample().as_dict()) + "\n")
        return
    # Unprimed, the first frame shows the percentiles since the workers started (and no
    # rate yet); every later frame, those of the last interval.
    console = Console()
    with Live(render(sampler.sample()), console=console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval)  # the refresh interval the operator chose
                live.update(render(sampler.sample()), refresh=True)
        except KeyboardInterrupt:
            pass


__all__ = ["Sampler", "TopSnapshot", "render", "shown", "top"]
