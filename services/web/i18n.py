"""Languages: one catalogue per language (``i18n/<lang>.json``), the language chosen from the
person's switch (a cookie) or else ``Accept-Language``."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LANGUAGES = ("zh-CN", "en")
DEFAULT = "en"
COOKIE = "b2bpay_lang"


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("services.web").joinpath(f"i18n/{lang}.json").read_text("utf-8")
    loaded: dict[str, str] = json.loads(text)
    return loaded


def from_accept_language(header: str | None) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header (RFC 9110 q-values)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def choose(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    return from_accept_language(accept_language)


class Translator:
    """``t("key", name=value)``: the text of one catalogue entry, filled in."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._texts = catalogue(lang)

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts.get(key)
        if text is None:
            # A missing entry is a bug the catalogue test catches; show the key, not a crash.
            return key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._texts
