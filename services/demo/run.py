"""``b2bpay demo``: the whole flow, end to end, in one process.

Without ``--redis`` every stage runs on an embedded Redis (fakeredis with Lua) and an SQLite
read model in a temporary folder; with ``--redis URL`` the same runs on a real server under a
key prefix of its own, deleted afterwards. People are simulated
(:mod:`services.demo.scenario`); the report is :mod:`services.demo.report`.
"""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.audit.auditor import Auditor, audit_log_of
from services.demo.report import report
from services.demo.scenario import Demo
from services.query.projector import Projector
from services.query.readmodel import ReadModel, make_engine
from services.runtime.consumers import start_stages
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.domain.contracts import StatusEvent
from shared.logging import configure_logging
from shared.messaging.routes import QUEUE_STAGES
from shared.redis.directory import Directory
from shared.redis.keys import Keys
from shared.testing import cheap_hasher

DEADLINE_SECONDS = 300


@dataclass(frozen=True)
class Serve:
    """Keep serving after the demo (``--serve``): where."""

    host: str
    port: int


def run_demo(
    payments: int,
    redis_url: str | None,
    threads: int,
    as_json: bool,
    serve: Serve | None = None,
) -> int:
    console = Console(stderr=as_json)
    workdir = Path(tempfile.mkdtemp(prefix="b2bpay-demo-"))
    prefix = f"b2bpay-demo-{secrets.token_hex(3)}:"
    settings = Settings(
        redis_url=redis_url or "redis://embedded",
        # The demo's queues stay on its Redis, whatever B2BPAY_BROKER_URL says.
        broker_url="",
        prefix=prefix,
        database_url=f"sqlite:///{workdir / 'read.db'}",
        session_secret=SecretStr(secrets.token_hex(32)),
        log_format="json",
        log_level="WARNING",
        # The demo runs on its own throwaway prefix: generated keys in Redis are fine here.
        dev_mode=True,
    )
    configure_logging("json", "WARNING", stream=open(workdir / "demo.log", "w"))  # noqa: SIM115
    if redis_url:
        client: redis.Redis = redis.Redis.from_url(redis_url)
        where = f"Redis at {redis_url} (prefix {prefix})"
    else:
        import fakeredis

        client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        where = "embedded Redis (fakeredis with Lua)"
    # Demo users get a cheap argon2 cost so seeding hundreds of desks takes seconds; the real
    # `admin add-user` uses argon2id's defaults.
    deps = bootstrap(settings, client, Directory(client, Keys(prefix), cheap_hasher()))
    console.rule("[bold]b2bpay demo")
    console.print(
        "Stages: apply, review, authorize, interbank, query, audit — "
        f"on {where}; read model {workdir / 'read.db'}"
    )
    demo = Demo(deps, console, payments)
    try:
        return _run(demo, settings, threads, as_json, console, serve)
    finally:
        if redis_url:
            stem = prefix.rstrip(":")
            for key in client.scan_iter(match=f"{stem}*", count=1000):
                client.delete(key)


def _run(
    demo: Demo,
    settings: Settings,
    threads: int,
    as_json: bool,
    console: Console,
    serve: Serve | None = None,
) -> int:
    deps = demo.deps
    t0 = time.monotonic()
    demo.seed()
    seeded = time.monotonic() - t0
    console.print(
        "Seeded 3 banks, 2 enterprises (one not eligible), "
        f"{len(demo.users)} users in {seeded:.1f} s"
    )
    worker = start_stages(deps, [s.value for s in QUEUE_STAGES], threads)
    assert worker is not None
    model = ReadModel(make_engine(settings.database_url))
    projector = Projector(deps.redis, deps.keys, model)
    stop = threading.Event()
    projector_thread = threading.Thread(target=projector.run, args=(stop, 100), daemon=True)
    projector_thread.start()
    audit = audit_log_of(deps)
    auditor = Auditor(deps.redis, deps.keys, audit)
    auditor_thread = threading.Thread(target=auditor.run, args=(stop, 100), daemon=True)
    auditor_thread.start()
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks = {
        "apply": progress.add_task("apply: code verified", total=demo.n),
        "review": progress.add_task("review: decided", total=demo.n),
        "authorize": progress.add_task("authorize: decided", total=demo.n),
        "interbank": progress.add_task("interbank: settled", total=demo.n),
    }
    counted: set[tuple[str, str]] = set()
    started = time.monotonic()
    submitter = threading.Thread(target=demo.submit_all, daemon=True)
    try:
        with progress:
            submitter.start()
            while time.monotonic() - started < DEADLINE_SECONDS:
                for event in demo.pump_events():
                    if event.kind == "transition" and event.payment_id in demo.plans:
                        _count(progress, tasks, counted, event)
                if not submitter.is_alive() and all(p.final for p in demo.plans.values()):
                    break
        elapsed = time.monotonic() - started
        submitter.join(timeout=5)
        # Let the late refusals and the read model catch up with what happened.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            len(demo.refused_commands) < len(demo.expected_refusals)
            or deps.redis.xpending(deps.keys.events, "query")["pending"]
            or model.count_events() < deps.redis.xlen(deps.keys.events)
            or audit.audited() < deps.redis.xlen(deps.keys.events)
        ):
            demo.pump_events()
        code = report(demo, model, elapsed, as_json, console, audit)
        if serve is not None:
            _serve(demo, model, serve, console)
    finally:
        stop.set()
        worker.stop(timeout=10_000)
        projector_thread.join(timeout=5)
        auditor_thread.join(timeout=5)
    return code


def _serve(demo: Demo, model: ReadModel, where: Serve, console: Console) -> None:
    """The API and the screens on the demo's embedded stages, until interrupted."""
    import uvicorn

    from services.api.app import create_app
    from services.api.dependencies import Api
    from services.demo.serve import prepare, tell

    shown = prepare(demo)
    app = create_app(Api(deps=demo.deps, views=lambda: model, wait_seconds=10))
    tell(console, demo, shown, f"http://{where.host}:{where.port}")
    uvicorn.run(
        app, host=where.host, port=where.port, log_level="warning", timeout_graceful_shutdown=3
    )


#: Which stage's bar a transition advances, and which later bars it takes a payment off.
_PROGRESS = {
    ("otp_verified", "apply"): ("apply", ()),
    ("pending_auth", "review"): ("review", ()),
    ("rejected", "review"): ("review", ("authorize", "interbank")),
    ("authorized", "authorize"): ("authorize", ()),
    ("rejected", "authorize"): ("authorize", ("interbank",)),
    ("settled", "interbank"): ("interbank", ()),
    ("failed", "interbank"): ("interbank", ()),
}


def _count(
    progress: Progress, tasks: dict[str, Any], counted: set[tuple[str, str]], event: StatusEvent
) -> None:
    found = _PROGRESS.get((event.status or "", event.stage))
    if found is None or (found[0], event.payment_id) in counted:
        return
    stage, leaves = found
    counted.add((stage, event.payment_id))
    progress.advance(tasks[stage])
    for later in leaves:
        task = next(t for t in progress.tasks if t.id == tasks[later])
        progress.update(tasks[later], total=(task.total or 1) - 1)
