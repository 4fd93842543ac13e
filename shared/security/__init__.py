"""Security, the pure part: key rings and sealing, session tokens, one-time codes (TOTP, OCRA)
and dynamic linking, stage signatures, the audit chain's MACs, which keys a process needs,
what people are told about refusals. No Redis: the stores these work with (sessions,
one-time-code state, login throttles, the audit chain) are adapters in :mod:`shared.redis`."""
