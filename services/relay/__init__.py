"""Relay service: publishes every status event to the AMQP topic exchange ``b2bpay.events``
(run with ``b2bpay worker relay``)."""
