"""Worker processes of one system under test: started with their own log files, stopped with
SIGTERM (they finish what they hold), killed only if they do not stop in time."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import IO


class Workers:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []
        self._logs: list[IO[bytes]] = []

    def start(self, name: str, module_args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        self.names.append(name)
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", *module_args], env=self.env, stdout=log, stderr=log
            )
        )

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    @property
    def by_name(self) -> dict[str, int]:
        return {name: p.pid for name, p in zip(self.names, self.processes, strict=True)}

    def dead(self) -> list[str]:
        """The command lines of workers that have exited."""
        return [str(p.args) for p in self.processes if p.poll() is not None]

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self._logs:
            log.close()
        self.processes, self._logs, self.names = [], [], []
