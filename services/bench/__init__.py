"""``b2bpay bench``: b2bpay against a bare dramatiq chain of the same hop count, in one run."""
