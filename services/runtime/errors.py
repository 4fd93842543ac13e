"""Why the engine cannot start or reach what it needs, said plainly: which setting or key is
missing, or that Redis or the message broker is unreachable. Shared by ``python -m
services.runtime`` and every server-side command of the CLI (:mod:`services.cli.main`).

Nothing is imported until an error is explained: a people's command of the CLI never loads
the engine (redis, dramatiq, keys).
"""

from __future__ import annotations

import sys

#: Exit codes, as every b2bpay command uses them (:mod:`services.cli.output`): a setting or
#: key is missing or wrong; Redis or the broker is unreachable.
BAD_INPUT, UNAVAILABLE = 2, 4


def explained(error: Exception) -> tuple[str, int] | None:
    """The message and exit code for ``error`` if it is one of the engine's missing settings
    or unreachable services; None for anything else (a bug: its traceback is shown)."""
    if "shared.config" not in sys.modules:
        # The engine was never loaded (a people's command): none of these can have happened.
        return None
    import redis
    from dramatiq.errors import BrokerConnectionError

    from shared.config import SettingsError
    from shared.redis.deployment import DeploymentMismatch
    from shared.security.keyneeds import MissingKeys
    from shared.security.keyring import KeyRingError
    from shared.security.signing import SigningKeyError

    settings = (SettingsError, MissingKeys, DeploymentMismatch, SigningKeyError, KeyRingError)
    if isinstance(error, settings):
        # Which setting, plainly: never a traceback or key material.
        return str(error), BAD_INPUT
    if isinstance(error, redis.RedisError):
        # Nothing was decided: say so plainly (never a traceback with a token in argv).
        told = f"Redis is not reachable ({type(error).__name__}); nothing was changed"
        return told, UNAVAILABLE
    if isinstance(error, BrokerConnectionError):
        # RabbitMQ (B2BPAY_BROKER_URL=amqp://…): its host and vhost at most, never the URL.
        from shared.messaging.rabbitmq import BrokerUnreachable

        told = (
            str(error)
            if isinstance(error, BrokerUnreachable)
            else f"the message broker is not reachable ({type(error).__name__})"
        )
        return f"{told}; nothing was changed", UNAVAILABLE
    return None
