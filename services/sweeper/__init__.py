"""Sweeper: expires payments past their deadline (run with ``b2bpay worker sweeper``)."""
