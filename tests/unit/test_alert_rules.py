"""deploy/prometheus/alerts.yml (promtool is not installed here): a well-formed rules file
whose every expression names only metrics b2bpay exports, with labels those metrics carry
and values from their closed sets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.domain.errors import ReasonCode
from shared.domain.states import PaymentStatus
from shared.messaging import routes
from shared.metrics.messages import OUTCOMES
from tests.unit.metrics_support import metrics_exposition
from tests.unit.support import World

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
#: A metric name, and the label matchers in braces after it, if any.
SELECTOR = re.compile(r"\b(b2bpay_[a-z_]+)\b(\s*\{([^}]*)\})?")
MATCHER = re.compile(r'([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
CLOSED_SETS = {
    "stage": {s.value for s in routes.STAGE_OF_QUEUE.values()},
    "actor": set(routes.ACTORS),
    "outcome": set(OUTCOMES),
    "reason_code": {c.value for c in ReasonCode},
    "queue": set(routes.QUEUES),
    "state": {"ready", "in_flight", "delayed"},
    "group": {"query", "audit", "relay", "webhooks"},
    "status": {s.value for s in PaymentStatus},
}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    rules = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        rules += group["rules"]
    return rules


def _exported(world: World) -> dict[str, set[str]]:
    """Every sample name /metrics shows, with the labels it carries."""
    text, _ = metrics_exposition(world)
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_every_rule_is_a_well_formed_alert() -> None:
    rules = _rules()
    assert len(rules) >= 5
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"B2bpay[A-Za-z]+", rule["alert"])
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        assert "for" not in rule or DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_every_expression_names_exported_metrics_with_their_labels(world: World) -> None:
    exported = _exported(world)
    for rule in _rules():
        selectors = SELECTOR.findall(rule["expr"])
        assert selectors, f"{rule['alert']} reads no b2bpay metric"
        for name, _braces, matchers in selectors:
            assert name in exported, f"{rule['alert']}: {name} is not exported"
            for label, op, value in MATCHER.findall(matchers):
                assert label in exported[name], f"{rule['alert']}: {name} has no {label}"
                wanted = value.split("|") if op in ("=~", "!~") else [value]
                assert set(wanted) <= CLOSED_SETS[label], f"{rule['alert']}: {label}={value}"


def test_the_alerts_the_operators_asked_for_are_there() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in _rules()}
    near_deadline = expressions["B2bpayPaymentNearAuthorizationDeadline"]
    assert 'status="pending_auth"' in near_deadline
    assert "b2bpay_payment_deadline_seconds" in near_deadline
    assert 'group="relay"' in expressions["B2bpayRelayLagging"]
    assert re.search(r"b2bpay_dead_letters\)\s*>\s*0", expressions["B2bpayDeadLetters"])
