"""Reading payments: people's views over the HTTP API (``status``, ``list``, ``events`` with a
session), and the operators' raw event stream (``events`` without one, server-side)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.table import Table

from services.cli.api_client import Api, ApiProblem, ApiUnreachable, quoted
from services.cli.options import API_URL, JSON, MAYBE_SESSION, SESSION
from services.cli.output import console, emit, fail, fail_api, inert
from shared.domain.views import PaymentListItem, PaymentView

#: The columns of ``list``, in order.
LIST_COLUMNS = (
    "payment_id",
    "status",
    "order_id",
    "enterprise_id",
    "amount",
    "currency",
    "updated_at",
)
#: Payments asked for per page by ``list`` (the API's largest page).
PAGE_SIZE = 500


def status(
    payment_id: str, session: str = SESSION, api_url: str = API_URL, as_json: bool = JSON
) -> None:
    """A payment of your enterprise: its status and history, from the query service's read
    model (seed step 16). Failed authentication shows as authentication_failed; operators
    read the precise codes with `b2bpay events`."""
    try:
        body = Api(api_url, session).call("GET", f"/v1/payments/{quoted(payment_id)}").body
    except (ApiProblem, ApiUnreachable) as error:
        fail_api(error, api_url, as_json)
    found = PaymentView.model_validate(body)
    if as_json:
        emit(found.model_dump(mode="json"), True)
        return
    emit(found.model_dump(mode="json", exclude={"history", "refusals"}), False, title=payment_id)
    table = Table(title="history")
    for col in ("seq", "at", "status", "stage", "actor", "reason"):
        table.add_column(col)
    for h in found.history:
        table.add_row(*map(inert, (h.seq, h.at, h.status, h.stage, h.actor_id, h.reason_code)))
    for r in found.refusals:
        table.add_row(
            inert(r.seq),
            inert(r.at),
            "[red]refused[/red]",
            *map(inert, (r.stage, r.actor_id, r.reason_code)),
        )
    console.print(table)


def list_payments(
    status_: str | None = typer.Option(None, "--status"),
    session: str = SESSION,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """Your enterprise's payments in the read model, optionally by status."""
    api, cursor = Api(api_url, session), None
    rows: list[PaymentListItem] = []
    try:
        while True:
            params: dict[str, str | int | None] = {"status": status_, "limit": PAGE_SIZE}
            page = api.call("GET", "/v1/payments", params={**params, "cursor": cursor}).body
            rows.extend(PaymentListItem.model_validate(p) for p in page["payments"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
    except (ApiProblem, ApiUnreachable) as error:
        fail_api(error, api_url, as_json)
    if as_json:
        emit({"payments": [r.model_dump(mode="json") for r in rows]}, True)
        return
    table = Table(title=f"{len(rows)} payments")
    for col in LIST_COLUMNS:
        table.add_column(col)
    for r in rows:
        table.add_row(*(inert(getattr(r, c)) for c in LIST_COLUMNS))
    console.print(table)


def events(
    follow: bool = typer.Option(False, "--follow", help="Keep printing new events."),
    payment_id: str | None = typer.Option(None, "--payment", help="Only this payment's."),
    session: str | None = MAYBE_SESSION,
    api_url: str = API_URL,
    as_json: bool = JSON,
) -> None:
    """With a session: your enterprise's status events over the API, as JSON lines (failed
    authentication shown as authentication_failed). Without one, operators only (needs the
    server's Redis access): the raw stream from its start, with the precise reason codes."""
    if session is None:
        if payment_id is not None:
            fail("--payment needs --session (the operators' stream is the whole stream)", as_json)
        from services.cli.operators import raw_events

        raw_events(follow)
        return
    try:
        for data, comment in Api(api_url, session).events({"payment_id": payment_id}):
            if comment == "keep-alive" and not follow:
                # Every event so far was sent: the server had nothing more to say.
                return
            if data:
                sys.stdout.write(_event_line(json.loads(data)))
                sys.stdout.flush()
    except (ApiProblem, ApiUnreachable) as error:
        fail_api(error, api_url, as_json)
    except KeyboardInterrupt:
        return


def _event_line(event: dict[str, Any]) -> str:
    # ASCII JSON: no character of an event reaches a terminal raw.
    return json.dumps(event) + "\n"
