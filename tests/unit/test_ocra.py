"""RFC 6287 (OCRA): the ``oath`` package against the RFC's published test vectors
(Appendix C), and b2bpay's suite against a from-the-RFC reference computation."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from oath import str2ocrasuite

from shared.security import ocra
from shared.security import totp as otp
from shared.security.ocra import (
    SUITE,
    ChallengeError,
    code_at_step,
    code_for_challenge,
    normalize_challenge,
)

# RFC 6287 Appendix C: the standard keys, the PIN and the time step used by every vector.
KEY20 = bytes.fromhex("3132333435363738393031323334353637383930")
KEY32 = bytes.fromhex("3132333435363738393031323334353637383930313233343536373839303132")
KEY64 = bytes.fromhex(
    "31323334353637383930313233343536373839303132333435363738393031323334353637383930"
    "313233343536373839303132333435363738393031323334"
)
PIN = "1234"
#: "Mar 25 2008, 12:06:30 GMT" in one-minute steps (T1M).
T_132D0B6 = 0x132D0B6
NUMERIC = [str(d) * 8 for d in range(10)]


def oath_code(suite: str, key: bytes, **params: object) -> str:
    return str(str2ocrasuite(suite)(key, **params))


# -- C.1 one-way challenge-response --------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "expected"),
    list(
        zip(
            NUMERIC,
            [
                "237653",
                "243178",
                "653583",
                "740991",
                "608993",
                "388898",
                "816933",
                "224598",
                "750600",
                "294470",
            ],
            strict=True,
        )
    ),
)
def test_oath_passes_the_rfc_vectors_of_hotp_sha1_6_qn08(question: str, expected: str) -> None:
    assert oath_code("OCRA-1:HOTP-SHA1-6:QN08", KEY20, Q=question) == expected


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(
        enumerate(
            [
                "65347737",
                "86775851",
                "78192410",
                "71565254",
                "10104329",
                "65983500",
                "70069104",
                "91771096",
                "75011558",
                "08522129",
            ]
        )
    ),
)
def test_oath_passes_the_rfc_vectors_of_hotp_sha256_8_c_qn08_psha1(
    counter: int, expected: str
) -> None:
    suite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"
    assert oath_code(suite, KEY32, C=counter, Q="12345678", P=PIN) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    list(
        zip(NUMERIC[:5], ["83238735", "01501458", "17957585", "86776967", "86807031"], strict=True)
    ),
)
def test_oath_passes_the_rfc_vectors_of_hotp_sha256_8_qn08_psha1(
    question: str, expected: str
) -> None:
    assert oath_code("OCRA-1:HOTP-SHA256-8:QN08-PSHA1", KEY32, Q=question, P=PIN) == expected


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(
        enumerate(
            [
                "07016083",
                "63947962",
                "70123924",
                "25341727",
                "33203315",
                "34205738",
                "44343969",
                "51946085",
                "20403879",
                "31409299",
            ]
        )
    ),
)
def test_oath_passes_the_rfc_vectors_of_hotp_sha512_8_c_qn08(counter: int, expected: str) -> None:
    suite = "OCRA-1:HOTP-SHA512-8:C-QN08"
    assert oath_code(suite, KEY64, C=counter, Q=NUMERIC[counter]) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    list(
        zip(NUMERIC[:5], ["95209754", "55907591", "22048402", "24218844", "36209546"], strict=True)
    ),
)
def test_oath_passes_the_rfc_vectors_of_the_time_based_hotp_sha512_8_qn08_t1m(
    question: str, expected: str
) -> None:
    suite = "OCRA-1:HOTP-SHA512-8:QN08-T1M"
    assert oath_code(suite, KEY64, Q=question, T_precomputed=T_132D0B6) == expected


# -- C.3 plain signature -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "expected"),
    list(
        zip(
            ["SIG10000", "SIG11000", "SIG12000", "SIG13000", "SIG14000"],
            ["53095496", "04110475", "31331128", "76028668", "46554205"],
            strict=True,
        )
    ),
)
def test_oath_passes_the_rfc_signature_vectors_of_hotp_sha256_8_qa08(
    question: str, expected: str
) -> None:
    assert oath_code("OCRA-1:HOTP-SHA256-8:QA08", KEY32, Q=question) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    list(
        zip(
            ["SIG1000000", "SIG1100000", "SIG1200000", "SIG1300000", "SIG1400000"],
            ["77537423", "31970405", "10235557", "95213541", "65360607"],
            strict=True,
        )
    ),
)
def test_oath_passes_the_rfc_time_based_signature_vectors_of_hotp_sha512_8_qa10_t1m(
    question: str, expected: str
) -> None:
    suite = "OCRA-1:HOTP-SHA512-8:QA10-T1M"
    assert oath_code(suite, KEY64, Q=question, T_precomputed=T_132D0B6) == expected


# -- b2bpay's suite against the RFC's algorithm written out --------------------------------
def reference_ocra(
    suite: str, hash_name: str, digits: int, key: bytes, question: bytes, step: int
) -> str:
    """RFC 6287 section 5, for suites ``Q...-T...``: HMAC over suite, 0x00, the question
    padded to 128 bytes, the 8-byte time step; then HOTP's dynamic truncation."""
    message = suite.encode() + b"\0" + question.ljust(128, b"\0") + step.to_bytes(8, "big")
    digest = hmac.new(key, message, getattr(hashlib, hash_name)).digest()
    offset = digest[-1] & 0x0F
    binary = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{binary % 10**digits:0{digits}d}"


