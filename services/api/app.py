"""The HTTP API's application, and its composition root for ``b2bpay serve``.

:func:`create_app` takes what the routes use (tests pass their own); :func:`serve` builds it
once from the settings (:func:`shared.bootstrap.bootstrap`) and runs it on uvicorn.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.api import commands, events, health, metrics, payments, problems, sessions
from services.api.dependencies import Api
from shared.config import Settings

#: The API's version, as /openapi.json shows it (paths are under /v1).
API_VERSION = "1"


def create_app(api: Api) -> FastAPI:
    app = FastAPI(
        title="b2bpay",
        version=API_VERSION,
        description="B2B bank payments: sessions, payments and their decisions, live events. "
        "Every refusal is an RFC 9457 problem document with a `reason_code`.",
        responses=problems.PROBLEM_RESPONSES,
    )
    app.state.api = api
    problems.install(app)
    for module in (sessions, payments, commands, events, health, metrics):
        app.include_router(module.router)
    # The people's screens (/pay/, /bank/) beside the API, on the same application client.
    from services.web.mount import mount

    mount(app, api)
    return app


def build(settings: Settings) -> FastAPI:
    """The composition root of the server process: every dependency, built once."""
    from services.query.readmodel import ReadModel, make_engine
    from shared.bootstrap import bootstrap
    from shared.metrics.collectors import new_registry
    from shared.metrics.exporter import payments_collector, system_collector
    from shared.security.keyneeds import KeyNeed

    # It logs people in and checks sessions and user records; it signs nothing.
    deps = bootstrap(settings, needs=(KeyNeed.SESSION, KeyNeed.TOTP))
    read_model = ReadModel(make_engine(settings.database_url))
    token = settings.metrics_token
    return create_app(
        Api(
            deps=deps,
            views=lambda: read_model,
            wait_seconds=settings.http_wait_seconds,
            metrics=new_registry(
                system_collector(settings),
                payments_collector(settings, read_model.status_counts),
            ),
            metrics_token=token.get_secret_value() if token is not None else None,
        )
    )


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the API until interrupted."""
    import uvicorn

    uvicorn.run(
        build(settings),
        host=host,
        port=port,
        # Only the named proxies may say the client's address and that it came over TLS;
        # none are named unless B2BPAY_FORWARDED_ALLOW_IPS says so.
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),
        forwarded_allow_ips=settings.forwarded_allow_ips.strip() or None,
        # Open event streams would otherwise hold a shutdown for ever.
        timeout_graceful_shutdown=3,
    )
