"""The HTTP API over a real socket, with the stages as separate worker processes."""

from __future__ import annotations

import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.app.deps import platforms_of
from tests.api.conftest import ACC1, ACC2, E1, E2
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"


def body(
    order_id: str, otp: str, amount: str = "1250.00", payer: tuple[str, str] = (E1, ACC1)
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "payer": {"enterprise_id": payer[0], "account": payer[1], "name": "Payer Co."},
        "payee": {"bank_code": "BOC", "account": "62220200001234", "name": "Supplier Co."},
        "amount": amount,
        "currency": "CNY",
        "bank": "BOC",
        "purpose": "order payment",
        "otp": otp,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(stack: Stack, who: str, token: str, key: str, amount: str = "1250.00") -> httpx.Response:
    payer = (E2, ACC2) if who == "app_b" else (E1, ACC1)
    with stack.http() as c:
        return c.post(
            "/v1/payments",
            json=body(f"ORD-{key}", stack.world.code(who), amount, payer),
            headers={**bearer(token), "Idempotency-Key": key},
        )


def in_read_model(stack: Stack, token: str, payment_id: str, status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        with stack.http() as c:
            r = c.get(f"/v1/payments/{payment_id}", headers=bearer(token))
        return r.json() if r.status_code == 200 and r.json()["status"] == status else None

    found: dict[str, Any] = wait_until(f"{payment_id} to be {status}", reached)
    return found


def test_a_payment_goes_from_login_to_settled_over_http(stack: Stack) -> None:
    app, rev, auth = (stack.login(n) for n in ("app1", "rev1", "auth1"))
    created = create(stack, "app1", app, f"flow-{secrets.token_hex(4)}")
    assert created.status_code == 201, created.text
    pid = created.json()["payment_id"]
    assert created.json()["status"] == "otp_verified"
    assert created.headers["location"] == f"/v1/payments/{pid}"
    with stack.http(headers=bearer(rev)) as c:
        reviewed = c.post(f"/v1/payments/{pid}/review", json={"approve": True})
    assert (reviewed.status_code, reviewed.json()["status"]) == (200, "pending_auth")
    with stack.http(headers=bearer(auth)) as c:
        shown = c.get(f"/v1/payments/{pid}/challenge").json()
        assert shown["amount"] == "1250.00"
        code = stack.world.auth_code(pid, "auth1")
        authorized = c.post(
            f"/v1/payments/{pid}/authorization", json={"approve": True, "otp": code}
        )
    assert (authorized.status_code, authorized.json()["status"]) == (200, "authorized")
    settled = in_read_model(stack, rev, pid, "settled")
    assert [h["status"] for h in settled["history"]][-1] == "settled"
    with stack.http(headers=bearer(rev)) as c:
        listed = c.get("/v1/payments", params={"status": "settled"}).json()
    assert pid in [p["payment_id"] for p in listed["payments"]]


def test_the_same_key_and_body_give_one_payment_even_from_ten_concurrent_posts(
    stack: Stack,
) -> None:
    token = stack.login("app2")
    key = f"idem-{secrets.token_hex(4)}"
    payload = body(f"ORD-{key}", stack.world.code("app2"))

    def post(_: int) -> httpx.Response:
        with stack.http() as c:
            return c.post(
                "/v1/payments", json=payload, headers={**bearer(token), "Idempotency-Key": key}
            )

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(post, range(10)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == 1, [r.text for r in answers]
    assert set(codes) <= {200, 201}, [r.text for r in answers]
    assert len({r.json()["payment_id"] for r in answers}) == 1

    other = {**payload, "amount": "99.00"}
    with stack.http() as c:
        conflict = c.post(
            "/v1/payments", json=other, headers={**bearer(token), "Idempotency-Key": key}
        )
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.json()["reason_code"] == "idempotency_conflict"


def _snapshot(stack: Stack, pid: str) -> tuple[Any, ...]:
    key = f"{stack.prefix}payment:{pid}"
    fields = {k: v for k, v in stack.redis.hgetall(key).items() if not k.startswith(b"cmd:")}
    return fields, stack.redis.lrange(f"{key}:history", 0, -1)


def test_each_refusal_has_its_http_status_and_changes_nothing(stack: Stack) -> None:
    app, rev, auth, rev_b = (stack.login(n) for n in ("app3", "rev1", "auth1", "rev_b"))
    created = create(stack, "app3", app, f"ref-{secrets.token_hex(4)}")
    pid = created.json()["payment_id"]
    wait_until(
        "pending_review",
        lambda: (
            (stack.world.deps.store.get(pid) or None)
            and stack.world.deps.store.get(pid).status == "pending_review"
        ),
    )  # type: ignore[union-attr]
    before = _snapshot(stack, pid)
    cases = [
        # (token, path, body, status, reason_code)
        (app, f"/v1/payments/{pid}/review", {"approve": True}, 403, "wrong_role"),
        (rev, f"/v1/payments/{pid}/review", {"approve": False}, 422, "reason_required"),
        (rev, f"/v1/payments/{pid}/review", {"approve": "maybe"}, 422, "invalid_request"),
        (
            "forged.token",
            f"/v1/payments/{pid}/review",
            {"approve": True},
            401,
            "authentication_failed",
        ),
        (rev_b, f"/v1/payments/{pid}/review", {"approve": True}, 404, "payment_not_found"),
        (
            auth,
            f"/v1/payments/{pid}/authorization",
            {"approve": True, "otp": "123456"},
            409,
            "illegal_transition",
        ),
    ]
    for token, path, payload, status, code in cases:
        with stack.http() as c:
            r = c.post(path, json=payload, headers=bearer(token))
        assert (r.status_code, r.json()["reason_code"]) == (status, code), (path, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert set(r.json()) >= {
            "type",
            "title",
            "status",
            "detail",
            "reason_code",
            "payment_id",
            "command_id",
        }
        assert _snapshot(stack, pid) == before
    with stack.http(headers=bearer(rev_b)) as c:
        assert c.get(f"/v1/payments/{pid}").status_code == 404
        assert c.get(f"/v1/payments/{pid}/challenge").status_code == 404


def test_an_invalid_field_is_named_without_echoing_the_secret(stack: Stack) -> None:
    token = stack.login("app4")
    secret_otp = "not-a-code-" + secrets.token_hex(8)
    payload = {**body("ORD-x", secret_otp), "amount": "-1"}
    with stack.http() as c:
        r = c.post(
            "/v1/payments", json=payload, headers={**bearer(token), "Idempotency-Key": "bad-1"}
        )
        unauth = c.post("/v1/sessions", json={"username": "app4", "password": 12345678901})
    assert (r.status_code, r.json()["reason_code"]) == (422, "invalid_request")
    assert secret_otp not in r.text and token not in r.text
    assert unauth.status_code == 422 and "12345678901" not in unauth.text


def test_a_session_sees_only_its_enterprise_on_the_event_stream_and_resumes_without_gap_or_repeat(
    stack: Stack,
) -> None:
    app, app_b, rev = (stack.login(n) for n in ("app5", "app_b", "rev1"))
    ours = create(stack, "app5", app, f"sse-a-{secrets.token_hex(4)}").json()["payment_id"]
    theirs = create(stack, "app_b", app_b, f"sse-b-{secrets.token_hex(4)}").json()["payment_id"]
    in_read_model(stack, rev, ours, "pending_review")

    def read(
        last_id: str | None, count: int, params: dict[str, str] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        headers = {**bearer(rev), **({"Last-Event-ID": last_id} if last_id else {})}
        got: list[tuple[str, dict[str, Any]]] = []
        with stack.http() as c, c.stream("GET", "/v1/events", headers=headers, params=params) as r:
            assert r.status_code == 200
            sid = ""
            for line in r.iter_lines():
                if line.startswith("id: "):
                    sid = line[4:]
                elif line.startswith("data: "):
                    got.append((sid, json.loads(line[6:])))
                    if len(got) == count:
                        break  # the connection drops here
        return got

    first = read(None, 2)
    with stack.http(headers=bearer(rev)) as c:
        assert c.post(f"/v1/payments/{ours}/review", json={"approve": True}).status_code == 200
    resumed = read(first[-1][0], 2)
    # Resumed where the dropped stream stopped: the same events as one unbroken read.
    whole = read(None, 4)
    assert [sid for sid, _ in first + resumed] == [sid for sid, _ in whole]
    assert len({sid for sid, _ in whole}) == 4
    assert all(e["enterprise_id"] == E1 for _, e in whole)
    assert theirs not in {e["payment_id"] for _, e in whole}
    only_ours = read(None, 3, {"payment_id": ours})
    assert {e["payment_id"] for _, e in only_ours} == {ours}


def test_a_command_without_a_verdict_in_time_answers_202_and_its_url_gives_the_verdict(
    stack: Stack,
) -> None:
    app, rev, other = (stack.login(n) for n in ("app6", "rev1", "auth1"))
    pid = create(stack, "app6", app, f"late-{secrets.token_hex(4)}").json()["payment_id"]
    wait_until("pending_review", lambda: stack.world.deps.store.get(pid).status == "pending_review")  # type: ignore[union-attr]
    assert stack.stop("review") == 0
    try:
        env_wait = stack.env["B2BPAY_HTTP_WAIT_SECONDS"]
        assert float(env_wait) > 0
        with stack.http(headers=bearer(rev), timeout=60) as c:
            r = c.post(f"/v1/payments/{pid}/review", json={"approve": True})
        assert r.status_code == 202, r.text
        url = r.headers["location"]
        assert url == f"/v1/commands/{r.json()['command_id']}"
        with stack.http(headers=bearer(rev)) as c:
            assert c.get(url).json()["outcome"] == "queued"
        with stack.http(headers=bearer(other)) as c:
            assert c.get(url).status_code == 404
    finally:
        stack.start("review")

    def verdict() -> dict[str, Any] | None:
        with stack.http(headers=bearer(rev)) as c:
            found = c.get(url).json()
        return found if found["outcome"] != "queued" else None

    assert wait_until("the verdict", verdict, timeout=60)["status"] == "pending_auth"


def test_repeated_failed_logins_are_answered_429_with_retry_after(stack: Stack) -> None:
    answers = []
    with stack.http() as c:
        for _ in range(7):
            answers.append(
                c.post("/v1/sessions", json={"username": "throttled", "password": "wrong-pw"})
            )
        right = c.post(
            "/v1/sessions", json={"username": "throttled", "password": stack.passwords["throttled"]}
        )
    assert (
        answers[0].status_code == 401
        and answers[0].json()["reason_code"] == "authentication_failed"
    )
    assert answers[-1].status_code == 429
    assert answers[-1].json()["reason_code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) > 0
    assert right.status_code == 429


def test_logout_ends_the_session_for_every_route(stack: Stack) -> None:
    token = stack.login("app1")
    with stack.http(headers=bearer(token)) as c:
        assert c.delete("/v1/sessions/current").status_code == 204
        after = c.get("/v1/payments")
    assert (after.status_code, after.json()["reason_code"]) == (401, "authentication_failed")


def _platform(stack: Stack, platform_id: str, enterprise: str) -> str:
    directory = stack.world.deps.directory
    _, key = platforms_of(stack.world.deps).add(
        platform_id,
        platform_id.title(),
        [enterprise],
        lambda e: directory.enterprise(e) is not None,
    )
    return key


def test_a_platform_creates_with_its_key_and_the_applicant_confirms_over_http(
    stack: Stack,
) -> None:
    key = _platform(stack, f"plat{secrets.token_hex(3)}", E1)
    other = _platform(stack, f"other{secrets.token_hex(3)}", E1)
    request = body(f"ORD-pl-{secrets.token_hex(3)}", "unused")
    del request["otp"], request["bank"]
    idem = f"pl-{secrets.token_hex(4)}"
    with stack.http(headers={"X-Api-Key": key, "Idempotency-Key": idem}) as c:
        created = c.post("/v1/payments", json=request)
        again = c.post("/v1/payments", json=request)
    assert created.status_code == 201, created.text
    pid = created.json()["payment_id"]
    assert created.json()["status"] == "requested"
    # The pay page's link carries a capability only the server makes (the id is guessable).
    pay_url = created.json()["pay_url"]
    assert pay_url.startswith(f"/pay/{pid}?k=") and len(pay_url) > len(f"/pay/{pid}?k=") + 20
    assert (again.status_code, again.json()["payment_id"]) == (200, pid)
    # Another platform, even of the same payer, is told the payment does not exist.
    with stack.http(headers={"X-Api-Key": other}) as c:
        hidden = c.get(f"/v1/payments/{pid}")
    assert (hidden.status_code, hidden.json()["reason_code"]) == (404, "payment_not_found")
    # A platform never sends a person's code.
    with stack.http(headers={"X-Api-Key": key, "Idempotency-Key": idem + "x"}) as c:
        with_code = c.post("/v1/payments", json={**request, "otp": "123456"})
    assert (with_code.status_code, with_code.json()["reason_code"]) == (422, "invalid_request")
    assert "123456" not in with_code.text
    # An applicant of its own (one code per step and user: no other test spends app7's).
    app = stack.login("app7")
    with stack.http(headers=bearer(app)) as c:
        confirmed = c.post(
            f"/v1/payments/{pid}/confirmation",
            json={"bank": "BOC", "otp": stack.world.code("app7")},
        )
    assert (confirmed.status_code, confirmed.json()["status"]) == (200, "otp_verified")

    def seen_by_platform() -> dict[str, Any] | None:
        with stack.http(headers={"X-Api-Key": key}) as c:
            r = c.get(f"/v1/payments/{pid}")
        return r.json() if r.status_code == 200 and r.json()["status"] != "requested" else None

    assert wait_until(f"{pid} past requested", seen_by_platform)["status"] in (
        "otp_verified",
        "pending_review",
    )


def test_a_wrong_platform_key_is_told_authentication_failed(stack: Stack) -> None:
    with stack.http(headers={"X-Api-Key": "b2bp_" + "x" * 43, "Idempotency-Key": "k"}) as c:
        r = c.get("/v1/payments")
    assert r.status_code == 401
    assert r.json()["reason_code"] == "authentication_failed"


def test_health_and_readiness_answer(stack: Stack) -> None:
    with stack.http() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz").json()
    assert ready["status"] == "ready" and "apply" in ready["queues"]


def test_no_password_code_or_token_reaches_a_log_line(stack: Stack) -> None:
    token = stack.login("app2")
    logs = stack.all_logs()
    for secret in [token, *stack.passwords.values()]:
        assert secret not in logs


def test_prefer_respond_async_answers_202_at_once_and_the_command_url_gives_the_verdict(
    stack: Stack,
) -> None:
    token = stack.login("app9")
    key = f"async-{secrets.token_hex(4)}"
    with stack.http() as c:
        r = c.post(
            "/v1/payments",
            json=body(f"ORD-{key}", stack.world.code("app9")),
            headers={**bearer(token), "Idempotency-Key": key, "Prefer": "respond-async"},
        )
    assert r.status_code == 202, r.text
    assert r.json()["outcome"] == "queued"
    location = r.headers["location"]
    assert location == f"/v1/commands/{r.json()['command_id']}"

    def verdict() -> dict[str, Any] | None:
        with stack.http(headers=bearer(token)) as c:
            got = c.get(location)
        return got.json() if got.json()["outcome"] != "queued" else None

    answered = wait_until("the verdict at the command's URL", verdict)
    assert (answered["outcome"], answered["status"]) == ("accepted", "otp_verified")


def test_a_client_cannot_claim_tls_or_another_address_through_proxy_headers(
    stack: Stack,
) -> None:
    """The attack: a client (a local process among them) sends the headers a proxy would.
    No proxy is named (``B2BPAY_FORWARDED_ALLOW_IPS`` unset), so nobody's are believed."""
    with stack.http(follow_redirects=False) as c:
        page = c.get("/bank/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        logged = c.post(
            "/bank/login",
            data={"username": "rev1", "password": stack.passwords["rev1"], "csrf_token": token[1]},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        )
    assert logged.status_code == 303, logged.text
    cookie = logged.headers["set-cookie"]
    # (Booleans, so a failure does not print the session token.)
    named, secure = cookie.startswith("b2bpay_session="), "Secure" in cookie
    assert named and not secure
    # The server's access log names the address each request came from: the connection's,
    # never the one claimed (with the header believed, it would name 203.0.113.9).
    with stack.http(headers={"X-Forwarded-For": "203.0.113.9"}) as c:
        failed = c.post("/v1/sessions", json={"username": "nobody-x", "password": "wrong-pw"})
    assert failed.status_code == 401
    server_log = stack.workdir / "server.log"
    wait_until(
        "the failed login in the access log",
        lambda: '"POST /v1/sessions HTTP/1.1" 401' in server_log.read_text(),
    )
    assert "127.0.0.1:" in server_log.read_text()
    # And the server's own record of the failure names the connection's address too.
    line = wait_until(
        "the failed login's log line",
        lambda: next((x for x in server_log.read_text().splitlines() if "nobody-x" in x), None),
    )
    assert "login failed" in line and "ip:127.0.0.1" in line
    assert "203.0.113.9" not in server_log.read_text()