def test_the_reference_computation_itself_passes_an_rfc_time_based_vector() -> None:
    # QN08: the number 00000000 in hex is "0", padded to one byte 0x00.
    expected = reference_ocra("OCRA-1:HOTP-SHA512-8:QN08-T1M", "sha512", 8, KEY64, b"\0", T_132D0B6)
    assert expected == "95209754"
    signed = reference_ocra(
        "OCRA-1:HOTP-SHA512-8:QA10-T1M", "sha512", 8, KEY64, b"SIG1000000", T_132D0B6
    )
    assert signed == "77537423"


SECRET = base64.b32encode(KEY32).decode()
CHALLENGE = hashlib.sha256(b"any payment").hexdigest()


@pytest.mark.parametrize("step", [0, 1, 56_666_667, 2**40])
def test_b2bpay_suite_gives_the_reference_response_keyed_by_the_totp_secret(step: int) -> None:
    assert SUITE == "OCRA-1:HOTP-SHA256-6:QH64-T30S"
    expected = reference_ocra(SUITE, "sha256", 6, KEY32, bytes.fromhex(CHALLENGE), step)
    assert code_at_step(SECRET, CHALLENGE, step) == expected


def test_the_ocra_step_is_the_totp_step() -> None:
    assert ocra.STEP_SECONDS == otp.STEP_SECONDS == 30
    at = 30 * 56_666_667 + 29.9
    assert code_for_challenge(SECRET, CHALLENGE, at) == code_at_step(SECRET, CHALLENGE, 56_666_667)
    assert code_for_challenge(SECRET, CHALLENGE, at + 0.1) == code_at_step(
        SECRET, CHALLENGE, 56_666_668
    )


def test_another_challenge_or_another_step_gives_another_code() -> None:
    other = hashlib.sha256(b"another payment").hexdigest()
    codes = {code_at_step(SECRET, c, s) for c in (CHALLENGE, other) for s in (7, 8, 9)}
    assert len(codes) == 6


def test_a_challenge_may_be_typed_in_groups_and_either_case() -> None:
    grouped = " ".join(CHALLENGE.upper()[i : i + 8] for i in range(0, 64, 8))
    assert normalize_challenge(grouped) == CHALLENGE
    assert normalize_challenge("-".join([CHALLENGE[:32], CHALLENGE[32:]])) == CHALLENGE


@pytest.mark.parametrize("bad", ["", "abc", CHALLENGE[:-1], CHALLENGE + "0", "g" * 64])
def test_a_challenge_that_is_not_64_hex_digits_is_refused(bad: str) -> None:
    with pytest.raises(ChallengeError):
        normalize_challenge(bad)
