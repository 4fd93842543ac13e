"""How values show on the screens: amounts, times, durations, the challenge in groups."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from services.web.amounts import chinese_uppercase, english_words, in_figures


def amount_words(amount: str, currency: str, lang: str) -> str:
    """In words as a clerk checks it: the Chinese uppercase numerals (大写) for renminbi in
    Chinese, else cheque-style English."""
    if lang == "zh-CN" and currency == "CNY":
        return "人民币" + chinese_uppercase(amount)
    return english_words(amount, currency)


def when(at: str | None) -> str:
    """An ISO time as ``2026-12-01 03:12:05 UTC``."""
    if not at:
        return ""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds_since(at: str | None, now: float | None = None) -> int | None:
    if not at:
        return None
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0, int((now or time.time()) - moment.timestamp()))


def duration(seconds: int | float | None) -> str:
    """``3725`` -> ``1h 02m``; ``75`` -> ``1m 15s``."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 60}m {s % 60:02d}s"


def groups(text: str | None, size: int = 4) -> list[str]:
    """The challenge in groups of four, as a token's keypad takes it."""
    if not text:
        return []
    return [text[i : i + size] for i in range(0, len(text), size)]


FILTERS = {"figures": in_figures, "when": when, "duration": duration, "groups": groups}
