"""``b2bpay admin secrets --out DIR``: every key and password a deployment needs, one file
each (mode 0600, in a folder of mode 0700), named as the setting it is (read through
``B2BPAY_SECRETS_DIR``, :mod:`shared.config`) or as docker-compose.yml's ``secrets:`` name
it. Nothing is printed but the file names. Needs no Redis."""

from __future__ import annotations

import base64
import os
import secrets
import stat
import tempfile
from pathlib import Path

from shared.security.signing import public_keys_spec, write_key_pairs

#: Each stage process gets only its own private key; every process every public key.
SIGNING_KEY_FILE = "B2BPAY_SIGNING_KEY_{}"
#: Files for the compose services that are not b2bpay's (postgres, rabbitmq).
POSTGRES_PASSWORD_FILE = "postgres_password"  # noqa: S105 - a file name, not a password
RABBITMQ_CONF_FILE = "rabbitmq.conf"
#: The largest message RabbitMQ accepts (the intake reads at most 64 KiB of it).
RABBITMQ_MAX_MESSAGE_BYTES = 1024 * 1024


class SecretFilesRefused(Exception):
    """Raised when the files are not written; nothing was."""


class SecretFilesExist(SecretFilesRefused):
    """Raised when the folder already holds some of the files (replacing keys would make
    sealed records, audit entries and hand-offs in flight fail)."""


class UnsafeSecretFolder(SecretFilesRefused):
    """Raised when another user could swap the files once written: the folder (a symlink's
    target included) is owned by another user, or group or others may write to it."""


def _check_folder(folder: Path) -> None:
    """Refuse a folder another local user could change (see :class:`UnsafeSecretFolder`);
    make it 0700."""
    st = folder.stat()  # follows a symlink: the folder the files land in is what counts
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeSecretFolder(f"{folder} is not a folder")
    if st.st_uid != os.geteuid():
        raise UnsafeSecretFolder(f"{folder} is owned by uid {st.st_uid}, not this user")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeSecretFolder(
            f"{folder} is writable by others (mode {stat.S_IMODE(st.st_mode):o}): "
            "they could swap the keys; use a folder only you may write to"
        )
    os.chmod(folder, 0o700)


def _key_ring(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def secret_values(
    postgres_host: str = "postgres", rabbitmq_host: str = "rabbitmq"
) -> dict[str, str]:
    """Every file's content, freshly generated."""
    values = {
        "B2BPAY_SESSION_SECRET": secrets.token_hex(32),
        "B2BPAY_TOTP_KEYS": _key_ring("t1"),
        "B2BPAY_AUDIT_KEYS": _key_ring("a1"),
        # The bearer token Prometheus sends to serve's /metrics.
        "B2BPAY_METRICS_TOKEN": secrets.token_hex(32),
    }
    with tempfile.TemporaryDirectory() as scratch:
        pairs = write_key_pairs(Path(scratch))
        values["B2BPAY_SIGNING_PUBLIC_KEYS"] = public_keys_spec(
            {p.stage: p.public_key for p in pairs}
        )
        for pair in pairs:
            values[SIGNING_KEY_FILE.format(pair.stage.upper())] = pair.private_path.read_text()
    database = secrets.token_urlsafe(24)
    values[POSTGRES_PASSWORD_FILE] = database
    values["B2BPAY_DATABASE_URL"] = (
        f"postgresql+psycopg://b2bpay:{database}@{postgres_host}:5432/b2bpay"
    )
    broker = secrets.token_urlsafe(24)
    values[RABBITMQ_CONF_FILE] = (
        f"default_user = b2bpay\ndefault_pass = {broker}\n"
        f"max_message_size = {RABBITMQ_MAX_MESSAGE_BYTES}\n"
    )
    values["B2BPAY_AMQP_URL"] = f"amqp://b2bpay:{broker}@{rabbitmq_host}:5672/%2F"
    return values


def write_secret_files(folder: Path, overwrite: bool = False) -> list[Path]:
    """Write :func:`secret_values` into ``folder``, each file created with mode 0600 (never
    readable by others, not even briefly); existing files only with ``overwrite``."""
    values = secret_values()
    paths = [folder / name for name in values]
    present = [p.name for p in paths if p.exists() or p.is_symlink()]
    if present and not overwrite:
        raise SecretFilesExist(f"{folder} already holds {', '.join(sorted(present))}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_folder(folder)
    for path in paths:
        if path.is_symlink() or path.exists():
            path.unlink()  # a symlink itself, never what it points to
        # O_EXCL: a symlink planted meanwhile fails the call instead of being followed.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # the umask may have narrowed it; never widened
            out.write(values[path.name])
    return paths
