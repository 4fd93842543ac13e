"""Dynamic linking (PSD2 RTS Art. 5): the authorizer's code answers the payment's challenge,
which commits to its id and content hash (amount, currency, payee)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from services.authorize.handlers import handle_auth_decision
from services.cli import context
from services.cli.main import app
from shared.app.deps import Deps
from shared.config import Settings
from shared.domain.content import content_of
from shared.domain.contracts import payment_id_for
from shared.domain.payment import Payment
from shared.messaging import routes as q
from shared.security.linking import AuthorizerOtp, authorizer_code, challenge_for, challenge_of
from shared.security.ocra import code_for_challenge
from shared.security.stage_signatures import review_approval
from tests.unit.cli_api import serve_in_process
from tests.unit.support import PAYER, Clock, World, queued, wrong_code


def pending_auth(world: World, request_id: str = "req-1", order_id: str = "ORD-1") -> Payment:
    """A payment waiting for the authorizer. The applicant's code is spent, so the clock
    then moves to the next step (the authorizer's time step is left as it was)."""
    outcome = world.apply(request_id=request_id, order_id=order_id)
    world.clock.advance(30)
    assert outcome.outcome == "accepted", outcome
    world.intake_all()
    payment_id = payment_id_for(PAYER, request_id)
    assert world.review(payment_id).status == "pending_auth"
    payment = world.deps.store.get(payment_id)
    assert payment is not None
    return payment


def linked_code(world: World, payment: Payment) -> str:
    return code_for_challenge(world.authorizer.totp_secret, challenge_of(payment), world.clock())


def use_mode(world: World, mode: str) -> None:
    world.deps.settings = world.deps.settings.model_copy(update={"authorizer_otp": mode})


# -- the challenge -------------------------------------------------------------------------
def test_the_challenge_is_the_documented_sha256_of_payment_id_and_content_hash() -> None:
    expected = hashlib.sha256(b"b2bpay.auth-challenge.v1\npay_1\n" + b"a" * 64).hexdigest()
    assert challenge_for("pay_1", "a" * 64) == expected


def test_the_challenge_changes_with_the_payment_id_and_with_the_content_hash() -> None:
    base = challenge_for("pay_1", "a" * 64)
    assert challenge_for("pay_2", "a" * 64) != base
    assert challenge_for("pay_1", "b" * 64) != base


def test_linking_is_the_default_and_totp_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().authorizer_otp == AuthorizerOtp.OCRA
    monkeypatch.setenv("B2BPAY_AUTHORIZER_OTP", "totp")
    assert Settings().authorizer_otp == AuthorizerOtp.TOTP
    monkeypatch.setenv("B2BPAY_AUTHORIZER_OTP", "sms")
    with pytest.raises(ValidationError):
        Settings()


# -- the authorize stage -------------------------------------------------------------------
def test_a_code_linked_to_the_payment_authorizes_it(world: World) -> None:
    payment = pending_auth(world)
    outcome = world.authorize(payment.payment_id, otp=linked_code(world, payment))
    assert (outcome.outcome, outcome.status) == ("accepted", "authorized")
    assert len(queued(world.deps, q.INTERBANK)) == 1


def test_a_code_made_for_payment_a_is_refused_for_payment_b(world: World) -> None:
    a = pending_auth(world, "req-a", "ORD-A")
    b = pending_auth(world, "req-b", "ORD-B")

    outcome = world.authorize(b.payment_id, otp=linked_code(world, a))

    assert (outcome.outcome, outcome.reason_code) == ("refused", "otp_invalid")
    world.assert_status(b.payment_id, "pending_auth")
    # Nothing was spent: the code for A still authorizes A, in the same time step.
    assert world.authorize(a.payment_id, otp=linked_code(world, a)).status == "authorized"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "9999.00"},
        {"currency": "USD"},
        {"payee_account": "MALLORY-0001"},
        {"payee_name": "Mallory Ltd"},
    ],
)
def test_a_code_made_before_the_amount_or_payee_changed_is_refused(
    world: World, change: dict[str, str]
) -> None:
    payment = pending_auth(world)
    code = linked_code(world, payment)
    # The content changes after the authorizer saw it, consistently: a new content hash,
    # approved again by the review stage. Every check before the code passes; the code
    # answered the challenge of the content the authorizer was shown.
    key = world.deps.keys.payment(payment.payment_id)
    world.deps.redis.hset(key, mapping=change)
    changed = world.deps.store.get(payment.payment_id)
    assert changed is not None
    world.deps.redis.hset(key, "content_hash", content_of(changed).content_hash())
    changed = world.deps.store.get(payment.payment_id)
    assert changed is not None
    approval = review_approval(world.deps.signer, changed, world.reviewer.username)
    assert approval.reviewer_id is not None and approval.review_signature is not None
    world.deps.redis.hset(
        key,
        mapping={
            "reviewer_id": approval.reviewer_id,
            "review_signature": approval.review_signature,
        },
    )
    assert challenge_of(changed) != challenge_of(payment)

    outcome = world.authorize(payment.payment_id, otp=code)

    assert (outcome.outcome, outcome.reason_code) == ("refused", "otp_invalid")
    world.assert_status(payment.payment_id, "pending_auth")


