"""Operators' commands, run where the engine's settings and Redis are: the HTTP API
(``serve``), the health check, the dead-letter queue, the read model, the events stream
(trimmed, and read raw: ``b2bpay events`` without a session) and the audit trail.
``b2bpay worker`` is :mod:`services.cli.worker`."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

import typer
from rich.table import Table
from rich.text import Text

from services.cli import context
from services.cli.options import JSON
from services.cli.output import BAD_INPUT, REFUSED, console, emit, fail, inert
from shared.domain.contracts import StatusEvent
from shared.messaging.routes import ACTORS, routes_on
from shared.redis.trimming import ARCHIVE_HINT, trim_events
from shared.security.keyring import KeyRingError

dlq = typer.Typer(no_args_is_help=True, help="Messages a stage could not decode or validate.")
query = typer.Typer(no_args_is_help=True, help="The query service's read model.")
stream = typer.Typer(no_args_is_help=True, help="The events stream every follower reads.")
audit = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")

_ANCHOR = re.compile(r"([1-9][0-9]*):([0-9a-f]{64})")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
) -> None:
    """Run the HTTP API (OpenAPI at /openapi.json, docs at /docs) until interrupted."""
    from services.api.app import serve as run_api
    from shared.logging import configure_logging

    settings = context.settings()
    # A server, not a one-shot command: its INFO lines (failed logins, throttling) are the
    # operator's record, as the workers' are.
    configure_logging(settings.log_format, settings.log_level)
    run_api(settings, host, port)


def health(
    max_age: float = typer.Option(
        30.0, "--max-age", min=1, help="Seconds since the worker last said it was alive."
    ),
) -> None:
    """Exit 0 if this host's worker touched its B2BPAY_HEALTH_FILE within --max-age seconds,
    else 1: a container's health check. Reads nothing else (no Redis)."""
    import time

    found = context.settings().health_file
    if found is None:
        fail("B2BPAY_HEALTH_FILE is not set: the worker keeps no health file", False)
    import os
    import stat

    try:
        st = found.lstat()
    except OSError:
        raise typer.Exit(REFUSED) from None
    # A symlink, or a file of another user, is no worker's sign of life: anyone may make one.
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        raise typer.Exit(REFUSED)
    age = time.time() - st.st_mtime
    raise typer.Exit(0 if age <= max_age else REFUSED)


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


@audit.command("verify")
def audit_verify(
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="SEQ:MAC of an entry recorded earlier (from a previous verify, kept outside "
        "Redis): it must still be in the chain, unchanged.",
    ),
    as_json: bool = JSON,
) -> None:
    """Check the hash chain from its first entry; name the first broken entry (exit 1), or
    print the head to record as a later anchor (exit 0)."""
    from services.audit.auditor import audit_log_of

    pinned: tuple[int, str] | None = None
    if anchor is not None:
        match = _ANCHOR.fullmatch(anchor.strip().lower())
        if match is None:
            fail("--anchor is SEQ:MAC, e.g. 1200:<64 hex digits>", as_json, BAD_INPUT)
        pinned = (int(match[1]), match[2])
    deps = context.deps()
    try:
        log = audit_log_of(deps)
    except KeyRingError as err:
        fail(f"B2BPAY_AUDIT_KEYS: {err}", as_json, BAD_INPUT)
    result = log.verify(pinned)
    shown = result.as_dict()
    shown["events_not_yet_chained"] = max(0, int(deps.redis.xlen(deps.keys.events)) - log.audited())
    if as_json:
        emit(shown, True)
    else:
        table = Table(show_header=False, box=None)
        table.add_column("what")
        table.add_column("value", overflow="fold")  # the head is recorded whole, as an anchor
        table.add_row("[bold]entries verified[/bold]", str(result.entries))
        table.add_row("[bold]head[/bold]", f"{result.head_seq}:{result.head_mac}")
        table.add_row("[bold]events not yet chained[/bold]", str(shown["events_not_yet_chained"]))
        console.print(table)
        if result.broken is None:
            console.print("[green]The audit chain is intact.[/green]")
        else:
            console.print(
                Text.assemble(
                    ("The audit chain is broken:", "red"), " ", inert(result.broken.reason)
                )
            )
    raise typer.Exit(0 if result.ok else REFUSED)
