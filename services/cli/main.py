"""``b2bpay``: administer, act as applicant/reviewer/authorizer, query, run workers, demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import redis
import typer

from services.cli import operations, payments, people, queries
from services.cli.admin import admin
from services.cli.ops import dlq, query, stream
from services.cli.output import BAD_INPUT, UNAVAILABLE
from services.cli.webhooks import webhooks
from shared.config import SettingsError
from shared.security.deployment import DeploymentMismatch
from shared.security.keyneeds import MissingKeys
from shared.security.keyring import KeyRingError
from shared.security.signing import SigningKeyError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

#: Every command, by name, in the order ``b2bpay --help`` lists them.
COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("login", people.login),
    ("logout", people.logout),
    ("otp", people.otp),
    ("submit", payments.submit),
    ("review", payments.review),
    ("authorize", payments.authorize),
    ("cancel", payments.cancel),
    ("confirm", payments.confirm),
    ("status", queries.status),
    ("list", queries.list_payments),
    ("events", queries.events),
    ("worker", operations.worker),
    ("serve", operations.serve),
    ("demo", operations.demo),
    ("schema", operations.schema),
    ("challenge", payments.challenge),
)
#: Every group of commands, by name, in the order ``b2bpay --help`` lists them.
GROUPS: tuple[tuple[str, typer.Typer], ...] = (
    ("admin", admin),
    ("dlq", dlq),
    ("query", query),
    ("stream", stream),
    ("audit", operations.audit),
    ("webhooks", webhooks),
)
for name, command in COMMANDS:
    app.command(name)(command)
for name, group in GROUPS:
    app.add_typer(group, name=name)


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
