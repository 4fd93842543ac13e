"""Operator commands: the dead-letter queue, the read model and the events stream (trimmed,
and read raw: ``b2bpay events`` without a session)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import typer
from rich.table import Table

from services.cli import context
from services.cli.options import JSON
from services.cli.output import REFUSED, console, emit, fail, inert
from shared.domain.contracts import StatusEvent
from shared.messaging.routes import ACTORS, routes_on
from shared.redis.trimming import ARCHIVE_HINT, trim_events

dlq = typer.Typer(no_args_is_help=True, help="Messages a stage could not decode or validate.")
query = typer.Typer(no_args_is_help=True, help="The query service's read model.")
stream = typer.Typer(no_args_is_help=True, help="The events stream every follower reads.")


@dlq.command("list")
def dlq_list(limit: int = typer.Option(100, "--limit", min=1), as_json: bool = JSON) -> None:
    """Dead letters, oldest first."""
    deadletters = context.deps().deadletters
    letters = deadletters.list(limit)
    dropped = deadletters.dropped()
    if as_json:
        emit({"dead_letters": [d.as_dict() for d in letters], "dropped_over_cap": dropped}, True)
        return
    over = ", ".join(f"{queue}: {n}" for queue, n in sorted(dropped.items()))
    table = Table(
        title=f"{len(letters)} dead letters" + (f" (dropped over the cap: {over})" if over else "")
    )
    for col in ("id", "at (UTC)", "queue", "actor", "reason"):
        table.add_column(col)
    for d in letters:
        at = dt.datetime.fromtimestamp(d.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(*(inert(v) for v in (d.dead_letter_id, at, d.queue, d.actor, d.reason)))
    console.print(table)


@dlq.command("show")
def dlq_show(dead_letter_id: str, as_json: bool = JSON) -> None:
    """One dead letter with its (secret-free) payload."""
    letter = context.deps().deadletters.get(dead_letter_id)
    if letter is None:
        fail(f"no dead letter {dead_letter_id}", as_json, REFUSED)
    emit(letter.as_dict(), as_json)


@dlq.command("retry")
def dlq_retry(dead_letter_id: str, as_json: bool = JSON) -> None:
    """Send a dead letter back to its queue (after the cause is fixed). Secrets were stripped
    when it was kept, so a command that needs a session or code will be refused: the person
    has to send it again."""
    deps = context.deps()
    letter = deps.deadletters.get(dead_letter_id)
    if letter is None:
        fail(f"no dead letter {dead_letter_id}", as_json, REFUSED)
    routes = routes_on(letter.queue)
    if not routes or not isinstance(letter.payload, dict):
        fail("this dead letter holds no message that can be sent again", as_json, REFUSED)
    if letter.payload.get("undecodable") or letter.payload.get("truncated"):
        fail("this dead letter holds no message that can be sent again", as_json, REFUSED)
    # A letter sent under an actor name no route has goes to its queue's first route.
    actor = letter.actor if letter.actor in ACTORS else routes[0].actor
    message_id = deps.dispatch(letter.queue, actor, letter.payload)
    deps.deadletters.remove(dead_letter_id)
    emit(
        {"dead_letter_id": dead_letter_id, "queue": letter.queue, "message_id": message_id}, as_json
    )


@dlq.command("purge")
def dlq_purge(
    dead_letter_id: str | None = typer.Argument(None, help="One id; all if omitted."),
    yes: bool = typer.Option(False, "--yes", help="Confirm purging every dead letter."),
    as_json: bool = JSON,
) -> None:
    """Delete one dead letter, or all of them with --yes."""
    letters = context.deps().deadletters
    if dead_letter_id is None and not yes:
        fail("purging every dead letter needs --yes", as_json)
    ids = [dead_letter_id] if dead_letter_id else [d.dead_letter_id for d in letters.list(10**6)]
    removed = sum(letters.remove(i) for i in ids)
    emit({"purged": removed}, as_json)


@query.command("rebuild")
def query_rebuild(as_json: bool = JSON) -> None:
    """Recreate the read model from the events stream (stop `worker query` first)."""
    from services.query.projector import Projector
    from services.query.readmodel import ReadModel, make_engine

    deps = context.deps()
    model = ReadModel(make_engine(context.settings().database_url))
    projected = Projector(deps.redis, deps.keys, model).rebuild()
    emit({"events": projected, "payments": len(model.list(limit=10**9))}, as_json)


@stream.command("trim")
def stream_trim(as_json: bool = JSON) -> None:
    """Remove the events every consumer group has read and acknowledged and that are older
    than B2BPAY_EVENTS_RETENTION_SECONDS (the sweeper does this every minute)."""
    deps = context.deps()
    settings = context.settings()
    result = trim_events(deps.redis, deps.keys, settings.events_retention_seconds, deps.store.now())
    emit({**result.as_dict(), "archive": ARCHIVE_HINT}, as_json)


def raw_events(follow: bool) -> None:
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
