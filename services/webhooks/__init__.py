"""The webhooks worker: follows the events stream, records a delivery per matching endpoint
of the payment's platform, and POSTs them signed, retried, in order per payment."""
