"""Typed settings, read from ``B2BPAY_*`` environment variables, and from files.

Only this module reads the environment; every process builds :class:`Settings` once at its
entrypoint and hands it to its composition root.

Keys belong in files, not in the environment (which ``docker inspect``, ``/proc/<pid>/environ``
and crash reporters show): with ``B2BPAY_SECRETS_DIR`` (e.g. ``/run/secrets``, where compose
mounts its ``secrets:``) every setting may be a file of that folder named like its variable,
``B2BPAY_SESSION_SECRET``, ``B2BPAY_TOTP_KEYS``, ``B2BPAY_SIGNING_KEY_APPLY`` … holding the
value (surrounding whitespace dropped). A variable set in the environment wins over its file.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.errors import B2bpayError


class SettingsError(B2bpayError):
    """Raised when a ``B2BPAY_*`` setting is invalid or out of bounds; names the setting,
    never its value (it may be a key)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="B2BPAY_", extra="ignore")

    #: Redis holding payment state, queues and the events stream.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Broker URL of the stages' queues; empty means "the same Redis as redis_url". An
    #: ``amqp://`` (or ``amqps://``) URL runs them on RabbitMQ, in the URL's vhost
    #: (:mod:`shared.messaging.rabbitmq`); Redis keeps the state, events and sessions.
    broker_url: str = ""
    #: Every Redis key and queue namespace of this installation starts with this.
    prefix: str = "b2bpay:"
    #: SQLAlchemy URL of the query service's read model.
    database_url: str = Field(default_factory=lambda: f"sqlite:///{Path('.b2bpay/read.db')}")
    #: HMAC key for session tokens. Unset: a random key is generated once and kept in Redis,
    #: which is only acceptable for development (anyone with Redis access could forge tokens).
    session_secret: SecretStr | None = None
    #: Lifetime of a session token, in seconds, however active the session is.
    session_ttl_seconds: int = 900
    #: A session ends after this many seconds without a successful use (PSD2 RTS Art.
    #: 4(3)(d) allows at most 5 minutes of inactivity).
    session_idle_seconds: int = Field(default=300, gt=0, le=300)
    #: Key ring for TOTP secrets at rest (AES-256-GCM): ``kid1:<base64 of 32 bytes>,kid2:...``;
    #: the first key encrypts, every key decrypts. Unset: a key is generated once and kept in
    #: Redis, which is only acceptable for development (anyone with Redis access could
    #: decrypt the secrets).
    totp_keys: SecretStr | None = None
    #: Stage signing keys (Ed25519, :mod:`shared.security.signing`): a folder written by ``b2bpay
    #: admin keys`` holding every stage's ``<stage>.pub`` and the ``<stage>.key`` of the
    #: stages this process runs. None of the signing settings set: a key pair per stage is
    #: generated once and kept in Redis, which is only acceptable for development (anyone
    #: with Redis access could then sign as every stage).
    signing_keys_dir: Path | None = None
    #: Every stage's public key, ``apply:<base64>,review:<base64>,...`` (instead of the
    #: ``.pub`` files).
    signing_public_keys: str | None = None
    #: A stage's private key (PEM, or base64 of the 32-byte seed), instead of its ``.key``
    #: file; give each process only the keys of the stages it runs.
    signing_key_apply: SecretStr | None = None
    signing_key_review: SecretStr | None = None
    signing_key_authorize: SecretStr | None = None
    signing_key_interbank: SecretStr | None = None
    #: Consecutive failed one-time codes after which a user is locked. Bounded: more than 10
    #: guesses would give a code guesser real odds (PSD2 RTS Art. 4(3)(b) asks for a low
    #: number), and 0 would lock nobody.
    otp_max_failures: int = Field(default=5, ge=1, le=10)
    #: Failed logins for one username (known or not) within ``login_window_seconds`` after
    #: which its logins are refused ``rate_limited`` for ``login_lockout_seconds``.
    login_max_failures: int = Field(default=5, ge=1, le=20)
    #: The same for one client (the HTTP API's remote address; the CLI's host): higher, as
    #: many people may log in from one place, but it stops guessing across usernames.
    login_client_max_failures: int = Field(default=20, ge=1, le=1000)
    #: Failed logins older than this (counted from the first of a run) are forgotten.
    login_window_seconds: int = Field(default=900, ge=60, le=86_400)
    #: How long logins stay refused once a threshold is passed.
    login_lockout_seconds: int = Field(default=900, ge=60, le=86_400)
    #: Accepted clock drift, in 30-second TOTP steps on either side.
    otp_valid_window: int = Field(default=1, ge=0, le=1)
    #: The authorizer's one-time code: "ocra" binds it to the payment's amount, currency and
    #: payee (dynamic linking, :mod:`shared.security.linking`); "totp" is a plain time-based code.
    authorizer_otp: Literal["ocra", "totp"] = "ocra"
    #: HMAC-SHA-256 key ring of the audit chain, ``kid1:<base64 of 32 bytes>,kid2:...``; the
    #: first key extends the chain, every key verifies. Unset: a key is generated once and
    #: kept in Redis, which is only acceptable for development (anyone with Redis access
    #: could then rewrite the chain undetected).
    audit_keys: SecretStr | None = None
    #: An audit consumer silent this long is presumed dead and its entries taken over (ms).
    audit_claim_idle_ms: int = 30_000
    #: How long ``submit``/``review``/``authorize``/``cancel`` wait for the stage's verdict.
    wait_seconds: float = 10.0
    #: How long the HTTP API (``b2bpay serve``) waits for a stage's verdict before it answers
    #: 202 with the command's URL.
    http_wait_seconds: float = Field(default=10.0, gt=0, le=60)
    #: ``b2bpay serve`` behind a TLS-terminating proxy: the proxies' addresses (comma-separated,
    #: or ``*``) whose ``X-Forwarded-Proto`` and ``X-Forwarded-For`` are believed, so the pages
    #: know they are served over HTTPS (the session cookie is then ``Secure``) and throttle
    #: logins by the client's address. Empty (the default): nobody's, not even loopback's —
    #: any local process could otherwise claim a fresh address for every login attempt.
    forwarded_allow_ips: str = ""
    #: A worker that has not sent a heartbeat for this long is considered dead and its
    #: messages are requeued (milliseconds). Dramatiq's default is 60 s.
    heartbeat_timeout_ms: int = 15_000
    #: Chance, per million broker calls, of running queue maintenance (requeue of dead
    #: workers' messages). Dramatiq's default of 1,000 is far too rare for payments.
    maintenance_chance: int = 50_000
    #: How long a payment may wait in each status before it expires (seconds); in
    #: ``requested``, a platform's request (PaymentRequest v2) awaits its applicant.
    deadline_requested_seconds: float = 86_400
    deadline_otp_verified_seconds: float = 86_400
    deadline_pending_review_seconds: float = 86_400
    deadline_pending_auth_seconds: float = 86_400
    #: How often the sweeper looks for payments past their deadline (seconds).
    sweep_interval_seconds: float = 1.0
    #: How long dramatiq keeps its own copy of a failed message (milliseconds). The copy
    #: holds whatever secrets the message carried; ours in the dead-letter queue does not.
    dead_message_ttl_ms: int = 60_000
    #: The lease one interbank worker holds on a payment while it talks to clearing
    #: (milliseconds). Renewed in the background while the call lasts; a killed holder
    #: blocks others no longer than this.
    clearing_lease_ms: int = Field(default=15_000, ge=100)
    #: Events younger than this stay in the events stream even once every consumer group
    #: has read and acknowledged them (seconds); older ones are trimmed by the sweeper.
    events_retention_seconds: float = Field(default=604_800, ge=0)
    #: How often the sweeper trims the events stream (seconds).
    events_trim_interval_seconds: float = Field(default=60, gt=0)
    #: Dead letters kept per queue; beyond it the oldest are dropped, with a
    #: ``dead letters over cap`` warning and a count (``b2bpay dlq list``).
    dead_letters_max_per_queue: int = Field(default=10_000, ge=1)
    #: A query consumer silent this long is presumed dead and its entries taken over (ms).
    query_claim_idle_ms: int = 30_000
    #: Webhooks: a delivery not accepted (2xx) is retried for this long from its first
    #: attempt, then kept as failed (``b2bpay webhooks replay`` sends it again).
    webhook_retry_hours: float = Field(default=24, gt=0, le=24 * 14)
    #: The first retry waits about this long (seconds); each next one twice as long
    #: (with jitter), at most an hour.
    webhook_backoff_seconds: float = Field(default=5, gt=0, le=3600)
    #: One webhook POST may take this long (seconds) before it counts as failed.
    webhook_timeout_seconds: float = Field(default=5, gt=0, le=60)
    #: POSTs the webhooks worker makes at once; one endpoint gets at most a quarter of them.
    webhook_threads: int = Field(default=8, ge=1, le=256)
    #: A webhooks consumer silent this long is presumed dead and its entries taken over (ms).
    webhook_claim_idle_ms: int = 30_000
    #: RabbitMQ that ``b2bpay worker relay`` publishes the status events to (topic exchange
    #: ``b2bpay.events``).
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    #: How long the AMQP intake waits for the apply stage's verdict on a request whose
    #: message has ``reply_to``, before it answers ``queued`` (seconds).
    intake_wait_seconds: float = Field(default=10.0, gt=0, le=60)
    #: A relay consumer silent this long is presumed dead and its entries taken over (ms).
    relay_claim_idle_ms: int = 30_000
    #: Refusals naming a payment that does not exist, and refusals of anyone not (yet) known
    #: as a person of the payer, are recorded as events at most this many times per payment
    #: id and per claimed actor in each window; beyond that they are only counted (the
    #: sender still gets its verdict), so garbage cannot grow the events stream for ever.
    refusal_events_per_window: int = Field(default=20, ge=1, le=10_000)
    #: The window of ``refusal_events_per_window`` (seconds).
    refusal_window_seconds: int = Field(default=3600, ge=1, le=86_400)
    #: Port of this process's Prometheus ``/metrics`` (``b2bpay worker``); unset: none. A
    #: worker with ``--processes N`` serves its N processes on this port and the N-1 after
    #: it (process i on port + i). ``b2bpay serve`` always serves ``/metrics`` on its own
    #: port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: Address the workers' ``/metrics`` listen on: loopback unless set (``0.0.0.0`` in a
    #: container, where Prometheus scrapes it over the service network).
    metrics_host: str = "127.0.0.1"
    #: When set, ``b2bpay serve``'s ``/metrics`` answers only ``Authorization: Bearer
    #: <this token>`` (compared in constant time): the API faces platforms and browsers,
    #: and payment volumes and refusal rates are nobody else's business. The numbers hold
    #: no secret, payment id or user name either way.
    metrics_token: SecretStr | None = None
    #: ``b2bpay top``: the workers' ``/metrics`` URLs to scrape, comma-separated (the
    #: ``--scrape`` options replace them).
    top_scrape: str = ""
    #: Development only: a process missing a server key (session secret, TOTP, audit or
    #: signing keys) generates it once and keeps it in Redis instead of refusing to start.
    #: Anyone who can read Redis then holds those keys. ``b2bpay demo`` and the tests set it.
    dev_mode: bool = False
    #: A worker touches this file every second while its loops run (and stops when one
    #: died): ``b2bpay health`` reads its age, for a container's health check. Unset: none.
    health_file: Path | None = None
    #: Fault-injection points for the fault suite. Never enable in production.
    fault_hooks: bool = False
    #: Structlog output: "auto" (console on a terminal, JSON otherwise), "json" or "console".
    log_format: str = "auto"
    log_level: str = "INFO"

    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    def queue_namespace(self) -> str:
        return self.prefix.rstrip(":") + "-queues"


