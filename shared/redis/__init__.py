"""Adapters on Redis: the key space, the payment store (and its Lua), the directory of banks,
enterprises and users, dead letters, leases, consumer groups, trimming, the clearing simulator."""
