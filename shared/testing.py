"""Test support, shipped on purpose: the one builder of a world of banks, enterprises and
people, and what those people's tokens show. The unit, integration and fault tests and the
demo (:mod:`services.demo`) build their worlds with it.

Sessions are issued straight from the session signer, as a login would (the login path itself
has its own tests); codes are computed from the enrolled secrets, as the person's token would.
Nothing here belongs in a server process: it holds every person's TOTP secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from argon2 import PasswordHasher

from shared.app.deps import Deps
from shared.domain.parties import Role, User
from shared.security.linking import authorizer_code
from shared.security.totp import code_for


def cheap_hasher(memory_cost: int = 1024) -> PasswordHasher:
    """argon2 at a cost that lets a world of hundreds of people be seeded in seconds; real
    users (``b2bpay admin add-user``) get argon2id's defaults."""
    return PasswordHasher(time_cost=1, memory_cost=memory_cost, parallelism=1)


class World:
    """Reference data and people on one set of dependencies.

    ``clock`` is the moment the people's tokens read (a test's hand-moved clock); without
    one, the real time."""

    def __init__(self, deps: Deps, clock: Callable[[], float] | None = None) -> None:
        self.deps = deps
        self.clock = clock
        #: Everyone enrolled through this world, by username.
        self.people: dict[str, User] = {}

    # -- reference data ------------------------------------------------------------------
    def bank(self, code: str, name: str, b2b_enabled: bool = True) -> None:
        self.deps.directory.add_bank(code, name, b2b_enabled)

    def enterprise(
        self,
        enterprise_id: str,
        name: str,
        banks: Iterable[str],
        accounts: Iterable[str],
        eligible: bool = True,
    ) -> None:
        self.deps.directory.add_enterprise(
            enterprise_id, name, list(banks), list(accounts), eligible
        )

    def enrol(self, username: str, enterprise_id: str, role: Role | str, password: str) -> User:
        """A new user with a TOTP token of their own."""
        user, _uri = self.deps.directory.add_user(username, enterprise_id, role, password)
        self.people[username] = user
        return user

    # -- what the people hold ------------------------------------------------------------
    def user(self, who: User | str) -> User:
        return who if isinstance(who, User) else self.people[who]

    def session(self, who: User | str) -> str:
        """A fresh session token of the person, as ``b2bpay login`` would print it."""
        user = self.user(who)
        return self.deps.sessions.issue(user.username, user.enterprise_id, user.role)[0]

    def code(self, who: User | str, at: float | None = None) -> str:
        """The one-time code the person's token shows at ``at`` (default: the world's now)."""
        return code_for(self.user(who).totp_secret, self._at(at))

    def auth_code(self, payment_id: str, who: User | str, at: float | None = None) -> str:
        """What the authorizer's token shows for this payment: the code answering its
        challenge (a plain code in totp mode, or for a payment that does not exist)."""
        payment = self.deps.store.get(payment_id)
        if payment is None:
            return self.code(who, at)
        mode = self.deps.settings.authorizer_otp
        return authorizer_code(mode, self.user(who).totp_secret, payment, self._at(at))

    def _at(self, at: float | None) -> float | None:
        if at is not None:
            return at
        return self.clock() if self.clock is not None else None
