"""``b2bpay worker STAGE…``: the composition root of a worker process.

Each stage can run alone, as many processes as ops want; ``query`` runs the event projector
instead of a dramatiq consumer.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from wsgiref.simple_server import WSGIServer

import dramatiq
import structlog
from prometheus_client.registry import CollectorRegistry

from services.audit.auditor import Auditor, audit_log_of
from services.intake.intake import Intake
from services.query.projector import Projector
from services.query.readmodel import ReadModel, make_engine
from services.relay.relay import Relay
from services.sweeper.sweeper import sweep_forever
from services.webhooks.run import run_webhooks
from shared.app.actor import Handler, stage_actor
from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import SettingsError, load_settings
from shared.domain.stages import Stage
from shared.logging import configure_logging
from shared.messaging.broker import declare_up_front
from shared.messaging.routes import ROUTES, SIGNING_STAGES, Route, routes_of
from shared.metrics.exporter import (
    count_messages,
    payments_collector,
    serve_metrics,
    system_collector,
)
from shared.redis.deployment import DeploymentMismatch, check_authorizer_otp
from shared.security.keyneeds import KeyNeed, MissingKeys, worker_needs
from shared.security.keyring import KeyRingError
from shared.security.signing import SigningKeyError, StageSigner

#: What ``b2bpay worker`` can run, in the order it lists them.
STAGES: tuple[Stage, ...] = tuple(Stage)
log = structlog.get_logger()


def _supervise(stages: list[str], processes: int, threads: int, metrics_port: int | None) -> int:
    argv = [
        sys.executable,
        "-m",
        "services.cli.main",
        "worker",
        *stages,
        "--processes",
        "1",
        "--threads",
        str(threads),
    ]
    # Each child serves its own /metrics: one port cannot be bound twice, so child i takes
    # the configured port + i (its counters are its own; Prometheus sums the targets).
    children = [
        subprocess.Popen(
            argv if metrics_port is None else [*argv, "--metrics-port", str(metrics_port + i)]
        )
        for i in range(processes)
    ]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


def handler_of(route: Route) -> Handler:
    """The function a route names (``module:function``): the routes table lives in
    ``shared/``, which never imports ``services/``, so the worker looks the handler up."""
    module, _, name = route.handler.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def start_stages(deps: Deps, stages: list[str], threads: int) -> dramatiq.Worker | None:
    """Register the stages' actors and start one dramatiq worker for their queues."""
    queues: set[str] = set()
    for route in ROUTES:
        if route.stage in stages:
            stage_actor(deps.broker, deps, handler_of(route), route.queue, route.actor)
            queues.add(route.queue)
    if not queues:
        return None
    worker = dramatiq.Worker(deps.broker, queues=queues, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker


def run(stages: list[str], processes: int, threads: int, metrics_port: int | None = None) -> int:
    """Run ``stages``; ``metrics_port`` overrides ``B2BPAY_METRICS_PORT``."""
    try:
        settings = load_settings()
        if metrics_port is not None:
            settings = settings.model_copy(update={"metrics_port": metrics_port})
        if processes > 1:
            return _supervise(stages, processes, threads, settings.metrics_port)
        configure_logging(settings.log_format, settings.log_level)
        deps = bootstrap(settings, needs=worker_needs(stages))
        check_can_start(deps, stages)
        # RabbitMQ: connect and declare every queue now; unreachable is said plainly (exit 4).
        declare_up_front(deps.broker)
    except (SettingsError, MissingKeys, DeploymentMismatch, SigningKeyError, KeyRingError) as e:
        # A clear line naming the setting, not a traceback; never any key material.
        sys.stderr.write(f"error: {e}\n")
        return 2
    # A worker that needs no signing key holds a stand-in that refuses every use.
    if isinstance(deps.signer, StageSigner) and deps.signer.development:
        log.warning("stage signing keys are development keys kept in Redis; configure keys")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    read_model = ReadModel(make_engine(settings.database_url)) if Stage.QUERY in stages else None
    metrics_server = start_metrics(deps, stages, read_model)
    worker = start_stages(deps, stages, threads)
    projector_thread = None
    if read_model is not None:
        projector = Projector(
            deps.redis,
            deps.keys,
            read_model,
            claim_idle_ms=settings.query_claim_idle_ms,
            faults=deps.faults,
        )
        projector_thread = threading.Thread(
            target=projector.run, args=(stop,), name="projector", daemon=True
        )
        projector_thread.start()
    auditor_thread = None
    if Stage.AUDIT in stages:
        auditor = Auditor(
            deps.redis, deps.keys, audit_log_of(deps), claim_idle_ms=settings.audit_claim_idle_ms
        )
        auditor_thread = threading.Thread(
            target=auditor.run, args=(stop,), name="auditor", daemon=True
        )
        auditor_thread.start()
    sweeper_thread = None
    if Stage.SWEEPER in stages:
        sweeper_thread = threading.Thread(
            target=sweep_forever, args=(deps, stop), name="sweeper", daemon=True
        )
        sweeper_thread.start()
    webhooks_thread = None
    if Stage.WEBHOOKS in stages:
        webhooks_thread = threading.Thread(
            target=run_webhooks, args=(deps, stop), name="webhooks", daemon=True
        )
        webhooks_thread.start()
    relay_thread = None
    if Stage.RELAY in stages:
        relay = Relay(
            deps.redis, deps.keys, settings.amqp_url, claim_idle_ms=settings.relay_claim_idle_ms
        )
        relay_thread = threading.Thread(target=relay.run, args=(stop,), name="relay", daemon=True)
        relay_thread.start()
    intake_threads = []
    if Stage.INTAKE in stages:
        # One consumer per thread, each on a connection of its own, one message at a time.
        for n in range(threads):
            intake = Intake(
                deps,
                settings.amqp_url,
                wait_seconds=settings.intake_wait_seconds,
                name=f"intake-{os.getpid()}-{n}",
            )
            intake_threads.append(
                threading.Thread(target=intake.run, args=(stop,), name=f"intake-{n}", daemon=True)
            )
            intake_threads[-1].start()
    log.info("worker started", stages=stages, pid=os.getpid(), threads=threads)
    failed = False
    _say_alive(settings.health_file)
    while not stop.wait(1.0):
        watched = (
            projector_thread,
            sweeper_thread,
            auditor_thread,
            webhooks_thread,
            relay_thread,
            *intake_threads,
        )
        if any(t is not None and not t.is_alive() for t in watched):
            log.error("a worker thread died; stopping")
            failed = True
            stop.set()
        else:
            _say_alive(settings.health_file)
    log.info("worker stopping", stages=stages)
    if worker is not None:
        # Lets in-flight messages finish; unstarted prefetched ones go back to the queue.
        worker.stop(timeout=30_000)
    for thread in (
        projector_thread,
        sweeper_thread,
        auditor_thread,
        webhooks_thread,
        relay_thread,
        *intake_threads,
    ):
        if thread is not None:
            thread.join(timeout=10)
    if metrics_server is not None:
        metrics_server.shutdown()
    return 1 if failed else 0


def _say_alive(health_file: Path | None) -> None:
    """Touch the file ``b2bpay health`` reads (a container's health check)."""
    if health_file is None:
        return
    try:
        # Never through a symlink (planted in /tmp, it would create any file we may write).
        fd = os.open(health_file, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.utime(fd)
        finally:
            os.close(fd)
    except OSError as error:  # a health check failing is the right outcome
        log.warning("cannot touch the health file", error=f"{type(error).__name__}")


def start_metrics(deps: Deps, stages: list[str], read_model: ReadModel | None) -> WSGIServer | None:
    """Serve this process's ``/metrics`` when ``B2BPAY_METRICS_PORT`` is set (see
    :mod:`shared.metrics.exporter` for which process serves what); None otherwise."""
    settings = deps.settings
    if settings.metrics_port is None:
        return None
    registry = CollectorRegistry()
    if any(routes_of(stage) for stage in stages):
        count_messages(deps.broker, registry, stages)
    if Stage.SWEEPER in stages:
        registry.register(system_collector(settings))
    if read_model is not None:
        registry.register(payments_collector(settings, read_model.status_counts))
    server = serve_metrics(registry, settings.metrics_host, settings.metrics_port)
    log.info("metrics served", host=settings.metrics_host, port=settings.metrics_port)
    return server


def check_can_start(deps: Deps, stages: list[str]) -> None:
    """Refuse to start a worker that would fail later: a signing stage without its own
    private key, or a mode of the authorizer's code other than the deployment's."""
    unsigned = [s for s in stages if s in SIGNING_STAGES and not deps.signer.can_sign(s)]
    if unsigned:
        # Better now than a hand-off that can never be signed, retried for ever.
        log.error("no private signing key for these stages", stages=unsigned)
        raise MissingKeys(
            f"B2BPAY_SIGNING_KEY_{s.upper()} (or {s}.key in B2BPAY_SIGNING_KEYS_DIR)"
            for s in unsigned
        )
    if KeyNeed.TOTP in worker_needs(stages):
        check_authorizer_otp(
            deps.redis, deps.keys, deps.directory.totp_keys, str(deps.settings.authorizer_otp)
        )
