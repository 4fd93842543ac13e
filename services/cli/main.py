"""``b2bpay``: administer, act as applicant/reviewer/authorizer, query, run workers, demo."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup
from typer.main import get_command, get_group

from services.cli.output import BAD_INPUT, UNAVAILABLE

if TYPE_CHECKING:
    from typer._click.core import Command, Context

#: Every command, by name, in the order ``b2bpay --help`` lists them, as "module:function".
#: Nothing is imported until its command runs: the people's commands are thin clients of the
#: HTTP API and must not load the engine (redis, dramatiq, keys) to send one request.
COMMANDS: dict[str, str] = {
    "login": "services.cli.people:login",
    "logout": "services.cli.people:logout",
    "otp": "services.cli.people:otp",
    "submit": "services.cli.payments:submit",
    "review": "services.cli.payments:review",
    "authorize": "services.cli.payments:authorize",
    "cancel": "services.cli.payments:cancel",
    "confirm": "services.cli.payments:confirm",
    "status": "services.cli.queries:status",
    "list": "services.cli.queries:list_payments",
    "events": "services.cli.queries:events",
    "worker": "services.cli.operations:worker",
    "serve": "services.cli.operations:serve",
    "health": "services.cli.operations:health",
    "demo": "services.cli.operations:demo",
    "bench": "services.bench.command:bench",
    "schema": "services.cli.operations:schema",
    "challenge": "services.cli.payments:challenge",
    "top": "services.cli.top:top",
}
#: Every group of commands (server-side, operators'), as "module:typer_app".
GROUPS: dict[str, str] = {
    "admin": "services.cli.admin:admin",
    "dlq": "services.cli.ops:dlq",
    "query": "services.cli.ops:query",
    "stream": "services.cli.ops:stream",
    "audit": "services.cli.operations:audit",
    "webhooks": "services.cli.webhooks:webhooks",
}


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class LazyGroup(TyperGroup):
    """Builds a command from :data:`COMMANDS` or :data:`GROUPS` only when it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *GROUPS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in COMMANDS:
            single = typer.Typer(add_completion=False)
            command: Callable[..., Any] = _load(COMMANDS[cmd_name])
            single.command(cmd_name)(command)
            return get_command(single)
        if cmd_name in GROUPS:
            group = get_group(_load(GROUPS[cmd_name]))
            group.name = cmd_name
            return group
        return None


app = typer.Typer(cls=LazyGroup, no_args_is_help=True, add_completion=False, help=__doc__)


@app.callback()
def _root() -> None:
    # A callback makes typer build a group (not a single command) from an app whose commands
    # all come from LazyGroup.
    pass


def _explained(error: Exception) -> tuple[str, int] | None:
    """A server-side command's missing setting or unreachable Redis, said plainly."""
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


def main() -> None:
    try:
        app()
    except Exception as error:
        explained = _explained(error)
        if explained is None:
            raise
        message, code = explained
        if "--json" in sys.argv:
            sys.stdout.write(json.dumps({"error": message}) + "\n")
        else:
            sys.stderr.write(f"error: {message}\n")
        raise SystemExit(code) from None


if __name__ == "__main__":
    main()
