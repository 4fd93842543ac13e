"""Operators' commands on reference data and people: banks, enterprises, users, their
sessions and TOTP secrets, and the stage signing keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from services.cli import context
from services.cli.options import JSON, PASSWORD_STDIN, read_secret_line
from services.cli.output import REFUSED, console, emit, fail
from services.cli.platform_admin import platform
from shared.app import access
from shared.app.deps import platforms_of
from shared.domain.contracts import INVISIBLE_TEXT, is_visible_text
from shared.domain.parties import ROLES
from shared.redis.deployment import reseal_authorizer_otp
from shared.redis.directory import DirectoryError

admin = typer.Typer(
    no_args_is_help=True, help="Reference data and people: banks, enterprises, users."
)

admin.add_typer(platform, name="platform")


def _visible(as_json: bool, **typed: str | list[str]) -> None:
    """Refuse (bad input) reference data that would show as something else than it is
    wherever it is printed later (names, ids: see
    :data:`shared.domain.contracts.INVISIBLE_TEXT`)."""
    for what, value in typed.items():
        values = value if isinstance(value, list) else [value]
        if not all(is_visible_text(v) for v in values):
            fail(f"{what} {INVISIBLE_TEXT}", as_json)


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
    password_stdin: bool = PASSWORD_STDIN,
    as_json: bool = JSON,
) -> None:
    """Create a user and enrol a TOTP token; the otpauth:// URI is shown once, now."""
    if not password_stdin:
        fail("pass --password-stdin and the password on standard input", as_json)
    if role not in ROLES:
        fail(f"--role must be one of {', '.join(ROLES)}", as_json)
    _visible(as_json, USERNAME=username, enterprise=enterprise)
    password = read_secret_line("password", as_json)
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


@admin.command("add-platform")
def add_platform(
    platform_id: str,
    name: str = typer.Option(..., "--name"),
    enterprise: list[str] = typer.Option(
        [], "--enterprise", help="A payer enterprise registered with it (repeatable)."
    ),
    as_json: bool = JSON,
) -> None:
    """Register an upstream platform for its payer enterprises; its API key is shown once,
    now (only its digest is stored)."""
    _visible(as_json, PLATFORM_ID=platform_id, name=name, enterprise=enterprise)
    deps = context.deps()
    try:
        platform, api_key = platforms_of(deps).add(
            platform_id, name, enterprise, lambda e: deps.directory.enterprise(e) is not None
        )
    except DirectoryError as err:
        fail(str(err), as_json)
    emit(
        {
            "platform_id": platform.platform_id,
            "name": platform.name,
            "enterprises": sorted(platform.enterprises),
            "api_key": api_key,
        },
        as_json,
    )
    if not as_json:
        console.print(
            "[yellow]Give the api_key to the platform now; it is not shown again.[/yellow]"
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


@admin.command("secrets")
def admin_secrets(
    out: Path = typer.Option(Path("secrets"), "--out", help="Folder to write the files to."),
    force: bool = typer.Option(
        False, "--force", help="Replace existing files (every sealed record then fails)."
    ),
    as_json: bool = JSON,
) -> None:
    """Generate every key and password of a deployment, one file each (mode 0600): the
    session secret, the TOTP and audit key rings, the stage signing keys, the database and
    broker passwords, as docker-compose.yml's secrets read them. Needs no Redis."""
    from services.cli.secret_files import SecretFilesRefused, write_secret_files

    try:
        paths = write_secret_files(out, overwrite=force)
    except (SecretFilesRefused, OSError) as err:
        fail(str(err), as_json)
    emit({"dir": str(out.resolve()), "files": sorted(p.name for p in paths)}, as_json)


@admin.command("add-webhook")
def add_webhook(
    platform: str,
    url: str,
    events: list[str] = typer.Option(
        [], "--events", help="Routing-key pattern, e.g. 'payment.*' (repeatable; default)."
    ),
    as_json: bool = JSON,
) -> None:
    """Register a platform's webhook endpoint; its signing secret is shown once, now."""
    from services.cli.webhooks import add_endpoint

    add_endpoint(context.deps(), platform, url, events, as_json)
