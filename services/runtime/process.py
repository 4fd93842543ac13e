"""One worker process from start to a clean stop: ``b2bpay worker STAGE…`` (and ``python -m
services.runtime``). Each stage can run alone, in as many processes as ops want."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

import structlog

from services.runtime.consumers import start_stages
from services.runtime.followers import loops_of
from services.runtime.health import say_alive
from services.runtime.metrics import start_metrics
from services.runtime.needs import check_can_start, worker_needs
from services.runtime.supervisor import supervise
from shared.bootstrap import bootstrap
from shared.config import SettingsError, load_settings
from shared.domain.stages import Stage
from shared.logging import configure_logging
from shared.messaging.broker import declare_up_front
from shared.redis.deployment import DeploymentMismatch
from shared.security.keyneeds import MissingKeys
from shared.security.keyring import KeyRingError
from shared.security.signing import SigningKeyError, StageSigner

#: What a worker can run, in the order ``b2bpay worker`` lists them.
STAGES: tuple[Stage, ...] = tuple(Stage)
log = structlog.get_logger()


def run(stages: list[str], processes: int, threads: int, metrics_port: int | None = None) -> int:
    """Run ``stages`` until SIGTERM or SIGINT (or a follower's end); the exit code.
    ``metrics_port`` overrides ``B2BPAY_METRICS_PORT``."""
    try:
        settings = load_settings()
        if metrics_port is not None:
            settings = settings.model_copy(update={"metrics_port": metrics_port})
        if processes > 1:
            return supervise(stages, processes, threads, settings.metrics_port)
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

    loops = loops_of(deps, stages, threads)
    metrics_server = start_metrics(deps, stages)
    worker = start_stages(deps, stages, threads)
    followers = [
        threading.Thread(target=loop, args=(stop,), name=name, daemon=True) for name, loop in loops
    ]
    for thread in followers:
        thread.start()
    log.info("worker started", stages=stages, pid=os.getpid(), threads=threads)
    failed = False
    say_alive(settings.health_file)
    while not stop.wait(1.0):
        if any(not thread.is_alive() for thread in followers):
            log.error("a worker thread died; stopping")
            failed = True
            stop.set()
        else:
            say_alive(settings.health_file)
    log.info("worker stopping", stages=stages)
    if worker is not None:
        # Lets in-flight messages finish; unstarted prefetched ones go back to the queue.
        worker.stop(timeout=30_000)
    for thread in followers:
        thread.join(timeout=10)
    if metrics_server is not None:
        metrics_server.shutdown()
    return 1 if failed else 0
