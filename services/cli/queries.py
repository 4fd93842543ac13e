"""Reading payments: people's views (``status``, ``list``, through :mod:`shared.client`) and
the operators' raw event stream (``events``)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from services.cli import context
from services.cli.options import JSON, SESSION
from services.cli.output import console, emit, fail_client, inert
from shared import client
from shared.domain.contracts import StatusEvent

if TYPE_CHECKING:
    from services.query.readmodel import ReadModel

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


def _read_model() -> ReadModel:
    from services.query.readmodel import ReadModel, make_engine

    return ReadModel(make_engine(context.settings().database_url))


def status(payment_id: str, session: str = SESSION, as_json: bool = JSON) -> None:
    """A payment of your enterprise: its status and history, from the query service's read
    model (seed step 16). Failed authentication shows as authentication_failed; operators
    read the precise codes with `b2bpay events`."""
    try:
        found = client.status(context.deps(), _read_model, payment_id, session=session)
    except client.ClientError as error:
        fail_client(error, as_json)
    if as_json:
        emit(found, True)
        return
    emit(
        {k: v for k, v in found.items() if k not in ("history", "refusals")},
        False,
        title=payment_id,
    )
    table = Table(title="history")
    for col in ("seq", "at", "status", "stage", "actor", "reason"):
        table.add_column(col)
    for h in found["history"]:
        table.add_row(
            *(inert(h[c]) for c in ("seq", "at", "status", "stage", "actor_id", "reason_code"))
        )
    for r in found["refusals"]:
        table.add_row(
            inert(r["seq"]),
            inert(r["at"]),
            "[red]refused[/red]",
            *(inert(r[c]) for c in ("stage", "actor_id", "reason_code")),
        )
    console.print(table)


def list_payments(
    status_: str | None = typer.Option(None, "--status"),
    session: str = SESSION,
    as_json: bool = JSON,
) -> None:
    """Your enterprise's payments in the read model, optionally by status."""
    try:
        rows = client.list_payments(context.deps(), _read_model, session=session, status=status_)
    except client.ClientError as error:
        fail_client(error, as_json)
    if as_json:
        emit({"payments": rows}, True)
        return
    table = Table(title=f"{len(rows)} payments")
    for col in LIST_COLUMNS:
        table.add_column(col)
    for r in rows:
        table.add_row(*(inert(r[c]) for c in LIST_COLUMNS))
    console.print(table)


def events(
    follow: bool = typer.Option(False, "--follow", help="Keep printing new events."),
    as_json: bool = JSON,
) -> None:
    """Operators only (needs the server's Redis access): the raw status event stream from its
    start, as JSON lines, with the precise reason codes people are not shown."""
    store = context.deps().store
    last = "-"
    try:
        while True:
            batch = store.read_events(after=last)
            if not batch:
                break
            for sid, event in batch:
                sys.stdout.write(_event_line(event))
                last = sid
        sys.stdout.flush()
        if not follow:
            return
        last = last if last != "-" else "0"
        while True:
            for sid, event in store.follow_events(last, block_ms=1000):
                sys.stdout.write(_event_line(event))
                last = sid
            sys.stdout.flush()
    except KeyboardInterrupt:
        return


def _event_line(event: StatusEvent) -> str:
    # ASCII JSON: no character of an event (written by anyone who can write the stream)
    # reaches a terminal raw.
    return json.dumps(event.model_dump(mode="json", by_alias=True)) + "\n"
