"""Builds what a CLI command needs, once per invocation."""

from __future__ import annotations

from functools import lru_cache

from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.config import Settings, load_settings
from shared.logging import configure_logging


@lru_cache(maxsize=1)
def settings() -> Settings:
    s = load_settings()
    configure_logging(s.log_format, "WARNING" if s.log_level.upper() == "INFO" else s.log_level)
    return s


@lru_cache(maxsize=1)
def deps() -> Deps:
    return bootstrap(settings())
