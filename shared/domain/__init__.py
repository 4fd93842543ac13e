"""The domain: statuses and transitions, the payment's content, reasons and errors, the message
contracts, the parties and their rules. No I/O: nothing here imports redis, dramatiq or the
composition root."""
