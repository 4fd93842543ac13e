"""What text shows: a constant light enough for the people's CLI to import (no pydantic)."""

from __future__ import annotations

import unicodedata

#: Unicode categories of characters that change how text shows instead of showing: control
#: characters (Cc: escape sequences, carriage return, line feed, the C1 set), format
#: characters (Cf: bidirectional overrides and isolates, zero-width characters), lone
#: surrogates (Cs) and the line and paragraph separators (Zl, Zp).
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
INVISIBLE_TEXT = (
    "must not contain a control or format character (an escape sequence, a line break, "
    "a bidirectional override, a zero-width character)"
)


def is_visible_text(text: str) -> bool:
    """Whether every character of ``text`` shows as itself: free text that passes cannot
    rewrite, reorder or hide what a person is shown (say, the amount they authorize)."""
    if text.isascii():
        # The only invisible ASCII characters are the controls (Cc), exactly the ones
        # isprintable refuses there: one C-level pass for nearly every field.
        return text.isprintable()
    return not any(unicodedata.category(ch) in INVISIBLE_CATEGORIES for ch in text)
