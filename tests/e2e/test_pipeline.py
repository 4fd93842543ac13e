"""The five stages as separate worker processes, driven through the CLI as people would."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.app import client
from shared.bootstrap import bootstrap
from shared.security.session_tokens import SessionSigner
from tests.e2e.conftest import code_of
from tests.happy_path import FULL_HISTORY
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

E1, E2, E3 = "ACME-01", "TINY-02", "OTHER-03"
ACC_PAYEE = "62220200001234"
#: What the CLI shows for every refusal about authentication (the events keep the precise code).
AUTH_FAILED = "authentication_failed"
ACC1, ACC2, ACC3 = "62166001000011", "62166001000022", "62166001000033"


@dataclass
class Person:
    name: str
    role: str
    enterprise: str
    uri: str
    password: str
    token: str = ""


@dataclass
class World:
    env: Stack
    people: dict[str, Person]

    def token(self, name: str) -> str:
        return self.people[name].token

    def code(self, name: str) -> str:
        return code_of(self.people[name].uri)

    def auth_code(self, name: str, payment_id: str) -> str:
        """The authorizer's code as a person gets it: the challenge the CLI shows for the
        payment, answered by their token (dynamic linking)."""
        shown = self.env.cli("challenge", payment_id, "--session", self.token(name), "--json")
        assert shown.code == 0, shown.stdout + shown.stderr
        uri = self.people[name].uri + "\n"
        answered = self.env.cli("otp", "--challenge", shown.data["challenge"], "--json", stdin=uri)
        assert answered.code == 0, answered.stdout + answered.stderr
        return str(answered.data["code"])

    def request_file(
        self,
        request_id: str,
        order_id: str,
        amount: str = "1250.00",
        enterprise: str = E1,
        account: str = ACC1,
        bank: str = "BOC",
    ) -> Path:
        path = self.env.workdir / f"{request_id}.json"
        path.write_text(
            json.dumps(
                {
                    "request_id": request_id,
                    "order_id": order_id,
                    "payer": {"enterprise_id": enterprise, "account": account, "name": "Payer Co."},
                    "payee": {
                        "bank_code": "ICBC",
                        "account": "62220200001234",
                        "name": "Supplier Co.",
                    },
                    "amount": amount,
                    "currency": "CNY",
                    "bank": bank,
                    "purpose": "order payment",
                }
            )
        )
        return path

    def submit(self, path: Path, applicant: str, code: str | None = None) -> Any:
        return self.env.cli(
            "submit",
            str(path),
            "--session",
            self.token(applicant),
            "--otp",
            code or self.code(applicant),
            "--json",
        )

    def status(self, payment_id: str, viewer: str = "rev1") -> dict[str, Any]:
        """The payment as a person of its enterprise sees it (rev1 is of E1)."""
        return self.env.cli("status", payment_id, "--session", self.token(viewer), "--json").data

    def settled_status(self, payment_id: str, status: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            found = self.status(payment_id)
            return found if found.get("status") == status else None

        result: dict[str, Any] = wait_until(
            f"{payment_id} to be {status} in the read model", reached
        )
        return result

    def events_of(self, payment_id: str) -> list[dict[str, Any]]:
        out = self.env.cli("events", "--json").stdout.splitlines()
        return [e for e in map(json.loads, out) if e["payment_id"] == payment_id]

    def recorded_refusals(self) -> dict[str, str]:
        """The reason code of every refusal on the events stream, by the command it answers."""
        out = self.env.cli("events", "--json").stdout.splitlines()
        return {
            e["command_id"]: e["reason_code"]
            for e in map(json.loads, out)
            if e["kind"] == "refusal" and e["command_id"]
        }

    def login(self, name: str) -> Any:
        password = self.people[name].password + "\n"
        return self.env.cli("login", name, "--password-stdin", "--json", stdin=password)

    def snapshot(self, payment_id: str) -> tuple[Any, ...]:
        """Everything a refused command must leave unchanged."""
        key = f"{self.env.prefix}payment:{payment_id}"
        c = self.env.redis
        fields = {k: v for k, v in c.hgetall(key).items() if not k.startswith(b"cmd:")}
        return fields, c.lrange(f"{key}:history", 0, -1)


@pytest.fixture(scope="module")
def world(e2e: Stack) -> World:
    for args in (
        ("admin", "add-bank", "BOC", "--name", "Bank of China"),
        ("admin", "add-bank", "ICBC", "--name", "ICBC"),
        ("admin", "add-bank", "NOB2B", "--name", "No B2B Bank", "--no-b2b"),
        (
            "admin",
            "add-enterprise",
            E1,
            "--name",
            "Acme",
            "--bank",
            "BOC",
            "--bank",
            "NOB2B",
            "--account",
            ACC1,
        ),
        (
            "admin",
            "add-enterprise",
            E2,
            "--name",
            "Tiny",
            "--bank",
            "BOC",
            "--account",
            ACC2,
            "--not-eligible",
        ),
        ("admin", "add-enterprise", E3, "--name", "Other", "--bank", "BOC", "--account", ACC3),
    ):
        result = e2e.cli(*args, "--json")
        assert result.code == 0, result.stderr
    people: dict[str, Person] = {}
    roster = [(f"app{i}", "applicant", E1) for i in range(1, 9)] + [
        ("rev1", "reviewer", E1),
        ("auth1", "authorizer", E1),
        ("auth2", "authorizer", E1),
        ("rev3", "reviewer", E3),
        ("app_tiny", "applicant", E2),
        ("app_sessions", "applicant", E1),
        ("app_lockout", "applicant", E1),
        ("app_link_a", "applicant", E1),
        ("app_link_b", "applicant", E1),
        ("auth_link", "authorizer", E1),
    ]
    for name, role, enterprise in roster:
        password = secrets.token_urlsafe(12)
        added = e2e.cli(
            "admin",
            "add-user",
            name,
            "--enterprise",
            enterprise,
            "--role",
            role,
            "--password-stdin",
            "--json",
            stdin=password + "\n",
        )
        assert added.code == 0, added.stderr
        assert added.data["totp_uri"].startswith("otpauth://totp/")
        assert password not in added.stdout
        login = e2e.cli("login", name, "--password-stdin", "--json", stdin=password + "\n")
        assert login.code == 0, login.stderr
        people[name] = Person(
            name, role, enterprise, added.data["totp_uri"], password, login.data["token"]
        )
    return World(e2e, people)


def test_a_payment_goes_from_request_to_settled_through_five_worker_processes(world: World) -> None:
    path = world.request_file("e2e-happy", "ORDER-HAPPY")
    submitted = world.submit(path, "app1")
    assert submitted.code == 0, submitted.stdout + submitted.stderr
    assert submitted.data["status"] == "otp_verified"
    pid = submitted.data["payment_id"]

    reviewed = world.env.cli("review", pid, "--approve", "--session", world.token("rev1"), "--json")
    assert (reviewed.code, reviewed.data["status"]) == (0, "pending_auth"), reviewed.stdout
    authorized = world.env.cli(
        "authorize",
        pid,
        "--approve",
        "--session",
        world.token("auth1"),
        "--otp",
        world.auth_code("auth1", pid),
        "--json",
    )
    assert (authorized.code, authorized.data["status"]) == (0, "authorized"), authorized.stdout

    final = world.settled_status(pid, "settled")
    assert [h["status"] for h in final["history"]] == FULL_HISTORY
    assert [h["actor_id"] for h in final["history"][:5]] == ["app1", "app1", None, "rev1", "auth1"]
    events = world.events_of(pid)
    assert [e["seq"] for e in events] == list(range(1, 8))
    assert [e["status"] for e in events] == FULL_HISTORY
    assert all(e["kind"] == "transition" for e in events)
    listed = world.env.cli(
        "list", "--status", "settled", "--session", world.token("rev1"), "--json"
    )
    assert pid in [p["payment_id"] for p in listed.data["payments"]]

    # The same request again is the same payment, not a second execution.
    again = world.submit(path, "app1")
    assert (again.code, again.data["outcome"], again.data["payment_id"]) == (0, "duplicate", pid)
    # Same request_id, other content: refused, and the payment is untouched.
    before = world.snapshot(pid)
    conflict = world.submit(
        world.request_file("e2e-happy", "ORDER-HAPPY", amount="1250.01"), "app1"
    )
    assert (conflict.code, conflict.data["reason_code"]) == (1, "idempotency_conflict")
    assert world.snapshot(pid) == before
    # After authorization nobody can cancel it (seed step 15).
    cancelled = world.env.cli("cancel", pid, "--session", world.token("app1"), "--json")
    assert (cancelled.code, cancelled.data["reason_code"]) == (1, "illegal_transition")
    assert world.snapshot(pid) == before


def test_a_reviewer_rejection_and_an_applicant_cancellation_end_the_payments(world: World) -> None:
    rejected = world.submit(world.request_file("e2e-reject", "ORDER-REJECT"), "app2")
    assert rejected.code == 0, rejected.stdout
    pid = rejected.data["payment_id"]
    no_reason = world.env.cli("review", pid, "--reject", "--session", world.token("rev1"), "--json")
    assert no_reason.code == 2  # bad input: nothing enqueued
    decision = world.env.cli(
        "review",
        pid,
        "--reject",
        "--reason",
        "wrong payee",
        "--session",
        world.token("rev1"),
        "--json",
    )
    assert (decision.code, decision.data["status"]) == (0, "rejected")
    final = world.settled_status(pid, "rejected")
    assert final["history"][-1]["reason"] == "wrong payee"

    withdrawn = world.submit(world.request_file("e2e-cancel", "ORDER-CANCEL"), "app3")
    pid2 = withdrawn.data["payment_id"]
    cancelled = world.env.cli(
        "cancel", pid2, "--session", world.token("app3"), "--reason", "order changed", "--json"
    )
    assert (cancelled.code, cancelled.data["status"]) == (0, "cancelled")
    # A cancelled order is free for a new payment.
    renewed = world.submit(world.request_file("e2e-cancel-2", "ORDER-CANCEL"), "app4")
    assert (renewed.code, renewed.data["status"]) == (0, "otp_verified"), renewed.stdout


@contextmanager
def _server(env: Stack) -> Iterator[Any]:
    """The dependencies the API server builds (what sends people's commands to the stages),
    on the same broker as the workers; its connections closed after use."""
    deps = bootstrap(env.settings_like())
    try:
        yield deps
    finally:
        deps.broker.close()
        deps.redis.close()


def _at_the_stage(env: Stack, result: Any, path: Path, session: str, otp: str) -> Any:
    """A submit's answer; when the API refused its session itself (nothing was enqueued), the
    same command sent to the stage as the server would, and the stage's verdict as the CLI
    shows it: the stage's own refusal and its record are what the test is about."""
    if result.code != 1 or "command_id" in result.data:
        return result
    assert result.data["reason_code"] == AUTH_FAILED, result.stdout
    request = json.loads(path.read_text())
    with _server(env) as server:
        sent = client.submit(server, request, session=session, otp=otp, wait=20)
    assert sent.verdict is not None and sent.verdict.outcome == "refused"
    result.data = sent.verdict.model_dump()
    return result


def test_every_refusal_has_its_reason_code_and_changes_nothing(world: World) -> None:
    env = world.env
    live = world.submit(world.request_file("e2e-live", "ORDER-LIVE"), "app5")
    assert live.code == 0, live.stdout
    pid = live.data["payment_id"]
    wait_until("intake", lambda: world.snapshot(pid)[0].get(b"status") == b"pending_review")
    before = world.snapshot(pid)
    events_before = len(world.events_of(pid))
    signer = SessionSigner(env.env["B2BPAY_SESSION_SECRET"].encode(), 900, clock=lambda: 0.0)
    expired, _ = signer.issue("rev1", E1, "reviewer")
    forged = world.token("rev1")[:-4] + "AAAA"

    # (what, command, the code the person is shown, the code recorded on the events stream)
    cases = [
        (
            "applicant reviews",
            ("review", pid, "--approve", "--session", world.token("app5")),
            "wrong_role",
            "wrong_role",
        ),
        (
            "other enterprise",
            ("review", pid, "--approve", "--session", world.token("rev3")),
            # Told as for a payment that does not exist (issue 7, item 4).
            "payment_not_found",
            "payment_not_found",
        ),
        (
            "expired session",
            ("review", pid, "--approve", "--session", expired),
            AUTH_FAILED,
            "session_expired",
        ),
        (
            "forged session",
            ("review", pid, "--approve", "--session", forged),
            AUTH_FAILED,
            "session_invalid",
        ),
        (
            "authorize before review",
            (
                "authorize",
                pid,
                "--approve",
                "--session",
                world.token("auth2"),
                "--otp",
                world.code("auth2"),
            ),
            "illegal_transition",
            "illegal_transition",
        ),
    ]
    answered: dict[str, str] = {}
    shown_reasons: set[str] = set()
    for what, args, shown, _recorded in cases:
        result = env.cli(*args, "--json")
        assert (result.code, result.data.get("reason_code")) == (1, shown), (
            f"{what}: {result.stdout}{result.stderr}"
        )
        if "command_id" in result.data:
            answered[what] = result.data["command_id"]
        else:
            # The API refuses a bad session itself, before anything is enqueued; the stage's
            # own refusal is checked by sending the command there as the server would.
            with _server(env) as server:
                sent = client.review(server, pid, approve=True, session=args[4], wait=20)
            assert sent.verdict is not None and sent.verdict.reason_code == shown, what
            answered[what] = sent.command_id
            shown_reasons.add(str(sent.verdict.reason))
        if shown == AUTH_FAILED:
            shown_reasons.add(result.data.get("reason") or result.data["error"])
        assert world.snapshot(pid) == before, what
    # Whichever factor failed, the person reads the same words.
    assert len(shown_reasons) == 1, shown_reasons
    recorded = world.recorded_refusals()
    for what, _args, _shown, reason in cases:
        assert recorded.get(answered[what]) == reason, what
    # The payer's own people's refusals are on the payment's numbered sequence; those of
    # outsiders (a bad session, another enterprise) are on record outside it (seq 0) and
    # carry nothing of the payment.
    outsiders = {"other enterprise", "expired session", "forged session"}
    later = world.events_of(pid)[events_before:]
    attached = [e for e in later if e["seq"]]
    assert [e["reason_code"] for e in attached] == [c[3] for c in cases if c[0] not in outsiders]
    assert all(e["kind"] == "refusal" and e["status"] == "pending_review" for e in attached)
    unattached = [e for e in later if not e["seq"]]
    assert [e["reason_code"] for e in unattached] == [c[3] for c in cases if c[0] in outsiders]
    assert all(e["status"] is None and e["amount"] is None for e in unattached)
    seqs = [e["seq"] for e in world.events_of(pid) if e["seq"]]
    assert seqs == list(range(1, len(seqs) + 1))

    # Refusals at apply create no payment at all.
    new_cases = [
        (
            "wrong code",
            "e2e-bad-otp",
            "ORDER-X1",
            "app6",
            f"{(int(world.code('app6')) + 1) % 10**6:06d}",
            {},
            AUTH_FAILED,
            "otp_invalid",
        ),
        ("replayed code", "e2e-replay", "ORDER-X2", "app8", None, {}, AUTH_FAILED, "otp_replayed"),
        (
            "second payment for a live order",
            "e2e-dup-order",
            "ORDER-LIVE",
            "app7",
            None,
            {},
            "duplicate_order",
            "duplicate_order",
        ),
        (
            "ineligible payer",
            "e2e-tiny",
            "ORDER-X3",
            "app_tiny",
            None,
            {"enterprise": E2, "account": ACC2},
            "payer_not_eligible",
            "payer_not_eligible",
        ),
        (
            "bank without B2B",
            "e2e-nob2b",
            "ORDER-X4",
            "app6",
            None,
            {"bank": "NOB2B"},
            "bank_not_b2b",
            "bank_not_b2b",
        ),
        (
            "reviewer submits",
            "e2e-role",
            "ORDER-X5",
            "rev1",
            "123456",
            {},
            "wrong_role",
            "wrong_role",
        ),
    ]
    answered = {}
    for what, request_id, order, user, code, extra, shown, _recorded in new_cases:
        if what == "replayed code":
            # app8 spends a code on a payment, then types the same code for another one.
            code = world.code("app8")
            spent = world.submit(world.request_file("e2e-replay-first", "ORDER-X2a"), "app8", code)
            assert spent.code == 0, spent.stdout
        result = world.submit(world.request_file(request_id, order, **extra), user, code)
        assert (result.code, result.data.get("reason_code")) == (1, shown), (
            f"{what}: {result.stdout}{result.stderr}"
        )
        if shown == AUTH_FAILED:
            assert result.data["reason"] in shown_reasons, what
        answered[what] = result.data["command_id"]
        assert env.redis.exists(f"{env.prefix}payment:{result.data['payment_id']}") == 0, what
    recorded = world.recorded_refusals()
    for what, *_rest, reason in new_cases:
        assert recorded.get(answered[what]) == reason, what
    assert world.snapshot(pid) == before


def test_bad_input_is_refused_before_anything_is_enqueued(world: World) -> None:
    env = world.env
    queue_key = f"{env.prefix.rstrip(':')}-queues:apply"
    stream_len = env.redis.xlen(f"{env.prefix}events")
    bad = env.workdir / "bad.json"
    for content in ("{not json", '{"request_id": "x"}', json.dumps([1, 2])):
        bad.write_text(content)
        result = env.cli(
            "submit", str(bad), "--session", world.token("app1"), "--otp", "123456", "--json"
        )
        assert result.code == 2, result.stdout
        assert result.data["error"]
    with_amount = world.request_file("e2e-bad-amount", "ORDER-BAD", amount="-5")
    result = world.submit(with_amount, "app1", "123456")
    assert result.code == 2 and "amount" in result.data["error"]
    assert env.redis.llen(queue_key) == 0
    assert env.redis.xlen(f"{env.prefix}events") == stream_len


def test_logout_revoke_and_disable_end_sessions_at_once(
    world: World,
) -> None:
    env = world.env
    name = "app_sessions"
    counter = iter(range(100))

    def submit(token: str) -> Any:
        n = next(counter)
        path = world.request_file(f"e2e-sessions-{n}", f"ORDER-SESSIONS-{n}")
        result = env.cli(
            "submit", str(path), "--session", token, "--otp", world.code(name), "--json"
        )
        return _at_the_stage(env, result, path, token, world.code(name))

    def refused_as(result: Any, recorded: str) -> None:
        assert (result.code, result.data.get("reason_code")) == (1, AUTH_FAILED), result.stdout
        assert world.recorded_refusals().get(result.data["command_id"]) == recorded
        assert env.redis.exists(f"{env.prefix}payment:{result.data['payment_id']}") == 0

    first, second = world.login(name), world.login(name)
    assert first.code == second.code == 0
    assert first.data["idle_seconds"] == 300

    logged_out = env.cli("logout", "--session", first.data["token"], "--json")
    assert (logged_out.code, logged_out.data) == (0, {"logged_out": True})
    refused_as(submit(first.data["token"]), "session_revoked")

    disabled = env.cli("admin", "disable", name, "--json")
    assert (disabled.code, disabled.data["active"]) == (0, False)
    refused_as(submit(second.data["token"]), "user_locked")
    refused_login = world.login(name)
    wrong_password = env.cli(
        "login", name, "--password-stdin", "--json", stdin="not the password\n"
    )
    unknown_user = env.cli("login", "nobody", "--password-stdin", "--json", stdin="whatever1\n")
    # Disabled, wrong password or no such user: the same answer.
    assert refused_login.code == wrong_password.code == unknown_user.code == 1
    assert refused_login.data == wrong_password.data == unknown_user.data
    assert refused_login.data["reason_code"] == AUTH_FAILED

    enabled = env.cli("admin", "enable", name, "--json")
    assert (enabled.code, enabled.data["active"]) == (0, True)
    # Enabling does not bring the sessions from before back.
    refused_as(submit(second.data["token"]), "session_revoked")
    fresh = world.login(name)
    assert fresh.code == 0, fresh.stdout
    accepted = submit(fresh.data["token"])
    assert (accepted.code, accepted.data["status"]) == (0, "otp_verified"), accepted.stdout

    revoked = env.cli("admin", "revoke", name, "--json")
    assert (revoked.code, revoked.data["sessions_revoked"]) == (0, True)
    refused_as(submit(fresh.data["token"]), "session_revoked")
    assert env.cli("admin", "revoke", "nobody", "--json").code == 2


def test_the_person_is_warned_before_the_failed_code_that_locks_them_and_unlock_lets_them_in(
    world: World,
) -> None:
    env = world.env
    name = "app_lockout"

    def submit(n: int, code: str) -> Any:
        path = world.request_file(f"e2e-lockout-{n}", f"ORDER-LOCKOUT-{n}")
        return _at_the_stage(env, world.submit(path, name, code), path, world.token(name), code)

    wrong = f"{(int(world.code(name)) + 1) % 10**6:06d}"
    shown = [submit(n, wrong) for n in range(5)]
    assert [r.code for r in shown] == [1] * 5
    assert {r.data["reason_code"] for r in shown} == {AUTH_FAILED}
    warned = ["1 attempt left before the user is locked" in r.data["reason"] for r in shown]
    assert warned == [False, False, False, True, False]
    recorded = world.recorded_refusals()
    assert [recorded[r.data["command_id"]] for r in shown] == ["otp_invalid"] * 4 + ["user_locked"]

    locked = submit(5, world.code(name))
    assert (locked.code, locked.data["reason_code"]) == (1, AUTH_FAILED)
    assert world.login(name).code == 1

    unlocked = env.cli("admin", "unlock", name, "--json")
    assert (unlocked.code, unlocked.data["locked"]) == (0, False)
    # Unlocking ends the sessions from before: the person logs in afresh.
    stale = submit(6, world.code(name))
    assert (stale.code, stale.data["reason_code"]) == (1, AUTH_FAILED)
    assert world.recorded_refusals()[stale.data["command_id"]] == "session_revoked"
    fresh = world.login(name)
    assert fresh.code == 0, fresh.stdout
    world.people[name].token = fresh.data["token"]
    accepted = submit(7, world.code(name))
    assert (accepted.code, accepted.data["status"]) == (0, "otp_verified"), accepted.stdout


def test_the_authorizer_sees_amount_and_payee_and_a_code_for_one_payment_fails_another(
    world: World,
) -> None:
    paths = {
        "a": world.request_file("e2e-link-a", "ORDER-LINK-A", amount="300.00"),
        "b": world.request_file("e2e-link-b", "ORDER-LINK-B", amount="900.00"),
    }
    pids = {}
    for key, path in paths.items():
        submitted = world.submit(path, f"app_link_{key}")
        assert submitted.code == 0, submitted.stdout + submitted.stderr
        pids[key] = submitted.data["payment_id"]
        reviewed = world.env.cli(
            "review", pids[key], "--approve", "--session", world.token("rev1"), "--json"
        )
        assert (reviewed.code, reviewed.data["status"]) == (0, "pending_auth"), reviewed.stdout

    shown = world.env.cli("challenge", pids["a"], "--session", world.token("auth_link"), "--json")
    assert shown.code == 0, shown.stdout + shown.stderr
    assert (shown.data["amount"], shown.data["currency"]) == ("300.00", "CNY")
    assert (shown.data["payee_name"], shown.data["payee_account"]) == ("Supplier Co.", ACC_PAYEE)
    code_for_a = world.auth_code("auth_link", pids["a"])

    def authorize(pid: str) -> Any:
        return world.env.cli(
            "authorize",
            pid,
            "--approve",
            "--session",
            world.token("auth_link"),
            "--otp",
            code_for_a,
            "--json",
        )

    refused = authorize(pids["b"])
    assert (refused.code, refused.data["reason_code"]) == (1, AUTH_FAILED), refused.stdout
    assert world.recorded_refusals()[refused.data["command_id"]] == "otp_invalid"
    accepted = authorize(pids["a"])
    assert (accepted.code, accepted.data["status"]) == (0, "authorized"), accepted.stdout


def test_rotating_the_totp_key_without_a_new_key_changes_nothing(world: World) -> None:
    rotated = world.env.cli("admin", "rotate-totp-key", "--json")
    assert rotated.code == 0, rotated.stdout + rotated.stderr
    assert rotated.data == {"users": len(world.people), "reencrypted": 0, "key_id": "dev"}


def test_the_audit_worker_chains_every_event_and_verify_names_a_tampered_entry(
    world: World,
) -> None:
    env = world.env

    def caught_up() -> Any:
        result = env.cli("audit", "verify", "--json")
        return result if result.data.get("events_not_yet_chained") == 0 else None

    intact = wait_until("the audit worker to chain every event", caught_up)
    events = env.cli("events", "--json").stdout.splitlines()
    assert (intact.code, intact.data["ok"], intact.data["broken"]) == (0, True, None)
    assert intact.data["entries"] == intact.data["head_seq"] >= len(events) > 0

    key = f"{env.prefix}audit:log"
    original = env.redis.lindex(key, 2)
    assert original is not None
    edited = original.replace(b'\\"status\\":', b'\\"status\\": ', 1)
    assert edited != original
    env.redis.lset(key, 2, edited)
    try:
        broken = env.cli("audit", "verify", "--json")
    finally:
        env.redis.lset(key, 2, original)
    assert (broken.code, broken.data["ok"], broken.data["broken"]["position"]) == (1, False, 3)
    assert "entry 3 was altered" in broken.data["broken"]["reason"]
    assert env.cli("audit", "verify", "--json").code == 0


def test_no_password_token_or_totp_secret_reaches_a_log_line_or_an_event(world: World) -> None:
    """Runs last in this module: everything the workers logged and every event so far."""
    env = world.env
    logs = "".join(p.read_text() for p in env.workdir.glob("*.log"))
    events = env.cli("events", "--json").stdout
    assert "message handled" in logs and '"kind": "refusal"' in events.replace('":"', '": "')
    for person in world.people.values():
        secret = person.uri.split("secret=")[1].split("&")[0]
        for leaked in (person.password, person.token, secret):
            assert leaked not in logs, f"a secret of {person.name} is in a worker log"
            assert leaked not in events, f"a secret of {person.name} is in the events stream"
