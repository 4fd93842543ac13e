"""A platform's webhook receiver for tests: a real HTTP server on a free local port, in a
thread, that records what it is sent and answers as the test scripts it."""

from __future__ import annotations

import socket
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each POST with the next scripted status (then ``then``); ``hang=True`` makes
    it never answer until :meth:`close`."""

    def __init__(self, *statuses: int, then: int = 200, hang: bool = False) -> None:
        self.received: list[Received] = []
        self._script = deque(statuses)
        self._then = then
        self._hang = hang
        self._released = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner._lock:
                    owner.received.append(Received(dict(self.headers.items()), body))
                    status = owner._script.popleft() if owner._script else owner._then
                if owner._hang:
                    owner._released.wait(60)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/b2bpay"

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.received]

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


def refusing_url() -> str:
    """A local URL where nothing listens: every connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"