#: The variable naming the folder of settings files (see the module's docstring).
SECRETS_DIR_VARIABLE = "B2BPAY_SECRETS_DIR"


def load_settings() -> Settings:
    """The settings from the environment (and the files of ``B2BPAY_SECRETS_DIR``), or a
    :class:`SettingsError` naming each invalid ``B2BPAY_*`` setting and why (for an
    entrypoint to print instead of a traceback); never a value."""
    folder = os.environ.get(SECRETS_DIR_VARIABLE)
    if folder is not None:
        _check_secrets_folder(Path(folder))
    try:
        return Settings(_secrets_dir=folder)  # type: ignore[call-arg]
    except ValidationError as error:
        problems = [
            f"B2BPAY_{'_'.join(str(p) for p in item['loc']).upper()}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        ]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH
#: A group may be given read access on purpose (Kubernetes' fsGroup); every user not.
_READABLE_BY_OTHERS = stat.S_IROTH


def _check_secrets_folder(folder: Path) -> None:
    """Refuse a settings folder, or a ``B2BPAY_*`` file of it, that another local user may
    change (swap a key, or add ``B2BPAY_DEV_MODE``); a read-only mount (Kubernetes' secret
    volumes) changes for nobody. Warn on stderr, naming the file, of a key every local user
    may read. Symlinks are followed (Kubernetes links each file to a ``..data`` folder): what is
    checked is what is read."""
    if not folder.is_dir():
        raise SettingsError(f"{SECRETS_DIR_VARIABLE}: not a folder")
    read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    if not read_only and folder.stat().st_mode & _WRITABLE_BY_OTHERS:
        raise SettingsError(
            f"{SECRETS_DIR_VARIABLE}: {folder} is writable by others: anyone may add a setting "
            "to it (chmod 700 or 750)"
        )
    for path in sorted(folder.iterdir()):
        if not path.name.upper().startswith("B2BPAY_") or not path.is_file():
            continue
        mode = path.stat().st_mode
        if not read_only and mode & _WRITABLE_BY_OTHERS:
            raise SettingsError(
                f"{SECRETS_DIR_VARIABLE}: {path.name} is writable by others (chmod 600)"
            )
        if mode & _READABLE_BY_OTHERS:
            sys.stderr.write(
                f"warning: {SECRETS_DIR_VARIABLE}: {path.name} is readable by others "
                f"(mode {stat.S_IMODE(mode):o}; chmod 600 or 640)\n"
            )
