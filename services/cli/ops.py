"""Operator commands: the dead-letter queue and the read model."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from services.cli import context
from services.cli.output import REFUSED, console, emit, fail, inert
from shared import broker as q

dlq = typer.Typer(no_args_is_help=True, help="Messages a stage could not decode or validate.")
query = typer.Typer(no_args_is_help=True, help="The query service's read model.")

JSON = typer.Option(False, "--json", help="Print one JSON object.")
#: Which actor a dead letter of each queue goes back to when its actor is unknown.
DEFAULT_ACTOR = {
    q.APPLY: q.APPLY_PAYMENT,
    q.OTP_VERIFIED: q.TAKE_IN,
    q.PENDING_REVIEW: q.DECIDE_REVIEW,
    q.PENDING_AUTH: q.DECIDE_AUTHORIZATION,
    q.INTERBANK: q.SUBMIT_TO_CLEARING,
}


@dlq.command("list")
def dlq_list(limit: int = typer.Option(100, "--limit", min=1), as_json: bool = JSON) -> None:
    """Dead letters, oldest first."""
    letters = context.deps().deadletters.list(limit)
    if as_json:
        emit({"dead_letters": [d.as_dict() for d in letters]}, True)
        return
    table = Table(title=f"{len(letters)} dead letters")
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
    if letter.queue not in DEFAULT_ACTOR or not isinstance(letter.payload, dict):
        fail("this dead letter holds no message that can be sent again", as_json, REFUSED)
    if letter.payload.get("undecodable") or letter.payload.get("truncated"):
        fail("this dead letter holds no message that can be sent again", as_json, REFUSED)
    actor = letter.actor if letter.actor in DEFAULT_ACTOR.values() else DEFAULT_ACTOR[letter.queue]
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
