"""Security: sessions, one-time codes (TOTP, OCRA) and dynamic linking, stage signatures, key
rings, the audit chain, login throttling, what people are told about refusals."""
