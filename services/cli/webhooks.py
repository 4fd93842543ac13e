"""Operator commands on webhooks: ``admin add-webhook``, ``webhooks deliveries`` and
``webhooks replay`` translate and delegate to :class:`~shared.redis.webhooks.Webhooks`."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from services.cli import context
from services.cli.options import JSON
from services.cli.output import REFUSED, console, emit, fail, inert
from services.webhooks.run import webhooks_of
from services.webhooks.seams import platform_exists
from shared.app.deps import Deps
from shared.redis.webhooks import WebhookError, WebhookRefusal, check_platform_id

webhooks = typer.Typer(no_args_is_help=True, help="Platforms' webhook deliveries.")


def add_endpoint(deps: Deps, platform: str, url: str, events: list[str], as_json: bool) -> None:
    try:
        if not platform_exists(deps, check_platform_id(platform)):
            raise WebhookError(WebhookRefusal.UNKNOWN_PLATFORM, f"no platform {platform}")
        endpoint, secret = webhooks_of(deps).add(platform, url, events)
    except WebhookError as e:
        code = REFUSED if e.reason_code is WebhookRefusal.UNKNOWN_PLATFORM else 2
        fail(str(e), as_json, code, reason_code=str(e.reason_code))
    emit(
        {
            "endpoint_id": endpoint.endpoint_id,
            "platform_id": endpoint.platform_id,
            "url": endpoint.url,
            "events": list(endpoint.events),
            "secret": secret,
        },
        as_json,
    )
    if not as_json:
        console.print(
            "[yellow]Give the secret to the platform now; it is not shown again.[/yellow]"
        )


def _when(at: float | None) -> str:
    return "" if at is None else dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@webhooks.command("deliveries")
def deliveries(
    failed: bool = typer.Option(False, "--failed", help="Only deliveries given up on."),
    limit: int = typer.Option(100, "--limit", min=1),
    as_json: bool = JSON,
) -> None:
    """Webhook deliveries, newest first."""
    found = webhooks_of(context.deps()).deliveries(limit, failed_only=failed)
    if as_json:
        emit({"deliveries": [d.as_dict() for d in found]}, True)
        return
    table = Table(title=f"{len(found)} {'failed ' if failed else ''}deliveries")
    for col in ("id", "endpoint", "payment", "seq", "event", "status", "attempts", "next (UTC)",
                "last error"):  # fmt: skip
        table.add_column(col)
    for d in found:
        row = (d.delivery_id, d.endpoint_id, d.payment_id, d.seq, d.routing_key, d.status,
               d.attempts, _when(d.next_at), d.last_error)  # fmt: skip
        table.add_row(*(inert(v) for v in row))
    console.print(table)


@webhooks.command("replay")
def replay(delivery_id: str, as_json: bool = JSON) -> None:
    """Send a delivered or failed delivery again (from a fresh retry window)."""
    try:
        delivery = webhooks_of(context.deps()).replay(delivery_id)
    except WebhookError as e:
        fail(str(e), as_json, REFUSED, reason_code=str(e.reason_code))
    emit(delivery.as_dict(), as_json)
