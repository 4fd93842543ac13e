"""The routing key of a status event, and topic patterns over routing keys.

One key per event, shared by every outlet that routes events (webhooks now, the AMQP topic
exchange later): ``payment.<status>`` for a transition, ``refusal.<reason_code>`` for a
refusal. Patterns follow AMQP topic rules: words are separated by ``.``, ``*`` stands for
exactly one word and ``#`` for zero or more.
"""

from __future__ import annotations

import re

from shared.domain.contracts import StatusEvent

#: What a subscription gets unless it says otherwise: every transition, no refusal.
DEFAULT_PATTERN = "payment.*"
_WORD = re.compile(r"[a-z0-9_]{1,64}|\*|#")


def routing_key(event: StatusEvent) -> str:
    """``payment.<status>`` for a transition, ``refusal.<reason_code>`` for a refusal."""
    if event.kind == "transition":
        return f"payment.{event.status}"
    return f"refusal.{event.reason_code}"


def is_pattern(pattern: str) -> bool:
    """Whether ``pattern`` is a well-formed topic pattern (lower-case words, ``*``, ``#``)."""
    words = pattern.split(".")
    return 0 < len(words) <= 8 and all(_WORD.fullmatch(w) for w in words)


def matches(pattern: str, key: str) -> bool:
    """Whether the routing ``key`` matches the topic ``pattern``."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
