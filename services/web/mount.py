"""Wiring the web screens into the API's application (:func:`services.api.app.create_app`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.api.dependencies import Api
from services.web import bank, decide, pay, progress
from services.web.pages import Answered, SecurityHeaders, Web, answered

#: The screens' routers, each a module's ``router``.
SCREENS = (pay.router, progress.router, bank.router, decide.router)


def mount(app: FastAPI, api: Api) -> None:
    app.state.web = Web(api)
    for router in SCREENS:
        app.include_router(router)
    # A form's preamble (CSRF token, session, pay link) answers by raising this.
    app.add_exception_handler(Answered, answered)
    static = Path(str(resources.files("services.web").joinpath("static")))
    app.mount("/static/web", StaticFiles(directory=static), name="web-static")

    app.add_middleware(SecurityHeaders)
