"""``b2bpay admin platform …``: what an operator sets on a registered platform after
``admin add-platform``: the RabbitMQ user it publishes to the AMQP intake as."""

from __future__ import annotations

import re

import typer

from services.cli import context
from services.cli.options import JSON
from services.cli.output import emit, fail
from shared.app.deps import platforms_of
from shared.domain.errors import Refusal
from shared.redis.platforms import REPLY_QUEUE_PREFIX
from shared.redis.reference_data import DirectoryError

platform = typer.Typer(no_args_is_help=True, help="A registered platform's settings.")


@platform.command("amqp-user")
def amqp_user(platform_id: str, user: str, as_json: bool = JSON) -> None:
    """Let PLATFORM_ID publish payment requests to the AMQP intake (queue b2bpay.requests)
    as the RabbitMQ user USER: a v2 request is accepted only with that message user_id,
    which RabbitMQ checks against the connection's user. Replaces an earlier user."""
    try:
        changed = platforms_of(context.deps()).set_amqp_user(platform_id, user)
    except DirectoryError as err:
        fail(str(err), as_json)
    except Refusal:
        fail(f"no platform {platform_id!r} (or its record fails its integrity check)", as_json)
    own = f"^{re.escape(REPLY_QUEUE_PREFIX + user)}$"
    emit(
        {
            "platform_id": changed.platform_id,
            "amqp_user": changed.amqp_user,
            # The only queue the intake answers this user on.
            "reply_queue": REPLY_QUEUE_PREFIX + user,
            # Its own reply queue only: with ^reply-.* it could read other platforms' verdicts.
            "rabbitmq_permissions": {
                "configure": own,
                "write": r"^b2bpay\.requests$",
                "read": own,
            },
        },
        as_json,
    )
