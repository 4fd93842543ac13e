"""The parties to a payment and their rules (no I/O): banks, payer enterprises, their people
and the platforms that ask for payments. Each rule is written once, here:

- who may pay, through which bank, from which account (:meth:`Enterprise.check_can_pay`),
  and which banks the pay page offers (:meth:`Enterprise.payable_banks`);
- who sees a payment: a person, only their enterprise's (:meth:`Person.sees`); a platform,
  only the payments it created (:meth:`Platform.sees`);
- which payers a platform may ask for (:meth:`Platform.check_payer`).

The Redis adapters (:mod:`shared.redis.reference_data`, :mod:`shared.redis.user_records`,
:mod:`shared.redis.platforms`) only map these to and from their records, and seal them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from shared.domain.errors import ReasonCode, Refusal
from shared.domain.payment import Payment


@dataclass(frozen=True)
class Bank:
    code: str
    name: str
    #: Whether it offers B2B payment (seed step 3): only such a bank is paid through.
    b2b_enabled: bool


def known_payer(enterprise: Enterprise | None) -> Enterprise:
    """Seed step 1: the payer is registered (``unknown_enterprise`` otherwise); what it may
    do is :meth:`Enterprise.check_can_pay`."""
    if enterprise is None:
        raise Refusal(ReasonCode.UNKNOWN_ENTERPRISE, "payer enterprise is not registered")
    return enterprise


@dataclass(frozen=True)
class Enterprise:
    """A payer: whether it may pay online, its B2B bank contracts and its own accounts."""

    enterprise_id: str
    name: str
    #: Whether it may pay online at all (seed step 1).
    eligible: bool
    #: The codes of the banks it holds a B2B contract with.
    banks: tuple[str, ...]
    #: Its own accounts: the only ones it pays from.
    accounts: tuple[str, ...]

    def check_can_pay(self, bank: str | None, record: Bank | None, account: str | None) -> None:
        """Seed steps 1 and 3: the payer may pay online, through a B2B bank it has a contract
        with, from one of its own accounts; a :class:`Refusal` saying which check failed
        (the first, in that order) otherwise.

        ``bank`` is the code of the bank it pays through (None: not chosen yet, nothing to
        check) and ``record`` that bank as registered (None: no such bank); ``account`` the
        account it pays from (None: already checked when the request was taken)."""
        if not self.eligible:
            raise Refusal(ReasonCode.PAYER_NOT_ELIGIBLE, "payer enterprise may not pay online")
        if bank is not None:
            if record is None:
                raise Refusal(ReasonCode.UNKNOWN_BANK, f"bank {bank} is not registered")
            if not record.b2b_enabled:
                raise Refusal(ReasonCode.BANK_NOT_B2B, f"bank {bank} has no B2B payment")
            if bank not in self.banks:
                raise Refusal(ReasonCode.NO_B2B_CONTRACT, f"payer has no B2B contract at {bank}")
        if account is not None and account not in self.accounts:
            raise Refusal(
                ReasonCode.ACCOUNT_NOT_OWNED, "payer account does not belong to the payer"
            )

    def payable_banks(self, named: str | None, bank_of: Callable[[str], Bank | None]) -> list[Bank]:
        """The banks the pay page offers (seed step 3): the B2B-enabled ones it holds a
        contract with; only ``named`` if the platform's request named a bank. ``bank_of``
        looks a bank up (None: not registered)."""
        codes = [named] if named else list(self.banks)
        banks = [bank_of(code) for code in codes if code]
        return [b for b in banks if b is not None and b.b2b_enabled]


class Role(StrEnum):
    """What a person of a payer enterprise does with its payments: one role each, and one
    person never plays two roles on one payment (segregation of duties)."""

    #: Asks for a payment (or takes up a platform's request) and confirms it with a
    #: one-time code; may cancel their own payment before authorization.
    APPLICANT = "applicant"
    #: Approves or rejects a payment someone else applied for.
    REVIEWER = "reviewer"
    #: Approves a reviewed payment for execution (or rejects it) with a one-time code bound
    #: to its amount and payee.
    AUTHORIZER = "authorizer"


#: Every role, in the order they act on a payment.
ROLES: tuple[Role, ...] = tuple(Role)


@dataclass(frozen=True)
class User:
    """A person's account: their enterprise and role, and what they log in with."""

    username: str
    enterprise_id: str
    role: Role
    password_hash: str = field(repr=False)
    #: Decrypted; never stored in plain, never logged.
    totp_secret: str = field(repr=False)
    active: bool = True


class SessionClaims(Protocol):
    """What a person's session says of them (a signed session token's ``Session`` is one):
    the enterprise and role they logged in as."""

    @property
    def enterprise_id(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class Person:
    """Someone authenticated: a live session of an active, unlocked user (only the guard's
    ``identify``, which checks all that, makes one)."""

    user: User
    session: SessionClaims

    def check_role(self, role: str) -> None:
        if self.session.role != role:
            raise Refusal(ReasonCode.WRONG_ROLE, f"this step needs the {role} role")

    def check_enterprise(self, enterprise_id: str) -> None:
        """A person acts only for their own enterprise, as the payer."""
        if self.session.enterprise_id != enterprise_id:
            raise Refusal(
                ReasonCode.WRONG_ENTERPRISE, "the user does not belong to the payer enterprise"
            )

    @property
    def scope(self) -> str:
        """The payer whose payments this person sees (their own enterprise): what a query
        of many payments filters on."""
        return self.user.enterprise_id

    def sees(self, payment: Payment) -> bool:
        """A person sees only their enterprise's payments; any other is told as missing."""
        return self.sees_payer(payment.content.enterprise_id)

    def sees_payer(self, enterprise_id: str | None) -> bool:
        """:meth:`sees`, of what names only its payer (a read-model row, a status event)."""
        return enterprise_id == self.scope


@dataclass(frozen=True)
class Platform:
    """A registered platform (the upstream marketplace of the manual): who it is, and the
    payer enterprises registered with it."""

    platform_id: str
    name: str
    enterprises: frozenset[str]
    #: The RabbitMQ user it publishes to the AMQP intake as (``b2bpay admin platform
    #: amqp-user``); None: it may not publish there.
    amqp_user: str | None = None

    def check_payer(self, enterprise_id: str) -> None:
        """A platform creates payments only for the payers registered with it."""
        if enterprise_id not in self.enterprises:
            raise Refusal(
                ReasonCode.PAYER_NOT_REGISTERED,
                "the payer enterprise is not registered with this platform",
            )

    def sees(self, payment: Payment) -> bool:
        """A platform sees only the payments it created; any other is told as missing."""
        return payment.platform_id == self.platform_id
