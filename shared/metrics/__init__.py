"""What operators see: the stage workers' message counters and latency (``messages.py``), the
installation's queues, stream readers and dead letters read at scrape time (``system.py``,
``rabbitmq_queues.py``), the scrape-time collectors (``collectors.py``), what each process
exports (``exporter.py``), and reading ``/metrics`` back for ``b2bpay top`` (``scrape.py``)."""
