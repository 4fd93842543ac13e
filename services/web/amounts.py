"""An amount as people read it on a payment order: in figures with thousands separators, and
in words — English cheque style, or the Chinese uppercase numerals (大写) a finance clerk
checks a renminbi amount against. Pure functions of the canonical decimal text."""

from __future__ import annotations

from decimal import Decimal

_CN_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_CN_UNITS = ("", "拾", "佰", "仟")
_CN_GROUPS = ("", "万", "亿", "万亿")
_EN_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_EN_GROUPS = ("", " thousand", " million", " billion", " trillion")


def _split(amount: str) -> tuple[int, int]:
    """The whole units and the hundredths of a non-negative decimal text."""
    cents = int((Decimal(amount) * 100).to_integral_value())
    if cents < 0:
        raise ValueError("a payment amount is never negative")
    return divmod(cents, 100)


def in_figures(amount: str) -> str:
    """``1250.5`` -> ``1,250.50``."""
    whole, cents = _split(amount)
    return f"{whole:,}.{cents:02d}"


def _cn_group(n: int) -> str:
    """0 < n < 10000 in uppercase numerals, inner zeros said once."""
    out, zero = "", False
    for power in (3, 2, 1, 0):
        digit = n // 10**power % 10
        if digit == 0:
            zero = zero or bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _CN_DIGITS[digit] + _CN_UNITS[power]
    return out


def _cn_whole(n: int) -> str:
    if n == 0:
        return ""
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(_CN_GROUPS):
        raise ValueError("amount too large to write in words")
    out, zero = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero = zero or bool(out)
            continue
        if out and (zero or group < 1000):
            out += "零"
        out += _cn_group(group) + _CN_GROUPS[index]
        zero = False
    return out


def chinese_uppercase(amount: str) -> str:
    """The renminbi amount in uppercase numerals (大写): ``1250.00`` -> ``壹仟贰佰伍拾元整``,
    ``1000.05`` -> ``壹仟元零伍分``."""
    whole, cents = _split(amount)
    jiao, fen = divmod(cents, 10)
    yuan = _cn_whole(whole)
    out = f"{yuan}元" if yuan else ""
    if cents == 0:
        return (out or "零元") + "整"
    if jiao:
        out += _CN_DIGITS[jiao] + "角"
    elif yuan:
        out += "零"
    if fen:
        out += _CN_DIGITS[fen] + "分"
    else:
        out += "整"
    return out


def _en_below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{_EN_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_EN_ONES[rest])
    return " ".join(words)


def english_words(amount: str, currency: str) -> str:
    """Cheque style: ``1250.50``, ``CNY`` -> ``CNY one thousand two hundred fifty and
    50/100``."""
    whole, cents = _split(amount)
    parts: list[str] = []
    index = 0
    n = whole
    while n:
        n, group = divmod(n, 1000)
        if group:
            if index >= len(_EN_GROUPS):
                raise ValueError("amount too large to write in words")
            parts.insert(0, _en_below_thousand(group) + _EN_GROUPS[index])
        index += 1
    words = " ".join(parts) or "zero"
    return f"{currency} {words} and {cents:02d}/100"