def test_a_plain_totp_code_is_refused_when_codes_are_linked(world: World) -> None:
    payment = pending_auth(world)
    outcome = world.authorize(payment.payment_id, otp=world.code(world.authorizer))
    assert (outcome.outcome, outcome.reason_code) == ("refused", "otp_invalid")


def test_in_totp_mode_a_plain_code_authorizes_and_a_linked_one_is_refused(world: World) -> None:
    use_mode(world, "totp")
    payment = pending_auth(world)
    refused = world.authorize(payment.payment_id, otp=linked_code(world, payment))
    assert (refused.outcome, refused.reason_code) == ("refused", "otp_invalid")
    accepted = world.authorize(payment.payment_id, otp=world.code(world.authorizer))
    assert accepted.status == "authorized"


def test_a_linked_code_expires_after_the_one_step_window(world: World, clock: Clock) -> None:
    payment = pending_auth(world)
    code = linked_code(world, payment)
    clock.advance(60)
    outcome = world.authorize(payment.payment_id, otp=code)
    assert (outcome.outcome, outcome.reason_code) == ("refused", "otp_invalid")


def test_a_second_linked_code_in_a_spent_time_step_is_a_replay(world: World) -> None:
    a = pending_auth(world, "req-a", "ORD-A")
    b = pending_auth(world, "req-b", "ORD-B")
    assert world.authorize(a.payment_id, otp=linked_code(world, a)).status == "authorized"

    outcome = world.authorize(b.payment_id, otp=linked_code(world, b))

    assert (outcome.outcome, outcome.reason_code) == ("refused", "otp_replayed")
    world.assert_status(b.payment_id, "pending_auth")


def test_failed_linked_codes_lock_the_authorizer(world: World) -> None:
    payment = pending_auth(world)
    bad = wrong_code(world.authorizer.totp_secret, world.clock())
    reasons = [
        world.authorize(payment.payment_id, otp=bad).reason_code
        for _ in range(world.deps.settings.otp_max_failures)
    ]
    assert reasons == ["otp_invalid"] * 4 + ["user_locked"]
    locked = world.authorize(payment.payment_id, otp=linked_code(world, payment))
    assert (locked.outcome, locked.reason_code) == ("refused", "user_locked")


def test_the_same_linked_code_for_the_same_command_is_accepted_again(world: World) -> None:
    payment = pending_auth(world)
    decision = world.auth_decision(payment.payment_id, otp=linked_code(world, payment))
    assert handle_auth_decision(decision, world.deps).status == "authorized"
    again = handle_auth_decision(decision, world.deps)
    assert (again.outcome, again.status) == ("duplicate", "authorized")


def test_authorizer_code_follows_the_mode(world: World) -> None:
    payment = pending_auth(world)
    secret, at = world.authorizer.totp_secret, world.clock()
    assert authorizer_code("ocra", secret, payment, at) == linked_code(world, payment)
    assert authorizer_code("totp", secret, payment, at) == world.code(world.authorizer)


# -- the CLI: what the authorizer is shown, and the token emulator ------------------------
def run(monkeypatch: pytest.MonkeyPatch, deps: Deps, *args: str, stdin: str = "") -> Any:
    monkeypatch.setattr(context, "deps", lambda: deps)
    monkeypatch.setattr(context, "settings", lambda: deps.settings)
    serve_in_process(monkeypatch, deps)
    result = CliRunner().invoke(app, [*args, "--json"], input=stdin)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, json.loads(lines[-1]) if lines else {}


def test_challenge_shows_what_is_signed(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    payment = pending_auth(world)
    session = world.session(world.authorizer)
    code, shown = run(
        monkeypatch, world.deps, "challenge", payment.payment_id, "--session", session
    )
    assert code == 0
    assert shown["challenge"] == challenge_of(payment)
    assert (shown["amount"], shown["currency"]) == ("1250.00", "EUR")
    assert (shown["payee_name"], shown["payee_account"], shown["payee_bank_code"]) == (
        "Globex Supplies",
        "DE0012345678",
        "PAYEEBK",
    )
    assert (shown["mode"], shown["suite"]) == ("ocra", "OCRA-1:HOTP-SHA256-6:QH64-T30S")


def test_challenge_of_an_unknown_payment_is_refused(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    code, shown = run(
        monkeypatch,
        world.deps,
        "challenge",
        payment_id_for(PAYER, "nope"),
        "--session",
        world.session(world.authorizer),
    )
    assert code == 1 and "no payment" in shown["error"]


def test_the_token_emulator_answers_a_challenge_with_the_linked_code(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    payment = pending_auth(world)
    challenge = challenge_of(payment)
    secret = world.authorizer.totp_secret
    code, shown = run(monkeypatch, world.deps, "otp", "--challenge", challenge, stdin=secret)
    assert code == 0
    # The CLI reads the real clock; the code is that of the current step.
    assert shown["code"] == code_for_challenge(secret, challenge)
    uri = f"otpauth://totp/b2bpay:carol?secret={secret}&issuer=b2bpay"
    assert run(monkeypatch, world.deps, "otp", "--challenge", challenge.upper(), stdin=uri)[1][
        "code"
    ] == code_for_challenge(secret, challenge)


def test_the_token_emulator_refuses_a_malformed_challenge(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    secret = base64.b32encode(b"x" * 20).decode()
    code, shown = run(monkeypatch, world.deps, "otp", "--challenge", "12ab", stdin=secret)
    assert code == 2 and "64 hexadecimal digits" in shown["error"]
