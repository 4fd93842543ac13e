"""``b2bpay``: administer, act as applicant/reviewer/authorizer, query, run workers, demo."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import redis
import typer
from pydantic import SecretStr, ValidationError

from services.cli import context
from services.cli.output import (
    BAD_INPUT,
    NO_VERDICT,
    OK,
    REFUSED,
    UNAVAILABLE,
    console,
    emit,
    fail,
    inert,
)
from shared.config import SettingsError
from shared.domain.contracts import (
    INVISIBLE_TEXT,
    AuthDecision,
    CancelPayment,
    PaymentRequest,
    ReviewDecision,
    StatusEvent,
    is_visible_text,
    payment_id_for,
)
from shared.domain.errors import Refusal
from shared.messaging import routes as q
from shared.messaging.guard import describe_validation_error
from shared.redis.directory import ROLES, DirectoryError
from shared.security import access
from shared.security.deployment import DeploymentMismatch, reseal_authorizer_otp
from shared.security.disclosure import AUTHENTICATION_FAILED, GENERIC_REASON, for_person
from shared.security.keyneeds import MissingKeys
from shared.security.keyring import KeyRingError
from shared.security.signing import SigningKeyError
from shared.security.throttle import Throttled

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
admin = typer.Typer(
    no_args_is_help=True, help="Reference data and people: banks, enterprises, users."
)
app.add_typer(admin, name="admin")

JSON = typer.Option(False, "--json", help="Print one JSON object (or JSON lines).")
SESSION = typer.Option(
    ...,
    "--session",
    envvar="B2BPAY_SESSION",
    help="Session token from `b2bpay login` (or $B2BPAY_SESSION).",
)
WAIT = typer.Option(
    None,
    "--wait",
    help="Seconds to wait for the stage's verdict (default $B2BPAY_WAIT_SECONDS or 10).",
)
NO_WAIT = typer.Option(False, "--no-wait", help="Enqueue and return at once.")


def _read_secret_line(what: str, as_json: bool) -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail(f"expected the {what} on standard input", as_json)
    return line


def _dispatch_and_wait(
    queue: str,
    actor: str,
    payload: dict[str, Any],
    command_id: str,
    payment_id: str,
    wait: float | None,
    no_wait: bool,
    as_json: bool,
) -> None:
    deps = context.deps()
    deps.dispatch(queue, actor, payload)
    if no_wait:
        emit(
            {
                "command_id": command_id,
                "payment_id": payment_id,
                "outcome": "queued",
                "status": None,
            },
            as_json,
        )
        raise typer.Exit(OK)
    timeout = wait if wait is not None else context.settings().wait_seconds
    verdict = deps.store.wait_verdict(command_id, timeout)
    if verdict is None:
        emit(
            {
                "command_id": command_id,
                "payment_id": payment_id,
                "outcome": "queued",
                "status": None,
                "reason": f"no verdict within {timeout:g} s; the command is still queued",
            },
            as_json,
        )
        raise typer.Exit(NO_VERDICT)
    shown = verdict.model_dump()
    if verdict.outcome == "refused":
        # Never say which factor failed; the refusal event keeps the precise code.
        shown["reason_code"], shown["reason"] = for_person(verdict.reason_code, verdict.reason)
    emit(shown, as_json, title="verdict")
    raise typer.Exit(REFUSED if verdict.outcome == "refused" else OK)


def _authentication_failed(as_json: bool) -> NoReturn:
    fail(GENERIC_REASON, as_json, REFUSED, reason_code=AUTHENTICATION_FAILED)


def _visible(as_json: bool, **typed: str | list[str]) -> None:
    """Refuse (bad input) reference data that would show as something else than it is
    wherever it is printed later (names, ids: see
    :data:`shared.domain.contracts.INVISIBLE_TEXT`)."""
    for what, value in typed.items():
        values = value if isinstance(value, list) else [value]
        if not all(is_visible_text(v) for v in values):
            fail(f"{what} {INVISIBLE_TEXT}", as_json)


# -- admin ---------------------------------------------------------------------------------
@admin.command("add-bank")
def add_bank(
    code: str,
    name: str = typer.Option(..., "--name"),
    no_b2b: bool = typer.Option(False, "--no-b2b", help="The bank has no B2B online payment."),
    as_json: bool = JSON,
) -> None:
    """Register a bank (B2B payment enabled unless --no-b2b)."""
    _visible(as_json, name=name)
    if not code.isalnum() or not code.isupper():
        fail("bank CODE must be upper-case letters and digits, e.g. BOC", as_json)
    bank = context.deps().directory.add_bank(code, name, not no_b2b)
    emit({"code": bank.code, "name": bank.name, "b2b_enabled": bank.b2b_enabled}, as_json)


@admin.command("add-enterprise")
def add_enterprise(
    enterprise_id: str,
    name: str = typer.Option(..., "--name"),
    bank: list[str] = typer.Option(
        [], "--bank", help="Bank CODE holding a B2B contract (repeatable)."
    ),
    account: list[str] = typer.Option(
        [], "--account", help="An account of the enterprise (repeatable)."
    ),
    not_eligible: bool = typer.Option(False, "--not-eligible", help="May not pay online."),
    as_json: bool = JSON,
) -> None:
    """Register an enterprise with its B2B contracts and accounts."""
    _visible(as_json, ENTERPRISE_ID=enterprise_id, name=name, bank=bank, account=account)
    try:
        e = context.deps().directory.add_enterprise(
            enterprise_id, name, bank, account, not not_eligible
        )
    except DirectoryError as err:
        fail(str(err), as_json)
    emit(
        {
            "enterprise_id": e.enterprise_id,
            "name": e.name,
            "eligible": e.eligible,
            "banks": list(e.banks),
            "accounts": list(e.accounts),
        },
        as_json,
    )


@admin.command("add-user")
def add_user(
    username: str,
    enterprise: str = typer.Option(..., "--enterprise"),
    role: str = typer.Option(..., "--role", help="applicant | reviewer | authorizer"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin."
    ),
    as_json: bool = JSON,
) -> None:
    """Create a user and enrol a TOTP token; the otpauth:// URI is shown once, now."""
    if not password_stdin:
        fail("pass --password-stdin and the password on standard input", as_json)
    if role not in ROLES:
        fail(f"--role must be one of {', '.join(ROLES)}", as_json)
    _visible(as_json, USERNAME=username, enterprise=enterprise)
    password = _read_secret_line("password", as_json)
    try:
        user, uri = context.deps().directory.add_user(username, enterprise, role, password)
    except DirectoryError as err:
        fail(str(err), as_json)
    emit(
        {
            "username": user.username,
            "role": user.role,
            "enterprise_id": user.enterprise_id,
            "totp_uri": uri,
        },
        as_json,
    )
    if not as_json:
        console.print(
            "[yellow]Enrol the totp_uri in the user's token now; it is not shown again.[/yellow]"
        )


