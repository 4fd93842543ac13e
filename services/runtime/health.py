"""The worker's sign of life: the file ``b2bpay health`` reads (a container's health check)."""

from __future__ import annotations

import os
from pathlib import Path

import structlog

log = structlog.get_logger()


def say_alive(health_file: Path | None) -> None:
    """Touch ``health_file`` (nothing when it is not configured)."""
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
