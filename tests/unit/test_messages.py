"""The message contracts (shared.domain.contracts) and the validation report
(shared.app.guard)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.app.guard import describe_validation_error
from shared.domain.contracts import (
    AuthDecision,
    CancelPayment,
    PaymentContent,
    PaymentRequest,
    ReviewDecision,
    payment_id_for,
)

PAYER = "ACME"
SESSION = "v1.SESSION-TOKEN-SECRET-d41d8cd98f00b204.mac-3f2a"
OTP = "493817"


def wire(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "schema": "b2bpay.payment_request.v1",
        "request_id": "req-1",
        "order_id": "ORD-1",
        "payer": {"enterprise_id": "ACME", "account": "ACME-001", "name": "Acme Ltd"},
        "payee": {"bank_code": "PAYEEBK", "account": "DE0012345678", "name": "Globex Supplies"},
        "amount": "1250.00",
        "currency": "EUR",
        "bank": "B2BBANK",
        "purpose": "invoice 42",
        "session": SESSION,
        "otp": OTP,
        "command_id": "cmd-1",
    }
    message.update(overrides)
    return message


def request(**overrides: Any) -> PaymentRequest:
    return PaymentRequest.model_validate(wire(**overrides))


def error_types(error: ValidationError) -> set[str]:
    return {item["type"] for item in error.errors()}


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(p) for p in item["loc"]) for item in error.errors()}


# -- amount --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("1250.00", "1250.00"),
        ("1250", "1250.00"),
        ("12.5", "12.50"),
        ("0.01", "0.01"),
        ("999999999999.99", "999999999999.99"),
    ],
)
def test_an_amount_is_normalised_to_two_places(given: str, normalised: str) -> None:
    assert request(amount=given).amount == normalised


@pytest.mark.parametrize(
    "amount",
    [
        "0",
        "0.00",
        "-1",
        "-0.01",
        "1.001",
        "0.001",
        "abc",
        "",
        "NaN",
        "-NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        "1000000000000.00",
    ],
)
def test_an_amount_that_is_not_positive_money_is_refused(amount: str) -> None:
    with pytest.raises(ValidationError) as raised:
        request(amount=amount)
    assert error_fields(raised.value) == {"amount"}


@pytest.mark.parametrize("amount", [12.5, 1250, None])
def test_an_amount_must_be_a_string_not_a_number(amount: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        request(amount=amount)
    assert error_fields(raised.value) == {"amount"}


# -- currency, schema, shape ---------------------------------------------------------------


def test_a_three_letter_upper_case_currency_is_accepted() -> None:
    assert request(currency="CHF").currency == "CHF"


@pytest.mark.parametrize("currency", ["eur", "Eur", "EU", "EURO", "E1R", "123", "", "€UR"])
def test_a_currency_must_be_three_upper_case_letters(currency: str) -> None:
    with pytest.raises(ValidationError) as raised:
        request(currency=currency)
    assert error_fields(raised.value) == {"currency"}


def test_an_extra_field_is_forbidden() -> None:
    with pytest.raises(ValidationError) as raised:
        request(priority="urgent")
    assert error_types(raised.value) == {"extra_forbidden"}


def test_an_extra_field_inside_the_payee_is_forbidden() -> None:
    payee = {"bank_code": "PAYEEBK", "account": "DE0012345678", "name": "Globex", "iban_check": "x"}
    with pytest.raises(ValidationError) as raised:
        request(payee=payee)
    assert error_types(raised.value) == {"extra_forbidden"}
    assert error_fields(raised.value) == {"payee.iban_check"}


@pytest.mark.parametrize("schema", ["b2bpay.payment_request.v2", "b2bpay.review_decision.v1", ""])
def test_the_schema_literal_must_match(schema: str) -> None:
    with pytest.raises(ValidationError) as raised:
        request(schema=schema)
    assert error_types(raised.value) == {"literal_error"}


def test_the_schema_defaults_to_v1_when_absent() -> None:
    message = wire()
    del message["schema"]
    assert PaymentRequest.model_validate(message).schema_ == "b2bpay.payment_request.v1"


@pytest.mark.parametrize(
    "missing",
    ["request_id", "order_id", "payer", "payee", "amount", "currency", "bank", "session", "otp"],
)
def test_a_required_field_may_not_be_missing(missing: str) -> None:
    message = wire()
    del message[missing]
    with pytest.raises(ValidationError) as raised:
        PaymentRequest.model_validate(message)
    assert error_types(raised.value) == {"missing"}


@pytest.mark.parametrize("otp", ["12345", "1234567", ""])
def test_a_one_time_code_has_six_characters(otp: str) -> None:
    with pytest.raises(ValidationError) as raised:
        request(otp=otp)
    assert error_fields(raised.value) == {"otp"}


def test_a_command_id_is_made_when_absent() -> None:
    message = wire()
    del message["command_id"]
    first = PaymentRequest.model_validate(message)
    second = PaymentRequest.model_validate(message)
    assert first.command_id and second.command_id
    assert first.command_id != second.command_id


def test_a_request_is_immutable() -> None:
    validated = request()
    with pytest.raises(ValidationError):
        validated.amount = "1.00"  # type: ignore[misc]


# -- content hash --------------------------------------------------------------------------


def test_the_content_hash_is_a_stable_sha256() -> None:
    first = request().content().content_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert request().content().content_hash() == first
    # The same content given in another key order, or with the amount in another notation.
    shuffled = dict(reversed(list(wire(amount="1250").items())))
    assert PaymentRequest.model_validate(shuffled).content().content_hash() == first


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "1250.01"},
        {"payee": {"bank_code": "PAYEEBK", "account": "DE0099999999", "name": "Globex Supplies"}},
        {"payee": {"bank_code": "PAYEEBK", "account": "DE0012345678", "name": "Mallory Ltd"}},
        {"payee": {"bank_code": "OTHERBK", "account": "DE0012345678", "name": "Globex Supplies"}},
        {"payer": {"enterprise_id": "ACME", "account": "ACME-002", "name": "Acme Ltd"}},
        {"currency": "USD"},
        {"order_id": "ORD-2"},
        {"bank": "OTHERB2B"},
        {"purpose": "invoice 43"},
    ],
    ids=lambda change: (
        next(iter(change)) + ("" if isinstance(next(iter(change.values())), str) else "-nested")
    ),
)
def test_the_content_hash_changes_when_the_content_changes(change: dict[str, Any]) -> None:
    assert request(**change).content().content_hash() != request().content().content_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"session": "v1.another-session.mac"},
        {"otp": "111111"},
        {"command_id": "cmd-2"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_content_hash_ignores_session_otp_and_command_id(change: dict[str, Any]) -> None:
    assert request(**change).content().content_hash() == request().content().content_hash()


def test_a_requests_own_content_hash_is_the_hash_of_its_content() -> None:
    """``PaymentRequest`` inherits ``content_hash``; called on the request it must still hash
    the confirmed content only, not the per-attempt fields (request_id, command_id, ...)."""
    frozen = request().content().content_hash()
    assert request().content_hash() == frozen
    assert request(command_id="cmd-2").content_hash() == frozen


def test_the_content_excludes_every_secret_and_attempt_field() -> None:
    content = request().content()
    assert isinstance(content, PaymentContent)
    assert set(content.model_dump()) == {
        "order_id",
        "payer",
        "payee",
        "amount",
        "currency",
        "bank",
        "purpose",
    }


def test_payment_ids_derive_from_the_request_id_only() -> None:
    assert payment_id_for(PAYER, "req-1") == payment_id_for(PAYER, "req-1")
    assert payment_id_for(PAYER, "req-1") != payment_id_for(PAYER, "req-2")
    assert re.fullmatch(r"pay_[0-9a-f]{24}", payment_id_for(PAYER, "req-1"))
    # Scoped to the payer: another enterprise's request with the same id is another payment.
    assert payment_id_for(PAYER, "req-1") != payment_id_for("GLOBEX", "req-1")
    assert payment_id_for("A:B", "C") != payment_id_for("A", "B:C")
    # A platform's request id is its own: another platform of the payer, or the payer's
    # applicant (v1), using the same request id names another payment.
    by_liandong = payment_id_for(PAYER, "req-1", "liandong")
    assert by_liandong != payment_id_for(PAYER, "req-1", "other")
    assert by_liandong != payment_id_for(PAYER, "req-1")
    assert payment_id_for(PAYER, "req-1", "a:b") != payment_id_for(PAYER, "b:req-1", "a")


# -- secrets -------------------------------------------------------------------------------

REVIEW = {"payment_id": "pay_1", "approve": True, "session": SESSION}
AUTH = {"payment_id": "pay_1", "approve": True, "session": SESSION, "otp": OTP}
CANCEL = {"payment_id": "pay_1", "session": SESSION}


def secret_bearing_models() -> list[tuple[str, BaseModel]]:
    return [
        ("PaymentRequest", request()),
        ("ReviewDecision", ReviewDecision.model_validate(REVIEW)),
        ("AuthDecision", AuthDecision.model_validate(AUTH)),
        ("CancelPayment", CancelPayment.model_validate(CANCEL)),
    ]


@pytest.mark.parametrize(
    ("name", "model"), secret_bearing_models(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_secrets_never_appear_in_repr_str_or_json(name: str, model: BaseModel) -> None:
    renderings = {
        "repr": repr(model),
        "str": str(model),
        "json": model.model_dump_json(),
        "json-by-alias": model.model_dump_json(by_alias=True),
        "dump": str(model.model_dump()),
        "dump-json-mode": str(model.model_dump(mode="json")),
    }
    for how, text in renderings.items():
        assert SESSION not in text, f"{name} {how} shows the session"
        assert OTP not in text, f"{name} {how} shows the one-time code"


@pytest.mark.parametrize(
    ("name", "model"), secret_bearing_models(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_only_the_wire_form_reveals_the_secrets_to_the_stage(name: str, model: BaseModel) -> None:
    on_the_wire = model.to_wire()  # type: ignore[attr-defined]
    assert on_the_wire["session"] == SESSION
    if "otp" in on_the_wire:
        assert on_the_wire["otp"] == OTP
    # The wire form validates back into the same message.
    assert type(model).model_validate(on_the_wire) == model


# -- validation reports --------------------------------------------------------------------


def test_a_validation_report_names_the_field_but_never_echoes_an_invalid_otp() -> None:
    secret_otp = "9876543"  # one digit too many
    with pytest.raises(ValidationError) as raised:
        request(otp=secret_otp)
    assert secret_otp in str(raised.value), "precondition: pydantic itself echoes the input"
    report = describe_validation_error(raised.value)
    assert "otp" in report
    assert secret_otp not in report


def test_a_validation_report_never_echoes_the_session_of_an_invalid_request() -> None:
    with pytest.raises(ValidationError) as raised:
        request(amount="-5", currency="eur", otp="12")
    report = describe_validation_error(raised.value)
    assert {"amount", "currency", "otp"} <= set(re.findall(r"(\w+):", report))
    assert SESSION not in report
    assert "-5" not in report
    assert "12" not in report.replace("otp:", "")


def test_a_validation_report_never_echoes_a_secret_in_an_extra_field() -> None:
    password = "correct-horse-battery-staple"
    with pytest.raises(ValidationError) as raised:
        request(password=password)
    report = describe_validation_error(raised.value)
    assert "password" in report
    assert password not in report


def test_a_validation_report_never_echoes_a_session_of_the_wrong_type() -> None:
    session = {"token": SESSION}
    with pytest.raises(ValidationError) as raised:
        request(session=session)
    report = describe_validation_error(raised.value)
    assert "session" in report
    assert SESSION not in report


def test_a_validation_report_is_bounded() -> None:
    message = wire()
    for name in ("request_id", "order_id", "payer", "payee", "amount", "currency", "bank"):
        message[name] = ["x" * 1000]
    with pytest.raises(ValidationError) as raised:
        PaymentRequest.model_validate(message)
    report = describe_validation_error(raised.value)
    assert 0 < len(report) <= 500
    assert "x" * 20 not in report


@pytest.mark.parametrize("code", ["ZZZ", "XAU", "ABC"])
def test_a_currency_that_is_not_an_iso_4217_circulating_code_is_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="ISO 4217"):
        request(currency=code)


# -- free text: nothing that can rewrite or hide what a person sees -------------------------

#: One example of each class of character that changes how text shows instead of showing.
ESCAPES = {
    "ansi_escape": "\x1b[2K\x1b[1G1250.00",  # erase the line, rewrite it (Cc)
    "carriage_return": "Supplier\r1250.00",  # back to the line start (Cc)
    "newline": "Supplier\nfake: line",  # a row of its own (Cc)
    "bell": "Supplier\x07",  # Cc
    "c1_csi": "Supplier\x9b2K",  # the 8-bit CSI, an escape on some terminals (Cc)
    "bidi_override": "Supplier \u202e00.0521",  # right-to-left override (Cf)
    "bidi_isolate": "Supplier \u2067 99 \u2069",  # right-to-left isolate (Cf)
    "zero_width": "Sup\u200bplier",  # zero-width space (Cf)
    "line_separator": "Supplier\u2028fake",  # a line break some views honour (Zl)
}

#: Every free-text field of every contract, as (contract, where in the wire message).
FREE_TEXT = [
    ("payment_request", ("payer", "name")),
    ("payment_request", ("payee", "name")),
    ("payment_request", ("purpose",)),
    ("payment_request", ("order_id",)),
    ("payment_request", ("request_id",)),
    ("review_decision", ("reason",)),
    ("auth_decision", ("reason",)),
    ("cancel_payment", ("reason",)),
]


def free_text_message(contract: str) -> tuple[type[BaseModel], dict[str, Any]]:
    base = {"payment_id": "pay_1", "approve": False, "session": SESSION, "command_id": "c1"}
    return {
        "payment_request": (PaymentRequest, wire()),
        "review_decision": (ReviewDecision, dict(base)),
        "auth_decision": (AuthDecision, {**base, "otp": OTP}),
        "cancel_payment": (CancelPayment, {k: v for k, v in base.items() if k != "approve"}),
    }[contract]


@pytest.mark.parametrize("escape", sorted(ESCAPES))
@pytest.mark.parametrize(("contract", "where"), FREE_TEXT)
def test_free_text_with_a_control_or_format_character_is_refused_without_echoing_it(
    contract: str, where: tuple[str, ...], escape: str
) -> None:
    model, message = free_text_message(contract)
    if len(where) == 2:
        message[where[0]] = {**message[where[0]], where[1]: ESCAPES[escape]}
    else:
        message[where[0]] = ESCAPES[escape]
    with pytest.raises(ValidationError) as raised:
        model.model_validate(message)
    report = describe_validation_error(raised.value)
    assert ".".join(where) in report
    assert "control or format character" in report
    assert ESCAPES[escape] not in report
    assert not any(ch in report for ch in "\x1b\r\n\x07\x9b\u202e\u2067\u200b\u2028")


def test_free_text_in_any_script_with_ordinary_punctuation_is_accepted() -> None:
    name = "上海供应链有限公司 (Müller & Söhne) — [bold] :smile: 100%"
    accepted = request(payee={**wire()["payee"], "name": name}, purpose="发票 42 [/bold]")
    assert (accepted.payee.name, accepted.purpose) == (name, "发票 42 [/bold]")
