"""The ``b2bpay`` command line: an entrypoint only; business rules live in the handlers."""
