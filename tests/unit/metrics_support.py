"""A process's whole ``/metrics`` page built from real handler outcomes on fakeredis, for
the tests of what it exposes and of the alert rules that read it."""

from __future__ import annotations

from prometheus_client import generate_latest

from services.apply.handlers import handle_payment_request
from shared.messaging import routes
from shared.metrics.collectors import (
    PaymentsCollector,
    StatusCount,
    SystemCollector,
    new_registry,
)
from shared.metrics.messages import MessageMetrics
from shared.metrics.system import RedisQueueProbe, read_system
from tests.unit.support import World, wrong_code


def metrics_exposition(world: World) -> tuple[str, list[str]]:
    """Every collector of a process, fed by real handler outcomes (accepted and refused,
    with a real person's session and codes) and real dead letters holding secrets."""
    deps = world.deps
    registry = new_registry()
    messages = MessageMetrics(registry)
    secrets_seen: list[str] = []
    good = world.request()
    bad = world.request(
        request_id="req-2",
        order_id="ORD-2",
        otp=wrong_code(world.applicant.totp_secret, world.clock()),
    )
    for message in (good, bad):
        secrets_seen += [message["session"], message["otp"], message["request_id"]]
        outcome = handle_payment_request(message, deps)
        secrets_seen.append(outcome.payment_id)
        messages.observe(
            "apply", routes.APPLY_PAYMENT, outcome, raised=False, given_up=False, seconds=0.004
        )
    # A sender's garbage on a queue, kept as a dead letter (its secret field stripped there).
    deps.deadletters.add(routes.PENDING_REVIEW, "decide_review", "m-1", "invalid", bad)
    deps.dispatch(routes.PENDING_AUTH, routes.DECIDE_AUTHORIZATION, {"session": bad["session"]})
    # A reader of the events stream that has read nothing yet.
    deps.redis.xgroup_create(deps.keys.events, "relay", id="0")
    messages.observe(
        "interbank",
        routes.SUBMIT_TO_CLEARING,
        None,
        raised=True,
        given_up=True,
        seconds=0.2,
    )
    probe = RedisQueueProbe(deps.redis, deps.settings.queue_namespace(), clock=world.clock)
    registry.register(
        SystemCollector(lambda: read_system(deps.redis, deps.keys, probe, routes.QUEUES))
    )
    registry.register(
        PaymentsCollector(
            lambda: {"pending_review": StatusCount(1, world.clock() - 5)},
            {"pending_review": 86_400.0},
            world.clock,
        )
    )
    secrets_seen += ["alice", "bob", "carol", "alice-password", world.applicant.totp_secret]
    return generate_latest(registry).decode(), secrets_seen
