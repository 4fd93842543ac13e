"""Audit service: chains every status event into the tamper-evident audit log
(run with ``b2bpay worker audit``; check with ``b2bpay audit verify``)."""
