"""What a process's handlers are given: every dependency, built once by the composition root
(:func:`shared.bootstrap.bootstrap`) at the entrypoint. Handlers and adapters import this type,
never the composition root itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dramatiq
import redis

from shared.config import Settings
from shared.messaging import broker as queues
from shared.redis.clearing import ClearingAdapter
from shared.redis.deadletter import DeadLetters
from shared.redis.directory import Directory
from shared.redis.faults import FaultPoints
from shared.redis.keys import Keys
from shared.redis.lease import Leases
from shared.redis.otp import OtpVerifier
from shared.redis.platforms import Platforms
from shared.redis.sessions import Sessions
from shared.redis.store import PaymentStore
from shared.redis.throttle import LoginThrottle
from shared.security.signing import StageSigner


@dataclass
class Deps:
    settings: Settings
    redis: redis.Redis
    keys: Keys
    store: PaymentStore
    directory: Directory
    sessions: Sessions
    otp: OtpVerifier
    #: Failed logins per username and per client, shared by every process.
    logins: LoginThrottle
    #: Signs what this process's stages hand on; verifies what the stage before handed on.
    signer: StageSigner
    clearing: ClearingAdapter
    leases: Leases
    deadletters: DeadLetters
    faults: FaultPoints
    broker: dramatiq.Broker

    def dispatch(self, queue: str, actor_name: str, payload: dict[str, Any]) -> str:
        return queues.send(self.broker, queue, actor_name, payload)


def platforms_of(deps: Deps) -> Platforms:
    """The platform records of this installation, sealed under its TOTP key ring."""
    return Platforms(deps.redis, deps.keys, lambda: deps.directory.totp_keys)
