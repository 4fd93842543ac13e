"""Log lines never carry a message's secrets, whoever writes them."""

from __future__ import annotations

import io
import logging

import dramatiq
from dramatiq.broker import MessageProxy

from shared.logging import configure_logging


def _failed_message() -> dramatiq.Message:  # type: ignore[type-arg]
    return dramatiq.Message(
        queue_name="pending-auth",
        actor_name="decide_authorization",
        args=({"payment_id": "pay_1", "session": "v1.SECRET-TOKEN.sig", "otp": "493817"},),
        kwargs={},
        options={},
    )


def test_dramatiq_failure_lines_show_the_actor_and_message_id_but_not_the_arguments() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        configure_logging("json", "INFO", stream=out)
        message = _failed_message()
        logger = logging.getLogger("dramatiq.worker.WorkerThread")
        logger.error("Failed to process message %s with unhandled exception.", message)
        logger.warning("Message %s was skipped.", MessageProxy(message))
    finally:
        for handler in root.handlers:
            root.removeHandler(handler)
        root.handlers = saved
    text = out.getvalue()
    assert f"decide_authorization(message_id={message.message_id})" in text
    assert text.count("decide_authorization") == 2
    assert "SECRET-TOKEN" not in text
    assert "493817" not in text


def test_structlog_redacts_keys_that_name_a_secret() -> None:
    import structlog

    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)
    structlog.get_logger().info("login", username="alice", password="hunter22", otp="123456")
    text = out.getvalue()
    assert "alice" in text
    assert "hunter22" not in text and "123456" not in text


def test_log_lines_and_dead_letters_take_the_same_names_for_secrets() -> None:
    import structlog

    from shared.redis.deadletter import REMOVED, strip_secrets

    fields = {
        "session_token": "v1.TOKEN.sig",
        "auth_code": "AUTHCODE77",
        "ClientSecret": "s3cr3t-value",
        "reason_code": "wrong_role",
        "bank_code": "B2BBANK",
    }
    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)
    structlog.get_logger().info("refused", **fields)
    text = out.getvalue()
    kept = strip_secrets(fields)
    for name, value in fields.items():
        assert (value in text) == (kept[name] != REMOVED), name
    assert "wrong_role" in text and "B2BBANK" in text


def test_pika_connection_failures_are_left_to_the_one_line_that_reports_them() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        configure_logging("json", "INFO", stream=out)
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError:
            logging.getLogger("pika.adapters.blocking_connection").exception("Connection failed")
        logging.getLogger("pika.connection").critical("pika gave up")
        logging.getLogger("dramatiq.worker.ConsumerThread(apply)").critical("connection error")
    finally:
        for handler in root.handlers:
            root.removeHandler(handler)
        root.handlers = saved
    text = out.getvalue()
    assert "Connection failed" not in text and "Traceback" not in text
    assert "pika gave up" in text
    assert "connection error" in text
