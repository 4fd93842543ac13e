"""Adapters on Redis: the key space, the payment store (and its Lua), the directory of banks,
enterprises and users, sessions, one-time-code state, login throttles, the audit chain, the
server keys kept in development, dead letters, leases, consumer groups, trimming, the clearing
simulator."""
