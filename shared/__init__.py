"""The common library of b2bpay: domain, message contracts, adapters, broker, config, logging."""
