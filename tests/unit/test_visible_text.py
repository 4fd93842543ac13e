"""The ASCII fast path of is_visible_text says what the per-character category check says."""

from __future__ import annotations

import unicodedata

from shared.domain.text import INVISIBLE_CATEGORIES, is_visible_text


def test_every_ascii_character_is_judged_by_its_unicode_category() -> None:
    for code in range(128):
        ch = chr(code)
        shows = unicodedata.category(ch) not in INVISIBLE_CATEGORIES
        assert is_visible_text(f"a{ch}b") is shows, repr(ch)


def test_text_with_an_invisible_character_beyond_ascii_is_refused() -> None:
    assert is_visible_text("Müller & Söhne 1250.00")
    for hidden in ("\u202e", "\u200b", "\u2028", "\u0085", "\ud800"):
        assert not is_visible_text(f"pay {hidden}1250.00"), repr(hidden)
