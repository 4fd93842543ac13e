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
    "worker": "services.cli.worker:worker",
    "serve": "services.cli.operators:serve",
    "health": "services.cli.operators:health",
    "demo": "services.cli.newcomers:demo",
    "bench": "services.bench.command:bench",
    "schema": "services.cli.newcomers:schema",
    "challenge": "services.cli.payments:challenge",
    "top": "services.cli.top:top",
}
#: Every group of commands (server-side, operators'), as "module:typer_app".
GROUPS: dict[str, str] = {
    "admin": "services.cli.admin:admin",
    "dlq": "services.cli.operators:dlq",
    "query": "services.cli.operators:query",
    "stream": "services.cli.operators:stream",
    "audit": "services.cli.operators:audit",
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
    # Imports nothing of the engine: a people's command never loads it.
    from services.runtime.errors import explained

    return explained(error)


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
