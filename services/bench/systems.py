"""What a system under test offers the bench: start its workers, drive payments through
them (all at once, or at a rate), stop. :mod:`services.bench.chain` is the bare dramatiq
chain; :mod:`services.bench.pipeline` is b2bpay."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from services.bench.trace import Trace


class SystemUnderTest(ABC):
    #: "baseline" or "b2bpay".
    name: str

    @abstractmethod
    def start(self) -> None:
        """Start the workers and see one unit through them (they are ready, and warm)."""

    @abstractmethod
    def pids(self) -> list[int]: ...

    @abstractmethod
    def named_pids(self) -> dict[str, int]:
        """Each worker process by name (its stage, or its hops)."""

    @abstractmethod
    def drive(self, count: int, rate: float | None, timeout: float) -> list[Trace]:
        """Send ``count`` units (all at once, or ``rate`` per second) and follow them until
        each finished or ``timeout`` seconds passed; one trace each."""

    @abstractmethod
    def stop(self) -> None: ...


def submit_paced(
    count: int, rate: float | None, submit: Callable[[int], None], stop: threading.Event
) -> threading.Thread:
    """A thread calling ``submit(0..count-1)``, as fast as it can or ``rate`` per second."""

    def run() -> None:
        began = time.monotonic()
        for i in range(count):
            if stop.is_set():
                return
            if rate is not None:
                delay = began + i / rate - time.monotonic()
                if delay > 0:
                    # Pacing the load generator, not waiting on the system under test.
                    stop.wait(delay)
            submit(i)

    thread = threading.Thread(target=run, name="bench-submit", daemon=True)
    thread.start()
    return thread