@admin.command("unlock")
def unlock(username: str, as_json: bool = JSON) -> None:
    """Clear a user's failed-code count and lock."""
    if not access.unlock(context.deps(), username):
        fail(f"unknown user {username!r}", as_json)
    emit({"username": username, "locked": False}, as_json)


@admin.command("revoke")
def revoke(username: str, as_json: bool = JSON) -> None:
    """End every session of a user now, in every worker; the user may log in again."""
    if not access.revoke_sessions(context.deps(), username):
        fail(f"unknown user {username!r}", as_json)
    emit({"username": username, "sessions_revoked": True}, as_json)


@admin.command("disable")
def disable(username: str, as_json: bool = JSON) -> None:
    """Disable a user: no login, and every live session is refused at once."""
    try:
        if not access.disable(context.deps(), username):
            fail(f"unknown user {username!r}", as_json)
    except DirectoryError as err:
        fail(str(err), as_json)
    emit({"username": username, "active": False}, as_json)


@admin.command("enable")
def enable(username: str, as_json: bool = JSON) -> None:
    """Enable a disabled user. Sessions from before stay ended: the user logs in again."""
    try:
        if not access.enable(context.deps(), username):
            fail(f"unknown user {username!r}", as_json)
    except DirectoryError as err:
        fail(str(err), as_json)
    emit({"username": username, "active": True}, as_json)


