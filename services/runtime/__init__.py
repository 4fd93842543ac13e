"""The worker runtime: what one ``b2bpay worker STAGE…`` process runs, without the CLI.

- :mod:`~services.runtime.process`: :func:`~services.runtime.process.run`, one process (or N,
  through :mod:`~services.runtime.supervisor`) from start to a clean stop;
- :mod:`~services.runtime.consumers`: the queue stages, dramatiq actors from the routes table;
- :mod:`~services.runtime.followers`: the stages that run as loops in threads, one row each
  (how to add a follower is said there);
- :mod:`~services.runtime.needs`: the keys each stage needs, and the checks before starting;
- :mod:`~services.runtime.metrics`, :mod:`~services.runtime.health`: what the process tells
  its operator (``/metrics``, the health file);
- :mod:`~services.runtime.errors`: why the engine cannot start, said plainly.

``b2bpay worker`` (:mod:`services.cli.worker`) parses its options and calls
:func:`~services.runtime.process.run`; ``python -m services.runtime`` does the same without
the CLI (the supervisor's children, the bench). The demo starts the queue stages in its own
process with :func:`~services.runtime.consumers.start_stages`.
"""
