"""Structlog, configured once per process: JSON lines off a terminal, console on one.

Secrets never reach a log line: messages carry ``SecretStr`` fields, and the redaction
processor below drops any key that names a secret (:mod:`shared.security.secret_names`,
the same list the dead letters use), as a second line of defence.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from shared.domain.errors import TransientError
from shared.security.secret_names import is_secret_name


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if is_secret_name(key):
            event[key] = "[redacted]"
    return event


def configure_logging(fmt: str = "auto", level: str = "INFO", stream: Any = None) -> None:
    """Call once at the entrypoint, before anything logs."""
    out = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    common: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[*common, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    # dramatiq logs through the standard library: the same renderer and context (stage,
    # message_id, payment_id), at warning and above, with message arguments hidden.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[*common, structlog.stdlib.add_logger_name],
        )
    )
    handler.addFilter(HideMessageArguments())
    handler.addFilter(QuietRetries())
    handler.addFilter(QuietPika())
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


_OURS = "_b2bpay_handler"


class QuietRetries(logging.Filter):
    """A transient fault (a lost race, a held lease, settlement pending) is retried by
    design: one warning line, not an error with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TransientError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = f"{record.msg} Will retry: {type(error).__name__}: {error}"
            record.exc_info, record.exc_text = None, None
        return True


class QuietPika(logging.Filter):
    """pika (RabbitMQ's client, ``B2BPAY_BROKER_URL=amqp://…``) logs one failed connection as
    a dozen error lines with tracebacks, and then raises the same failure, which dramatiq (a
    consumer's connection error, a publish retried) or b2bpay (an unreachable RabbitMQ at a
    worker's start) says in one line of its own: pika's own lines are not shown, unless
    critical."""

    def filter(self, record: logging.LogRecord) -> bool:
        from_pika = record.name == "pika" or record.name.startswith("pika.")
        return not from_pika or record.levelno >= logging.CRITICAL


class HideMessageArguments(logging.Filter):
    """dramatiq prints a failed message as ``actor(args…)``, and our messages carry session
    tokens and one-time codes: show the actor and message id instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_safe(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _safe(arg) for key, arg in record.args.items()}
        return True


def _safe(arg: Any) -> Any:
    if isinstance(arg, dramatiq.Message | MessageProxy):
        return f"{arg.actor_name}(message_id={arg.message_id})"
    return arg


class LogContext(Middleware):
    """Clears the log context and binds ``stage`` and ``message_id`` for every message."""

    def __init__(self, stage_of_queue: dict[str, str]) -> None:
        self._stage_of_queue = stage_of_queue

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            stage=self._stage_of_queue.get(message.queue_name, message.queue_name),
            message_id=message.message_id,
        )

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
