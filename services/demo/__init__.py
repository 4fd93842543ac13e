"""``b2bpay demo``: the whole flow, end to end, in one process."""
