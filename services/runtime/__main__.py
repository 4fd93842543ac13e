"""``python -m services.runtime STAGE… [--processes N] [--threads N] [--metrics-port P]``: a
worker without the CLI (the supervisor's children, the bench). ``b2bpay worker`` is the
same with the CLI's help and checks (:func:`services.cli.worker.worker`)."""

from __future__ import annotations

import argparse
import sys

from services.runtime.errors import explained
from services.runtime.process import STAGES, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.runtime")
    parser.add_argument("stages", nargs="+", choices=[str(s) for s in STAGES], metavar="STAGE")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--metrics-port", type=int, default=None)
    options = parser.parse_args(argv)
    if options.processes < 1 or options.threads < 1:
        parser.error("--processes and --threads are at least 1")
    try:
        return run(options.stages, options.processes, options.threads, options.metrics_port)
    except Exception as error:
        told = explained(error)
        if told is None:
            raise
        message, code = told
        sys.stderr.write(f"error: {message}\n")
        return code


if __name__ == "__main__":
    sys.exit(main())