@admin.command("rotate-totp-key")
def rotate_totp_key(as_json: bool = JSON) -> None:
    """Re-encrypt every user's TOTP secret and re-seal every user record (and the recorded
    authorizer code mode) under the current key of B2BPAY_TOTP_KEYS (the first); run it
    after putting a new key in front. Safe to run again."""
    deps = context.deps()
    try:
        rotation = deps.directory.rotate_totp_secrets()
        reseal_authorizer_otp(deps.redis, deps.keys, deps.directory.totp_keys)
    except DirectoryError as err:
        fail(str(err), as_json)
    emit(
        {
            "users": rotation.users,
            "reencrypted": rotation.reencrypted,
            "key_id": rotation.key_id,
        },
        as_json,
    )


@admin.command("migrate-users")
def migrate_users(
    trust_unsealed: bool = typer.Option(
        False,
        "--trust-unsealed",
        help="Seal the records that have no MAC yet, trusting them as they stand in Redis. "
        "Only for the first run, before anyone could have written Redis; refused once the "
        "users were migrated.",
    ),
    as_json: bool = JSON,
) -> None:
    """Once, when upgrading to sealed user records, with --trust-unsealed: encrypt secrets
    left in plain, bind every secret to its user's enterprise and role, and seal each record
    with its MAC. Afterwards (and without the flag) a record that lacks its seal is never
    sealed: it is what a Redis writer plants. Records that lack their seal or do not verify
    are listed and left as they are (exit 1)."""
    try:
        migration = context.deps().directory.migrate_users(trust_unsealed=trust_unsealed)
    except DirectoryError as err:
        fail(str(err), as_json)
    data: dict[str, Any] = {
        "users": migration.users,
        "migrated": list(migration.migrated),
        "refused": list(migration.refused),
        "unsealed": list(migration.unsealed),
    }
    if migration.unsealed:
        data["error"] = (
            f"record lacks its seal: {', '.join(migration.unsealed)}; delete the record and "
            "re-create the user with admin add-user, or, on the first migration only, run "
            "again with --trust-unsealed"
        )
    emit(data, as_json)
    if migration.refused or migration.unsealed:
        raise typer.Exit(REFUSED)


@admin.command("keys")
def admin_keys(
    directory: Path = typer.Option(
        Path(".b2bpay/keys"), "--dir", help="Folder to write the key pairs to."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace existing keys (in-flight hand-offs will be refused)."
    ),
    as_json: bool = JSON,
) -> None:
    """Generate the stage signing keys (Ed25519, one pair per stage): <stage>.key (mode 0600)
    and <stage>.pub; prints the settings that use them. Needs no Redis."""
    from shared.security.signing import SigningKeyError, public_keys_spec, write_key_pairs

    try:
        pairs = write_key_pairs(directory, overwrite=force)
    except (SigningKeyError, OSError) as err:
        fail(str(err), as_json)
    folder = str(directory.resolve())
    env = {
        "B2BPAY_SIGNING_KEYS_DIR": folder,
        "B2BPAY_SIGNING_PUBLIC_KEYS": public_keys_spec({p.stage: p.public_key for p in pairs}),
    }
    if as_json:
        emit(
            {
                "dir": folder,
                "private_keys": {p.stage: str(p.private_path.resolve()) for p in pairs},
                "public_keys": {p.stage: str(p.public_path.resolve()) for p in pairs},
                "env": env,
            },
            True,
        )
        return
    sys.stdout.write(
        f"Wrote {len(pairs)} key pairs to {folder} (<stage>.key mode 0600, <stage>.pub).\n"
        "Every process needs every public key; each stage process only its own private key\n"
        '(its <stage>.key in the folder, or B2BPAY_SIGNING_KEY_<STAGE>="$(cat <stage>.key)").\n'
        + "".join(f"export {name}='{value}'\n" for name, value in env.items())
    )


