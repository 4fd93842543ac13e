"""``b2bpay worker STAGE…``: the composition root of a worker process.

Each stage can run alone, as many processes as ops want; ``query`` runs the event projector
instead of a dramatiq consumer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType

import dramatiq
import structlog

from services.apply import actors as apply_actors
from services.authorize import actors as authorize_actors
from services.interbank import actors as interbank_actors
from services.query.projector import Projector
from services.query.readmodel import ReadModel, make_engine
from services.review import actors as review_actors
from shared import broker as q
from shared.actors import StageActor
from shared.bootstrap import Deps, bootstrap
from shared.config import Settings
from shared.logging import configure_logging

STAGES = ("apply", "review", "authorize", "interbank", "query")
REGISTRARS: dict[str, Callable[[dramatiq.Broker, Deps], list[StageActor]]] = {
    "apply": apply_actors.register,
    "review": review_actors.register,
    "authorize": authorize_actors.register,
    "interbank": interbank_actors.register,
}
QUEUES_OF = {
    "apply": {q.APPLY},
    "review": {q.OTP_VERIFIED, q.PENDING_REVIEW},
    "authorize": {q.PENDING_AUTH},
    "interbank": {q.INTERBANK},
}
log = structlog.get_logger()


def _supervise(stages: list[str], processes: int, threads: int) -> int:
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
    children = [subprocess.Popen(argv) for _ in range(processes)]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


def start_stages(deps: Deps, stages: list[str], threads: int) -> dramatiq.Worker | None:
    """Register the stages' actors and start one dramatiq worker for their queues."""
    queues: set[str] = set()
    for stage in stages:
        if stage in REGISTRARS:
            REGISTRARS[stage](deps.broker, deps)
            queues |= QUEUES_OF[stage]
    if not queues:
        return None
    worker = dramatiq.Worker(deps.broker, queues=queues, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker


def run(stages: list[str], processes: int, threads: int) -> int:
    if processes > 1:
        return _supervise(stages, processes, threads)
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    deps = bootstrap(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    worker = start_stages(deps, stages, threads)
    projector_thread = None
    if "query" in stages:
        projector = Projector(deps.redis, deps.keys, ReadModel(make_engine(settings.database_url)))
        projector_thread = threading.Thread(
            target=projector.run, args=(stop,), name="projector", daemon=True
        )
        projector_thread.start()
    log.info("worker started", stages=stages, pid=os.getpid(), threads=threads)
    while not stop.wait(1.0):
        pass
    log.info("worker stopping", stages=stages)
    if worker is not None:
        # Lets in-flight messages finish; unstarted prefetched ones go back to the queue.
        worker.stop(timeout=30_000)
    if projector_thread is not None:
        projector_thread.join(timeout=10)
    return 0
