"""Settings every process of a deployment must agree on, recorded in Redis by the first.

Today one: ``B2BPAY_AUTHORIZER_OTP``. One worker started with ``totp`` where the deployment
runs ``ocra`` would silently turn dynamic linking off for the payments it happens to take, so
the first worker records the mode (``SET NX``) and every later one must have the same. The
record carries a MAC under a key derived from the TOTP key ring (not in Redis), so a Redis
writer cannot flip it either. What it does not prevent: a Redis writer deleting the record,
after which the next worker started records its own mode (the mode of a correctly configured
worker, unless that one is misconfigured too).
"""

from __future__ import annotations

import redis

from shared.domain.errors import B2bpayError
from shared.redis.keys import Keys
from shared.redis.replies import as_text
from shared.security.keyring import KeyRing

#: HKDF info of the MAC key of the recorded mode: distinct from the user-record MAC.
AUTHORIZER_OTP_PURPOSE = b"b2bpay.deployment.authorizer-otp.v1"


class DeploymentMismatch(B2bpayError):
    """Raised when a process's setting differs from the one recorded for the deployment, or
    the record fails its integrity check; the process must not start."""


def _sealed(ring: KeyRing, mode: str) -> str:
    return f"{mode}|{ring.seal_mac(AUTHORIZER_OTP_PURPOSE, mode.encode())}"


def check_authorizer_otp(client: redis.Redis, keys: Keys, ring: KeyRing, mode: str) -> None:
    """Record ``mode`` if this is the deployment's first worker; refuse
    (:class:`DeploymentMismatch`) a different recorded mode or a record that does not
    verify."""
    client.set(keys.recorded_authorizer_otp, _sealed(ring, mode), nx=True)
    stored = client.get(keys.recorded_authorizer_otp)
    recorded, _, mac = as_text(stored or b"").partition("|")
    if not ring.check_mac(AUTHORIZER_OTP_PURPOSE, recorded.encode(), mac):
        raise DeploymentMismatch(
            "the B2BPAY_AUTHORIZER_OTP recorded for this deployment fails its integrity check "
            "(changed in Redis, or sealed under a key B2BPAY_TOTP_KEYS no longer holds)"
        )
    if recorded != mode:
        raise DeploymentMismatch(
            f"B2BPAY_AUTHORIZER_OTP is {mode!r} here but {recorded!r} for this deployment; "
            "every worker must use the deployment's mode"
        )


def reseal_authorizer_otp(client: redis.Redis, keys: Keys, ring: KeyRing) -> bool:
    """Seal the recorded mode again under the current key (at TOTP key rotation); False if
    nothing is recorded. A record that does not verify is refused, never re-sealed."""
    stored = client.get(keys.recorded_authorizer_otp)
    if stored is None:
        return False
    recorded, _, mac = as_text(stored).partition("|")
    if not ring.check_mac(AUTHORIZER_OTP_PURPOSE, recorded.encode(), mac):
        raise DeploymentMismatch(
            "the B2BPAY_AUTHORIZER_OTP recorded for this deployment fails its integrity check"
        )
    client.set(keys.recorded_authorizer_otp, _sealed(ring, recorded))
    return True