# -- people ------------------------------------------------------------------------------
@app.command()
def login(
    username: str,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin."
    ),
    as_json: bool = JSON,
) -> None:
    """Check the password and print a signed session token; the session ends at
    expires_at, or earlier after idle_seconds without use, or at logout."""
    if not password_stdin:
        fail("pass --password-stdin and the password on standard input", as_json)
    password = _read_secret_line("password", as_json)
    deps = context.deps()
    try:
        # The CLI's client is its host: failures from one machine count together.
        opened = access.login(deps, username, password, client=f"host:{socket.gethostname()}")
    except Throttled as throttled:
        # Shown as it is: it is told alike for every username, known or not.
        fail(throttled.detail, as_json, REFUSED, reason_code=throttled.reason_code.value)
    if opened is None:
        _authentication_failed(as_json)
    token, session = opened
    emit(
        {
            "token": token,
            "expires_at": session.expires_at,
            "idle_seconds": deps.sessions.idle_seconds,
            "username": session.username,
            "role": session.role,
        },
        as_json,
    )


@app.command()
def logout(session: str = SESSION, as_json: bool = JSON) -> None:
    """End a session now: every stage refuses its token from then on."""
    try:
        context.deps().sessions.revoke(session)
    except Refusal:
        _authentication_failed(as_json)
    emit({"logged_out": True}, as_json)


@app.command()
def otp(
    offset: int = typer.Option(0, "--offset", help="Steps of 30 s from now."),
    challenge: str | None = typer.Option(
        None,
        "--challenge",
        help="Answer this challenge (from `b2bpay challenge PAYMENT_ID`): the authorizer's "
        "code, bound to the payment.",
    ),
    as_json: bool = JSON,
) -> None:
    """A software token for demos and tests: reads an otpauth:// URI (or base32 secret) on
    stdin and prints the current one-time code, or with --challenge the OCRA response."""
    import pyotp

    from shared.security.ocra import ChallengeError, code_for_challenge, normalize_challenge
    from shared.security.otp import STEP_SECONDS, code_for

    if challenge is not None:
        try:
            challenge = normalize_challenge(challenge)
        except ChallengeError as err:
            fail(str(err), as_json)
    line = _read_secret_line("otpauth:// URI or secret", as_json)
    at = __import__("time").time() + offset * STEP_SECONDS
    try:
        secret = pyotp.parse_uri(line).secret if line.startswith("otpauth://") else line
        if challenge is None:
            code = code_for(secret, at)
        else:
            code = code_for_challenge(secret, challenge, at)
    except (ValueError, TypeError):
        fail("not an otpauth:// URI or base32 secret", as_json)
    emit({"code": code}, as_json)


