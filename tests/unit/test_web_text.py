"""The web's texts: both catalogues hold the same entries, every reason code, status and
manual step has its sentence; amounts in words; the language chosen from Accept-Language."""

from __future__ import annotations

import pytest

from services.web.amounts import chinese_uppercase, english_words, in_figures
from services.web.i18n import catalogue, from_accept_language
from shared.domain.errors import ReasonCode
from shared.domain.manual import MANUAL_STEPS
from shared.domain.states import TERMINAL, PaymentStatus


def test_catalogues_match_and_cover_every_code() -> None:
    en, zh = catalogue("en"), catalogue("zh-CN")
    assert set(en) == set(zh)
    for code in ReasonCode:
        assert f"reason.{code.value}" in en, code
    for status in PaymentStatus:
        assert f"status.{status.value}" in en
    for status in TERMINAL:
        assert f"final.{status.value}" in en
    for step, _manual, _system in MANUAL_STEPS:
        assert f"step.{step}" in en
    assert en["reason.last_attempt"] == "1 attempt left before your user is locked."


@pytest.mark.parametrize(
    ("amount", "upper"),
    [
        ("1250.00", "壹仟贰佰伍拾元整"),
        ("1000.05", "壹仟元零伍分"),
        ("1005.30", "壹仟零伍元叁角整"),
        ("0.50", "伍角整"),
        ("100100.50", "壹拾万零壹佰元伍角整"),
        ("10010001.01", "壹仟零壹万零壹元零壹分"),
        ("123456789.12", "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分"),
        ("20000.00", "贰万元整"),
    ],
)
def test_chinese_uppercase(amount: str, upper: str) -> None:
    assert chinese_uppercase(amount) == upper


def test_english_words_and_figures() -> None:
    assert english_words("1250.50", "CNY") == "CNY one thousand two hundred fifty and 50/100"
    assert english_words("21.00", "EUR") == "EUR twenty-one and 00/100"
    assert in_figures("1234567.8") == "1,234,567.80"


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,zh-TW;q=0.5", "zh-CN"),
        ("fr", "en"),
        ("zh;q=0, en;q=0.1", "en"),
        (None, "en"),
    ],
)
def test_language_from_accept_language(header: str | None, lang: str) -> None:
    assert from_accept_language(header) == lang
