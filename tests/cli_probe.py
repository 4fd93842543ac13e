"""Runs ``b2bpay`` as a person would, and records what the process did: every socket address
it connected to and every module it loaded, written as JSON to the file named first.

    python tests/cli_probe.py OUT.json login alice --password-stdin
"""

from __future__ import annotations

import atexit
import json
import socket
import sys

connects: list[str] = []
_connect = socket.socket.connect


def _recording(self: socket.socket, address: object) -> None:
    connects.append(repr(address))
    _connect(self, address)  # type: ignore[arg-type]


socket.socket.connect = _recording  # type: ignore[method-assign]
out, sys.argv = sys.argv[1], ["b2bpay", *sys.argv[2:]]


@atexit.register
def _record() -> None:
    with open(out, "w") as f:
        json.dump({"connects": connects, "modules": sorted(sys.modules)}, f)


from services.cli.main import main  # noqa: E402  (after the socket is watched)

main()