@app.command()
def submit(
    file: str = typer.Argument(
        ..., help="JSON file with the PaymentRequest fields, or - for stdin."
    ),
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The applicant's one-time code."),
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Start a payment as applicant (seed steps 4-6)."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"cannot read a JSON payment request from {file}: {e.__class__.__name__}", as_json)
    if not isinstance(data, dict):
        fail("the payment request must be a JSON object", as_json)
    if "session" in data or "otp" in data:
        fail("the file must not hold session or otp; pass --session and --otp", as_json)
    data.setdefault("schema", "b2bpay.payment_request.v1")
    try:
        request = PaymentRequest.model_validate({**data, "session": session, "otp": otp})
    except ValidationError as e:
        fail(f"invalid payment request: {describe_validation_error(e)}", as_json)
    _dispatch_and_wait(
        q.APPLY,
        q.APPLY_PAYMENT,
        request.to_wire(),
        request.command_id,
        payment_id_for(request.payer.enterprise_id, request.request_id),
        wait,
        no_wait,
        as_json,
    )


def _decision_reason(approve: bool, reject: bool, reason: str, as_json: bool) -> bool:
    if approve == reject:
        fail("give exactly one of --approve or --reject", as_json)
    if reject and not reason.strip():
        fail("--reject needs --reason", as_json)
    return approve


@app.command()
def review(
    payment_id: str,
    approve: bool = typer.Option(False, "--approve"),
    reject: bool = typer.Option(False, "--reject"),
    reason: str = typer.Option("", "--reason"),
    session: str = SESSION,
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Review a payment as reviewer (seed steps 7-10)."""
    ok = _decision_reason(approve, reject, reason, as_json)
    try:
        decision = ReviewDecision(
            payment_id=payment_id, approve=ok, reason=reason, session=SecretStr(session)
        )
    except ValidationError as e:
        fail(describe_validation_error(e), as_json)
    _dispatch_and_wait(
        q.PENDING_REVIEW,
        q.DECIDE_REVIEW,
        decision.to_wire(),
        decision.command_id,
        payment_id,
        wait,
        no_wait,
        as_json,
    )


@app.command()
def authorize(
    payment_id: str,
    approve: bool = typer.Option(False, "--approve"),
    reject: bool = typer.Option(False, "--reject"),
    reason: str = typer.Option("", "--reason"),
    session: str = SESSION,
    otp: str = typer.Option(..., "--otp", help="The authorizer's one-time code."),
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Authorize a payment as authorizer, with a one-time code (seed steps 11-14)."""
    ok = _decision_reason(approve, reject, reason, as_json)
    try:
        decision = AuthDecision(
            payment_id=payment_id,
            approve=ok,
            reason=reason,
            session=SecretStr(session),
            otp=SecretStr(otp),
        )
    except ValidationError as e:
        fail(describe_validation_error(e), as_json)
    _dispatch_and_wait(
        q.PENDING_AUTH,
        q.DECIDE_AUTHORIZATION,
        decision.to_wire(),
        decision.command_id,
        payment_id,
        wait,
        no_wait,
        as_json,
    )


@app.command()
def cancel(
    payment_id: str,
    session: str = SESSION,
    reason: str = typer.Option("", "--reason"),
    wait: float | None = WAIT,
    no_wait: bool = NO_WAIT,
    as_json: bool = JSON,
) -> None:
    """Withdraw a payment as applicant; only before it is authorized."""
    try:
        command = CancelPayment(payment_id=payment_id, reason=reason, session=SecretStr(session))
    except ValidationError as e:
        fail(describe_validation_error(e), as_json)
    _dispatch_and_wait(
        q.APPLY,
        q.CANCEL_PAYMENT,
        command.to_wire(),
        command.command_id,
        payment_id,
        wait,
        no_wait,
        as_json,
    )


# -- query -------------------------------------------------------------------------------
def _read_model() -> Any:
    from services.query.readmodel import ReadModel, make_engine

    return ReadModel(make_engine(context.settings().database_url))


@app.command()
def status(payment_id: str, session: str = SESSION, as_json: bool = JSON) -> None:
    """A payment of your enterprise: its status and history, from the query service's read
    model (seed step 16). Failed authentication shows as authentication_failed; operators
    read the precise codes with `b2bpay events`."""
    from services.cli.people import as_person_sees_it, not_found, person_or_fail

    person = person_or_fail(session, as_json)
    found = _read_model().payment(payment_id)
    if found is None or found.get("enterprise_id") != person.user.enterprise_id:
        not_found(payment_id, as_json)
    found = as_person_sees_it(found)
    if as_json:
        emit(found, True)
        return
    emit(
        {k: v for k, v in found.items() if k not in ("history", "refusals")},
        False,
        title=payment_id,
    )
    from rich.table import Table

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


@app.command("list")
def list_payments(
    status_: str | None = typer.Option(None, "--status"),
    session: str = SESSION,
    as_json: bool = JSON,
) -> None:
    """Your enterprise's payments in the read model, optionally by status."""
    from services.cli.people import person_or_fail

    person = person_or_fail(session, as_json)
    rows = _read_model().list(status_, person.user.enterprise_id)
    if as_json:
        emit({"payments": rows}, True)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} payments")
    for col in (
        "payment_id",
        "status",
        "order_id",
        "enterprise_id",
        "amount",
        "currency",
        "updated_at",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            *(
                inert(r[c])
                for c in (
                    "payment_id",
                    "status",
                    "order_id",
                    "enterprise_id",
                    "amount",
                    "currency",
                    "updated_at",
                )
            )
        )
    console.print(table)


@app.command()
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


# -- operations ----------------------------------------------------------------------------
@app.command()
def worker(
    stages: list[str] = typer.Argument(
        ..., help="apply review authorize interbank query sweeper audit (any of)"
    ),
    processes: int = typer.Option(1, "--processes", min=1, max=64),
    threads: int = typer.Option(4, "--threads", min=1, max=64),
    as_json: bool = typer.Option(False, "--json", help="Log JSON lines even on a terminal."),
) -> None:
    """Run stage workers in this process (or N processes)."""
    from services.cli.worker import STAGES, run

    if as_json:
        os.environ["B2BPAY_LOG_FORMAT"] = "json"

    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        fail(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}", False)
    raise typer.Exit(run(stages, processes, threads))


@app.command()
def demo(
    payments: int = typer.Option(200, "--payments", min=10, max=100_000),
    redis_url: str | None = typer.Option(
        None, "--redis", help="Run on this Redis instead of an embedded one."
    ),
    threads: int = typer.Option(4, "--threads", min=1, max=64),
    as_json: bool = JSON,
) -> None:
    """Run the whole flow: seed data, push payments through every stage, report."""
    from services.cli.demo import run_demo

    raise typer.Exit(run_demo(payments, redis_url, threads, as_json))


@app.command()
def schema(
    name: str | None = typer.Argument(
        None,
        help="payment_request | review_decision | auth_decision | cancel_payment | handoff | "
        "status_event",
    ),
    as_json: bool = typer.Option(True, "--json", help="Always JSON; accepted for symmetry."),
) -> None:
    """Print the JSON Schema of the message contracts (all of them, or one)."""
    from shared.domain.contracts import CONTRACTS

    if name is not None and name not in CONTRACTS:
        fail(f"unknown contract {name!r}; choose from {', '.join(CONTRACTS)}", True)
    chosen = {name: CONTRACTS[name]} if name else CONTRACTS
    schemas = {key: model.model_json_schema(by_alias=True) for key, model in chosen.items()}
    sys.stdout.write(json.dumps(schemas[name] if name else schemas, indent=2) + "\n")


def _operations() -> None:
    from services.cli.ops import dlq, query, stream
    from services.cli.security import audit, challenge

    app.add_typer(dlq, name="dlq")
    app.add_typer(query, name="query")
    app.add_typer(stream, name="stream")
    app.add_typer(audit, name="audit")
    app.command("challenge")(challenge)


_operations()


def main() -> None:
    try:
        app()
    except (SettingsError, MissingKeys, DeploymentMismatch, SigningKeyError, KeyRingError) as e:
        # A missing or invalid setting: say which, plainly, never a traceback or key material.
        if "--json" in sys.argv:
            sys.stdout.write(json.dumps({"error": str(e)}) + "\n")
        else:
            sys.stderr.write(f"error: {e}\n")
        raise SystemExit(BAD_INPUT) from None
    except redis.RedisError as error:
        # Nothing was decided: say so plainly (never a traceback with a token in argv).
        message = f"Redis is not reachable ({type(error).__name__}); nothing was changed"
        if "--json" in sys.argv:
            sys.stdout.write(json.dumps({"error": message}) + "\n")
        else:
            sys.stderr.write(f"error: {message}\n")
        raise SystemExit(UNAVAILABLE) from None


if __name__ == "__main__":
    main()
