"""Security commands: what the authorizer signs (``challenge``) and the audit trail."""

from __future__ import annotations

import re

import typer
from rich.table import Table
from rich.text import Text

from services.cli import context
from services.cli.output import BAD_INPUT, REFUSED, console, emit, fail, inert
from shared.domain.errors import Refusal
from shared.security.keyring import KeyRingError
from shared.security.linking import what_is_signed

audit = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")

JSON = typer.Option(False, "--json", help="Print one JSON object.")
_ANCHOR = re.compile(r"([1-9][0-9]*):([0-9a-f]{64})")


def challenge(
    payment_id: str,
    session: str = typer.Option(
        ...,
        "--session",
        envvar="B2BPAY_SESSION",
        help="Session token from `b2bpay login` (or $B2BPAY_SESSION).",
    ),
    as_json: bool = JSON,
) -> None:
    """What the authorizer signs: your enterprise's payment's amount, currency and payee, and
    the challenge to answer with the token (`b2bpay otp --challenge C`)."""
    from services.cli.people import not_found, person_or_fail

    person = person_or_fail(session, as_json)
    payment = context.deps().store.get(payment_id)
    if payment is None or payment.content.enterprise_id != person.user.enterprise_id:
        not_found(payment_id, as_json)
    try:
        shown = what_is_signed(payment, context.settings().authorizer_otp)
    except Refusal as refusal:
        # Nothing of a payment whose stored fields the content hash does not cover is shown:
        # not its amount, not its challenge.
        fail(refusal.detail, as_json, REFUSED, reason_code=refusal.reason_code.value)
    emit(shown, as_json, title=f"authorize {payment_id}")
    if not as_json and shown["challenge"]:
        console.print(
            f"Check amount and payee, then answer: [bold]b2bpay otp --challenge "
            f"{shown['challenge']}[/bold] (your token's URI on stdin)"
        )


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
