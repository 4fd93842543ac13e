"""The parties' rules (shared.domain.parties), each allowed and refused: who may pay, through
which bank, from which account; which banks the pay page offers; who sees a payment; which
payers a platform may ask for; a person's role and enterprise. Pure: no Redis, no stage."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from shared.domain.content import StoredContent
from shared.domain.errors import ReasonCode, Refusal
from shared.domain.parties import (
    ROLES,
    Bank,
    Enterprise,
    Person,
    Platform,
    Role,
    User,
    known_payer,
)
from shared.domain.payment import Payment
from shared.domain.states import PaymentStatus

B2B = Bank("B2BBANK", "B2B Bank", b2b_enabled=True)
RETAIL = Bank("RETAIL", "Retail Bank", b2b_enabled=False)
OTHER_B2B = Bank("OTHERB2B", "Other B2B Bank", b2b_enabled=True)
BANKS = {b.code: b for b in (B2B, RETAIL, OTHER_B2B)}
ACME = Enterprise("ACME", "Acme Ltd", True, (B2B.code, RETAIL.code), ("ACME-001",))
IDLE = Enterprise("IDLE", "Idle Co", False, (B2B.code,), ("IDLE-001",))


def refusal(check: Callable[..., object], *args: object) -> ReasonCode:
    with pytest.raises(Refusal) as raised:
        check(*args)
    return raised.value.reason_code


def payment(enterprise_id: str | None, platform_id: str | None = None) -> Payment:
    content = StoredContent(
        order_id="ORD-1",
        enterprise_id=enterprise_id,
        payer_account="ACME-001",
        payer_name="Acme Ltd",
        payee_bank_code="PAYEEBANK",
        payee_account="DE0012345678",
        payee_name="Supplier",
        amount="1250.00",
        currency="CNY",
        bank=B2B.code,
    )
    return Payment("pay_1", PaymentStatus.PENDING_REVIEW, 1, content, platform_id=platform_id)


@dataclass(frozen=True)
class Claims:
    enterprise_id: str
    role: str


def person(enterprise_id: str = "ACME", role: Role = Role.APPLICANT) -> Person:
    user = User("alice", enterprise_id, role, "hash", "secret")
    return Person(user, Claims(enterprise_id, role))


# -- who may pay -----------------------------------------------------------------------------
def test_a_registered_payer_is_the_enterprise() -> None:
    assert known_payer(ACME) is ACME


def test_an_unregistered_payer_is_refused() -> None:
    assert refusal(known_payer, None) is ReasonCode.UNKNOWN_ENTERPRISE


def test_an_eligible_payer_pays_through_a_contracted_b2b_bank_from_its_own_account() -> None:
    ACME.check_can_pay(B2B.code, B2B, "ACME-001")


def test_no_bank_chosen_yet_and_an_account_already_checked_leave_nothing_to_refuse() -> None:
    ACME.check_can_pay(None, None, "ACME-001")
    ACME.check_can_pay(B2B.code, B2B, None)


@pytest.mark.parametrize(
    ("enterprise", "code", "account", "reason"),
    [
        (IDLE, B2B.code, "IDLE-001", ReasonCode.PAYER_NOT_ELIGIBLE),
        (ACME, "NOBANK", "ACME-001", ReasonCode.UNKNOWN_BANK),
        (ACME, RETAIL.code, "ACME-001", ReasonCode.BANK_NOT_B2B),
        (ACME, OTHER_B2B.code, "ACME-001", ReasonCode.NO_B2B_CONTRACT),
        (ACME, B2B.code, "IDLE-001", ReasonCode.ACCOUNT_NOT_OWNED),
        (ACME, None, "IDLE-001", ReasonCode.ACCOUNT_NOT_OWNED),
    ],
)
def test_a_payer_that_may_not_pay_so_is_refused_with_its_reason(
    enterprise: Enterprise, code: str | None, account: str, reason: ReasonCode
) -> None:
    record = BANKS.get(code) if code else None
    assert refusal(enterprise.check_can_pay, code, record, account) is reason


def test_the_first_failing_check_is_told_payer_then_bank_then_account() -> None:
    """An ineligible payer with an unknown bank and a stranger's account: told as
    ineligible; an eligible one: the bank before the account."""
    assert refusal(IDLE.check_can_pay, "NOBANK", None, "X") is ReasonCode.PAYER_NOT_ELIGIBLE
    assert refusal(ACME.check_can_pay, "NOBANK", None, "X") is ReasonCode.UNKNOWN_BANK


# -- the banks the pay page offers -----------------------------------------------------------
def test_the_payable_banks_are_the_contracted_b2b_ones() -> None:
    assert ACME.payable_banks(None, BANKS.get) == [B2B]


def test_a_named_bank_is_the_only_one_offered_if_it_offers_b2b() -> None:
    assert ACME.payable_banks(OTHER_B2B.code, BANKS.get) == [OTHER_B2B]
    assert ACME.payable_banks(RETAIL.code, BANKS.get) == []
    assert ACME.payable_banks("NOBANK", BANKS.get) == []


def test_no_contracted_b2b_bank_offers_none() -> None:
    retail_only = Enterprise("SHOP", "Shop", True, (RETAIL.code, "GONE"), ("SHOP-001",))
    assert retail_only.payable_banks(None, BANKS.get) == []


# -- who sees a payment ----------------------------------------------------------------------
def test_a_person_sees_their_enterprises_payments() -> None:
    alice = person("ACME")
    assert alice.sees(payment("ACME"))
    assert alice.sees_payer("ACME")
    assert alice.scope == "ACME"


def test_a_person_does_not_see_another_enterprises_payments() -> None:
    alice = person("ACME")
    assert not alice.sees(payment("OTHER"))
    assert not alice.sees(payment(None))
    assert not alice.sees_payer("OTHER")
    assert not alice.sees_payer(None)


def test_a_platform_sees_the_payments_it_created() -> None:
    market = Platform("market", "Market", frozenset({"ACME"}))
    assert market.sees(payment("ACME", platform_id="market"))


def test_a_platform_does_not_see_another_platforms_nor_an_applicants_payments() -> None:
    market = Platform("market", "Market", frozenset({"ACME"}))
    assert not market.sees(payment("ACME", platform_id="bazaar"))
    assert not market.sees(payment("ACME"))


# -- which payers a platform may ask for -----------------------------------------------------
def test_a_platform_asks_for_its_registered_payers() -> None:
    Platform("market", "Market", frozenset({"ACME"})).check_payer("ACME")


def test_a_platform_asking_for_another_payer_is_refused() -> None:
    market = Platform("market", "Market", frozenset({"ACME"}))
    assert refusal(market.check_payer, "OTHER") is ReasonCode.PAYER_NOT_REGISTERED


# -- a person's role and enterprise ----------------------------------------------------------
def test_a_person_acts_in_their_role_for_their_enterprise() -> None:
    alice = person("ACME", Role.REVIEWER)
    alice.check_role("reviewer")
    alice.check_enterprise("ACME")


def test_a_person_in_another_role_or_for_another_enterprise_is_refused() -> None:
    alice = person("ACME", Role.APPLICANT)
    assert refusal(alice.check_role, "authorizer") is ReasonCode.WRONG_ROLE
    assert refusal(alice.check_enterprise, "OTHER") is ReasonCode.WRONG_ENTERPRISE


def test_the_roles_are_their_stored_text() -> None:
    """A role is written into user records, sessions and sealed secrets as its text."""
    assert [str(r) for r in ROLES] == ["applicant", "reviewer", "authorizer"]
    assert json.dumps(list(ROLES)) == '["applicant", "reviewer", "authorizer"]'
    assert Role("reviewer") is Role.REVIEWER
    assert "approver" not in ROLES
