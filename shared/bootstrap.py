"""The composition root: builds every real dependency of a process from its settings.

Nothing connects at import time; a process calls :func:`bootstrap` once, and tests may pass
their own Redis client (a real one on a test database, or fakeredis for the demo).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar, cast

import redis
from dramatiq.middleware import Retries

from shared.app.deps import Deps
from shared.config import Settings
from shared.domain.states import PaymentStatus
from shared.messaging import broker as queues
from shared.redis.clearing import SimulatedClearing
from shared.redis.deadletter import DeadLetters, KeepFailedMessages
from shared.redis.directory import Directory
from shared.redis.faults import FaultPoints
from shared.redis.keys import Keys
from shared.redis.lease import Leases
from shared.redis.otp import OtpVerifier
from shared.redis.server_keys import session_key, stage_signer, totp_key_ring
from shared.redis.sessions import Sessions
from shared.redis.store import PaymentStore
from shared.redis.throttle import LoginThrottle
from shared.security.keyneeds import KeyNeed, MissingKeys, Unconfigured, require
from shared.security.session_tokens import SessionSigner

T = TypeVar("T")


def _keyed(build: Callable[[], T]) -> T:
    """What ``build`` makes, or, when a key it needs is not configured (and this is not
    development mode), a stand-in that refuses every use with :class:`MissingKeys`."""
    try:
        return build()
    except MissingKeys as missing:
        return cast(T, Unconfigured(missing))


def bootstrap(
    settings: Settings,
    client: redis.Redis | None = None,
    directory: Directory | None = None,
    needs: Iterable[KeyNeed] = (),
) -> Deps:
    """Every dependency of a process. Refuses (:class:`MissingKeys`) unless the keys of
    ``needs`` are configured or ``settings.dev_mode`` is set; any other key the process
    turns out to use and lacks is refused at that use, never generated."""
    require(settings, needs)
    client = client if client is not None else redis.Redis.from_url(settings.redis_url)
    keys = Keys(settings.prefix)
    configured = (
        settings.session_secret.get_secret_value().encode() if settings.session_secret else None
    )
    totp = settings.totp_keys.get_secret_value() if settings.totp_keys else None
    # With no separate broker URL the queues live in the same Redis as the payments.
    broker = queues.build_broker(settings, client if not settings.broker_url else None)
    deadletters = DeadLetters(client, keys, settings.dead_letters_max_per_queue)
    # Before Retries in the list: dramatiq runs "after" hooks in reverse, so this one sees
    # the message after Retries has decided it failed for good.
    broker.add_middleware(KeepFailedMessages(deadletters), before=Retries)
    if queues.sets_aside_undecodable(broker):
        # Redis or RabbitMQ: a body that is no message is kept as its size and hash.
        broker.on_undecodable = lambda queue, message_id, body: _keep_undecodable(
            deadletters, queue, message_id, body
        )
    dev = settings.dev_mode
    people = directory or Directory(client, keys)
    people.use_totp_keys(_keyed(lambda: totp_key_ring(client, keys, totp, dev)))
    return Deps(
        settings=settings,
        redis=client,
        keys=keys,
        store=PaymentStore(
            client,
            keys,
            deadlines_of(settings),
            refusal_cap=settings.refusal_events_per_window,
            refusal_window_seconds=settings.refusal_window_seconds,
        ),
        directory=people,
        sessions=_keyed(
            lambda: Sessions(
                client,
                keys,
                SessionSigner(
                    session_key(client, keys, configured, dev), settings.session_ttl_seconds
                ),
                settings.session_idle_seconds,
            )
        ),
        otp=OtpVerifier(client, keys, settings.otp_max_failures, settings.otp_valid_window),
        logins=LoginThrottle.from_settings(client, keys, settings),
        signer=_keyed(lambda: stage_signer(client, keys, settings)),
        clearing=SimulatedClearing(client, keys),
        leases=Leases(client, keys.prefix),
        deadletters=deadletters,
        faults=FaultPoints(client, keys, settings.fault_hooks),
        broker=broker,
    )


def deadlines_of(settings: Settings) -> dict[PaymentStatus, float]:
    return {
        PaymentStatus.REQUESTED: settings.deadline_requested_seconds,
        PaymentStatus.OTP_VERIFIED: settings.deadline_otp_verified_seconds,
        PaymentStatus.PENDING_REVIEW: settings.deadline_pending_review_seconds,
        PaymentStatus.PENDING_AUTH: settings.deadline_pending_auth_seconds,
    }


def _keep_undecodable(deadletters: DeadLetters, queue: str, message_id: str, body: bytes) -> None:
    deadletters.add_undecodable(queue, message_id, "undecodable: not a dramatiq message", body)
