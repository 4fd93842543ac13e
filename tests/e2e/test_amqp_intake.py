"""The AMQP intake end to end: ``b2bpay worker intake`` as its own process beside the stage
workers (:mod:`tests.e2e.conftest`), on the real RabbitMQ in a vhost of this module's own
(deleted afterwards, with the users it made). Platforms publish as a plain AMQP client would
(py-amqp, the wire protocol only: raw JSON bytes, no Python envelope), each as a RabbitMQ
user of its own, mapped to its platform with ``b2bpay admin platform amqp-user``."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import amqp
import pytest

from services.intake.intake import (
    DEAD_LETTER_QUEUE,
    PUBLISHER_HEADER,
    QUEUE,
    REASON_HEADER,
)
from services.intake.reading import MAX_BODY_BYTES
from shared.app.deps import Deps
from shared.bootstrap import bootstrap
from shared.domain.contracts import payment_id_for
from tests.e2e.conftest import code_of
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.e2e

HOST, PORT = "127.0.0.1", 5672
E1, ACC1 = "AMQP-E1", "62166001000077"
E2, ACC2 = "AMQP-E2", "62166001000088"


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@dataclass
class Rabbit:
    vhost: str
    #: RabbitMQ user -> password
    users: dict[str, str]

    def url(self, user: str) -> str:
        return f"amqp://{user}:{self.users[user]}@{HOST}:{PORT}/{self.vhost}"

    def connect(self, user: str) -> amqp.Connection:
        connection = amqp.Connection(
            f"{HOST}:{PORT}",
            userid=user,
            password=self.users[user],
            virtual_host=self.vhost,
            confirm_publish=True,  # each publish waits for the broker's confirm
        )
        connection.connect()
        return connection


@pytest.fixture(scope="module")
def rabbit() -> Iterator[Rabbit]:
    with socket.socket() as probe:
        if probe.connect_ex((HOST, PORT)) != 0:
            pytest.fail(f"RabbitMQ is not answering on {HOST}:{PORT}: start it")
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl not found: the intake tests make a vhost and users with it")
    tag = secrets.token_hex(4)
    vhost = f"b2bpay-test-intake-{tag}"
    names = {"intake": f"intake-{tag}", "a": f"plat-a-{tag}", "b": f"plat-b-{tag}"}
    names["stranger"] = f"stranger-{tag}"
    users = {name: secrets.token_hex(16) for name in names.values()}
    _ctl("add_vhost", vhost)
    made: list[str] = []
    try:
        _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        for role, user in names.items():
            _ctl("add_user", user, users[user])
            made.append(user)
            if role == "intake":
                _ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
            else:
                # What a platform needs: publish to the requests exchange (not the default
                # exchange, which reaches every queue), and its own reply queue only (with
                # ^reply-.* every platform could read every other's verdicts).
                own = f"^reply-{re.escape(user)}$"
                _ctl("set_permissions", "-p", vhost, user, own, r"^b2bpay\.requests$", own)
        yield Rabbit(vhost, users)
    finally:
        for user in made:
            _ctl("delete_user", user)
        _ctl("delete_vhost", vhost)


@dataclass
class Setup:
    e2e: Stack
    rabbit: Rabbit
    deps: Deps
    intake_user: str
    user_a: str
    user_b: str
    stranger: str
    app_uri: str
    app: str
    rev: str
    auth_uri: str
    auth: str
    log: Any


def _person(e2e: Stack, name: str, role: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(12)
    added = e2e.cli(
        "admin", "add-user", name, "--enterprise", E1, "--role", role, "--password-stdin",
        "--json", stdin=password + "\n",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    login = e2e.cli("login", name, "--password-stdin", "--json", stdin=password + "\n")
    assert login.code == 0, login.stderr
    return added.data["totp_uri"], login.data["token"]


@pytest.fixture(scope="module")
def setup(e2e: Stack, rabbit: Rabbit) -> Iterator[Setup]:
    users = list(rabbit.users)
    intake_user, user_a, user_b, stranger = users
    for args in (
        ("admin", "add-bank", "BOC", "--name", "Bank of China"),
        ("admin", "add-enterprise", E1, "--name", "Acme", "--bank", "BOC", "--account", ACC1),
        ("admin", "add-enterprise", E2, "--name", "Other", "--bank", "BOC", "--account", ACC2),
        ("admin", "add-platform", "plat-a", "--name", "Platform A", "--enterprise", E1),
        ("admin", "add-platform", "plat-b", "--name", "Platform B", "--enterprise", E2),
        ("admin", "platform", "amqp-user", "plat-a", user_a),
        ("admin", "platform", "amqp-user", "plat-b", user_b),
    ):
        done = e2e.cli(*args, "--json")
        assert done.code == 0, done.stdout + done.stderr
    app_uri, app = _person(e2e, "qapp", "applicant")
    _, rev = _person(e2e, "qrev", "reviewer")
    auth_uri, auth = _person(e2e, "qauth", "authorizer")
    deps = bootstrap(e2e.settings_like())
    env = {
        **e2e.env,
        "B2BPAY_AMQP_URL": rabbit.url(intake_user),
        "B2BPAY_INTAKE_WAIT_SECONDS": "20",
        # The intake's fault points (held by the tests that cut its connection at one).
        "B2BPAY_FAULT_HOOKS": "1",
    }
    log = open(e2e.workdir / "intake.log", "w+")  # noqa: SIM115
    intake = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "worker", "intake", "--threads", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    here = Setup(
        e2e, rabbit, deps, intake_user, user_a, user_b, stranger, app_uri, app, rev, auth_uri,
        auth, log,
    )  # fmt: skip
    try:
        wait_until("the intake to declare its queue", lambda: _depth(rabbit) is not None)
        yield here
    finally:
        intake.send_signal(signal.SIGTERM)
        code = intake.wait(timeout=60)
        log.close()
        deps.redis.close()
    text = (e2e.workdir / "intake.log").read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    for user in (app, rev, auth):
        assert user not in text


def _depth(rabbit: Rabbit) -> int | None:
    """Messages ready on the requests queue; None while it does not exist."""
    connection = _as_guest(rabbit)
    try:
        _name, ready, _consumers = connection.channel().queue_declare(QUEUE, passive=True)
        return int(ready)
    except amqp.exceptions.NotFound:
        return None
    finally:
        connection.collect()


class Publisher:
    """A platform's plain AMQP client: raw bytes, properties it chooses, publisher confirms,
    and a reply queue of its own."""

    def __init__(self, rabbit: Rabbit, user: str) -> None:
        self.user = user
        self.connection = rabbit.connect(user)
        self.channel = self.connection.channel()
        # The one reply queue the intake answers this user on.
        self.reply_queue = f"reply-{user}"
        self.channel.queue_declare(self.reply_queue, exclusive=True, auto_delete=True)

    def publish(
        self,
        body: bytes,
        *,
        content_type: str | None = "application/json",
        user_id: str | None = "",
        reply: str | None = None,
        reply_to: str | None = None,
    ) -> None:
        properties: dict[str, Any] = {"delivery_mode": 2}
        if content_type is not None:
            properties["content_type"] = content_type
        if user_id is not None:
            properties["user_id"] = user_id or self.user
        if reply is not None:
            properties["reply_to"] = reply_to or self.reply_queue
            properties["correlation_id"] = reply
        self.channel.basic_publish(
            amqp.Message(body, **properties), exchange=QUEUE, routing_key=QUEUE
        )

    def replies(self, count: int, timeout: float = 60) -> dict[str, list[dict[str, Any]]]:
        """The replies to at least ``count`` requests (correlation ids), by correlation_id.
        A request may be answered twice (its connection lost between the reply and the
        acknowledgement, it is delivered again): that second reply answers no other request,
        so it is never counted as one."""
        got: dict[str, list[dict[str, Any]]] = {}
        deadline = time.monotonic() + timeout
        while len(got) < count:
            message = self.channel.basic_get(self.reply_queue, no_ack=True)
            if message is None:
                assert time.monotonic() < deadline, f"only {got} of {count} replies"
                threading.Event().wait(0.05)  # polling the reply queue, bounded above
                continue
            assert message.properties["content_type"] == "application/json"
            got.setdefault(message.properties["correlation_id"], []).append(
                json.loads(message.body)
            )
        return got

    def close(self) -> None:
        self.connection.collect()


@pytest.fixture
def publisher(setup: Setup) -> Iterator[Any]:
    made: list[Publisher] = []

    def make(user: str) -> Publisher:
        made.append(Publisher(setup.rabbit, user))
        return made[-1]

    yield make
    for one in made:
        one.close()


def _as_guest(rabbit: Rabbit) -> amqp.Connection:
    """An operator's connection (guest), to look at queues."""
    connection = amqp.Connection(
        f"{HOST}:{PORT}", userid="guest", password="guest", virtual_host=rabbit.vhost
    )
    connection.connect()
    return connection


def _dead_letters(setup: Setup, count: int, timeout: float = 30) -> list[amqp.Message]:
    connection = _as_guest(setup.rabbit)
    channel = connection.channel()
    got: list[amqp.Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < count:
            message = channel.basic_get(DEAD_LETTER_QUEUE, no_ack=True)
            if message is None:
                assert time.monotonic() < deadline, f"only {len(got)} of {count} dead letters"
                threading.Event().wait(0.05)  # polling the dead-letter queue, bounded above
                continue
            got.append(message)
    finally:
        connection.collect()
    return got


def _request(enterprise: str = E1, account: str = ACC1, **overrides: Any) -> dict[str, Any]:
    tag = secrets.token_hex(5)
    request: dict[str, Any] = {
        "schema": "b2bpay.payment_request.v2",
        "request_id": f"amqp-req-{tag}",
        "order_id": f"AMQP-ORDER-{tag}",
        "payer": {"enterprise_id": enterprise, "account": account, "name": "Acme"},
        "payee": {"bank_code": "ICBC", "account": "62220200001234", "name": "Supplier Co."},
        "amount": "1250.00",
        "currency": "CNY",
    }
    request.update(overrides)
    return request


def _raw(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()


def _pid(request: dict[str, Any], platform_id: str | None = None) -> str:
    """The payment id a request names: scoped to the platform that made it (``plat-a``) for a
    payment, unscoped for the refusal record of a publisher nobody vouches for."""
    return payment_id_for(request["payer"]["enterprise_id"], request["request_id"], platform_id)


def _nothing_made(setup: Setup, request: dict[str, Any]) -> bool:
    """No payment exists for ``request``, in any platform's name nor in nobody's."""
    return all(
        _status(setup, _pid(request, platform_id)) is None
        for platform_id in (None, "plat-a", "plat-b")
    )


def _status(setup: Setup, payment_id: str) -> str | None:
    payment = setup.deps.store.get(payment_id)
    return payment.status.value if payment is not None else None


def _reason(message: amqp.Message) -> str:
    return str(message.properties["application_headers"][REASON_HEADER])


# -- who may publish in a platform's name ----------------------------------------------------
def test_a_platform_cannot_publish_a_request_in_another_platforms_name(
    setup: Setup, publisher: Any
) -> None:
    a = publisher(setup.user_a)
    # B's payer, in B's name, sent by A as A (user_id is checked by RabbitMQ: A cannot lie).
    in_b_name = _request(E2, ACC2, platform_id="plat-b")
    a.publish(_raw(in_b_name), reply="as-b")
    # The same, without any user_id; and from a RabbitMQ user that is no platform's.
    anonymous = _request(E2, ACC2, platform_id="plat-b")
    a.publish(_raw(anonymous), user_id=None, reply="anonymous")
    stranger = publisher(setup.stranger)
    by_stranger = _request(E2, ACC2)
    stranger.publish(_raw(by_stranger), reply="stranger")

    letters = {_reason(m): m for m in _dead_letters(setup, 3)}
    assert set(letters) == {"platform_mismatch", "platform_unknown"}
    assert (
        letters["platform_mismatch"].properties["application_headers"][PUBLISHER_HEADER]
        == setup.user_a
    )
    # The message without user_id is not answered: nothing vouches whose queue to answer.
    assert set(got := a.replies(1)) == {"as-b"}
    assert got["as-b"][0]["reason_code"] == "platform_mismatch"
    assert a.channel.basic_get(a.reply_queue, no_ack=True) is None
    assert stranger.replies(1)["stranger"][0]["reason_code"] == "platform_unknown"
    for request in (in_b_name, anonymous, by_stranger):
        assert _nothing_made(setup, request)
    # Each refusal is on the events stream (and so in the audit chain) for operators.
    refusals = {
        (e.payment_id, e.actor_id, e.reason_code)
        for _sid, e in setup.deps.store.read_events(count=100_000)
        if e.stage == "intake"
    }
    assert refusals >= {
        (_pid(in_b_name), setup.user_a, "platform_invalid"),
        (_pid(anonymous), None, "platform_invalid"),
        (_pid(by_stranger), setup.stranger, "platform_invalid"),
    }


def test_a_platform_cannot_have_the_intake_answer_into_a_queue_not_its_own(
    setup: Setup, publisher: Any
) -> None:
    """The intake publishes replies with its own rights: a reply_to naming another platform's
    reply queue (or any queue of b2bpay's) would make it a confused deputy, spoofing verdicts
    to B or writing into queues A may not write. Only ``reply-<user_id>`` is answered."""
    a, b = publisher(setup.user_a), publisher(setup.user_b)
    into_b = _request()
    a.publish(_raw(into_b), reply="spoofed", reply_to=b.reply_queue)
    into_dead = _request()
    a.publish(_raw(into_dead), reply="into-dead", reply_to=DEAD_LETTER_QUEUE)
    without_user = _request()
    a.publish(_raw(without_user), user_id=None, reply="no-user")

    letters = _dead_letters(setup, 3)
    # Without user_id a v2 request is refused for that first; it is not answered either.
    assert sorted(_reason(m) for m in letters) == [
        "platform_unknown",
        "reply_to_invalid",
        "reply_to_invalid",
    ]
    assert b.channel.basic_get(b.reply_queue, no_ack=True) is None
    assert a.channel.basic_get(a.reply_queue, no_ack=True) is None
    for request in (into_b, into_dead, without_user):
        assert _nothing_made(setup, request)


def test_a_platform_cannot_read_another_platforms_replies(setup: Setup, publisher: Any) -> None:
    """With the permissions ``b2bpay admin platform amqp-user`` prints, A's user may read
    only ``reply-<A>``: B's verdicts (payment ids, statuses) are not A's to read."""
    a, b = publisher(setup.user_a), publisher(setup.user_b)
    b.publish(_raw(_request(E2, ACC2)), reply="b-own")
    assert b.replies(1)["b-own"][0]["outcome"] == "accepted"
    with pytest.raises(amqp.exceptions.AccessRefused):
        a.channel.basic_get(b.reply_queue, no_ack=True)


def test_rabbitmq_refuses_a_user_id_that_is_not_the_connections_user(
    setup: Setup, publisher: Any
) -> None:
    a = publisher(setup.user_a)
    with pytest.raises(amqp.exceptions.PreconditionFailed):
        a.publish(_raw(_request(E2, ACC2)), user_id=setup.user_b)


# -- requests that settle --------------------------------------------------------------------
def test_a_plain_json_request_settles_and_its_reply_carries_the_verdict(
    setup: Setup, publisher: Any
) -> None:
    e2e = setup.e2e
    a = publisher(setup.user_a)
    request = _request()
    a.publish(_raw(request), reply="corr-1")
    reply = a.replies(1)["corr-1"][0]
    assert (reply["outcome"], reply["status"], reply["payment_id"]) == (
        "accepted",
        "requested",
        _pid(request, "plat-a"),
    )
    pid = reply["payment_id"]

    confirmed = e2e.cli(
        "confirm", pid, "--session", setup.app, "--otp", code_of(setup.app_uri), "--bank", "BOC",
        "--json",
    )  # fmt: skip
    assert (confirmed.code, confirmed.data["status"]) == (0, "otp_verified"), confirmed.stdout
    reviewed = e2e.cli("review", pid, "--approve", "--session", setup.rev, "--json")
    assert (reviewed.code, reviewed.data["status"]) == (0, "pending_auth"), reviewed.stdout
    shown = e2e.cli("challenge", pid, "--session", setup.auth, "--json")
    answered = e2e.cli(
        "otp", "--challenge", shown.data["challenge"], "--json", stdin=setup.auth_uri + "\n"
    )
    authorized = e2e.cli(
        "authorize", pid, "--approve", "--session", setup.auth, "--otp", answered.data["code"],
        "--json",
    )  # fmt: skip
    assert (authorized.code, authorized.data["status"]) == (0, "authorized"), authorized.stdout
    wait_until(f"{pid} to settle", lambda: _status(setup, pid) == "settled")
    payment = setup.deps.store.get(pid)
    assert payment is not None and payment.platform_id == "plat-a"


def test_the_same_request_published_twice_is_one_payment(setup: Setup, publisher: Any) -> None:
    a = publisher(setup.user_a)
    request = _request()
    a.publish(_raw(request), reply="first")
    a.publish(_raw(request), reply="again")
    replies = a.replies(2)
    # Taken by two consumers at once: either may come first.
    assert sorted(r[0]["outcome"] for r in replies.values()) == ["accepted", "duplicate"]
    assert {r[0]["payment_id"] for r in replies.values()} == {_pid(request, "plat-a")}
    payment = setup.deps.store.get(_pid(request, "plat-a"))
    assert payment is not None
    assert [h.status for h in payment.history if h.kind == "transition"] == ["requested"]


def test_unusable_messages_are_dead_lettered_with_reasons_while_valid_ones_behind_settle(
    setup: Setup, publisher: Any
) -> None:
    a = publisher(setup.user_a)
    session, otp = "s3cr3t-session-" + secrets.token_hex(8), "123456"
    v1_invalid = _request(schema="b2bpay.payment_request.v1", amount="-5", bank="BOC")
    v1_invalid.update(session=session, otp=otp)
    a.publish(b"\x00not json{", reply="garbage")
    a.publish(_raw(_request()), content_type=None)
    a.publish(_raw(_request()), content_type="text/plain")
    a.publish(_raw(_request(amount="12.345")))
    a.publish(_raw(v1_invalid))
    a.publish(_raw(_request(purpose="x" * MAX_BODY_BYTES)))
    valid = _request()
    a.publish(_raw(valid), reply="valid")

    assert a.replies(2)["valid"][0]["status"] == "requested"
    letters = _dead_letters(setup, 6)
    # Two consumers take messages at once: the dead letters' order is not the publishing one.
    assert sorted(_reason(m) for m in letters) == [
        "content_type_invalid",
        "content_type_invalid",
        "invalid_request",
        "invalid_request",
        "not_json",
        "too_large",
    ]
    assert all(m.properties["delivery_mode"] == 2 for m in letters)
    kept = [json.loads(m.body) for m in letters]
    (kept_v1,) = [k for k in kept if k.get("schema") == "b2bpay.payment_request.v1"]
    assert (kept_v1["session"], kept_v1["otp"]) == ("[removed]", "[removed]")
    assert kept_v1["amount"] == "-5"
    by_reason = {_reason(m): k for m, k in zip(letters, kept, strict=True)}
    assert by_reason["not_json"]["undecodable"] is True
    assert by_reason["too_large"]["size"] > MAX_BODY_BYTES
    everything = "".join(str(m.body) for m in letters)
    assert session not in everything and "not json" not in everything
    assert _status(setup, _pid(valid, "plat-a")) == "requested"


def test_a_connection_closed_mid_flow_loses_nothing(setup: Setup, publisher: Any) -> None:
    a = publisher(setup.user_a)
    requests = [_request() for _ in range(150)]
    paced = threading.Event()  # never set: its wait() paces the publisher

    def publish_all() -> None:
        for n, request in enumerate(requests):
            a.publish(_raw(request), reply=f"r{n}")
            paced.wait(0.02)

    publishing = threading.Thread(target=publish_all, name="platform-a")
    publishing.start()
    wait_until(
        "some requests to be taken", lambda: _status(setup, _pid(requests[3], "plat-a")) is not None
    )
    _ctl("close_all_user_connections", setup.intake_user, "test: a dropped connection")
    # Mid-flow: the platform was still publishing when the intake lost its connection.
    assert publishing.is_alive()
    publishing.join(timeout=60)

    wait_until(
        "every request to be a payment",
        lambda: all(_status(setup, _pid(r, "plat-a")) == "requested" for r in requests),
        timeout=90,
    )
    replies = a.replies(len(requests), timeout=60)
    assert set(replies) == {f"r{n}" for n in range(len(requests))}
    for n, request in enumerate(requests):
        assert {r["payment_id"] for r in replies[f"r{n}"]} == {_pid(request, "plat-a")}
        # Answered as documented: the verdict, ``duplicate`` when delivered again after the
        # cut, or ``queued`` when no verdict came in time; never a refusal.
        assert {r["outcome"] for r in replies[f"r{n}"]} <= {"accepted", "duplicate", "queued"}
        payment = setup.deps.store.get(_pid(request, "plat-a"))
        assert payment is not None
        assert [h.status for h in payment.history if h.kind == "transition"] == ["requested"]
    assert _depth(setup.rabbit) == 0
    log = (setup.e2e.workdir / "intake.log").read_text()
    assert "intake: broker or Redis unavailable; retrying" in log


# -- a connection cut at each point between the payment and the acknowledgement ---------------
def _cut_at(setup: Setup, point: str, publish: Any) -> None:
    """Hold the intake at ``point`` while it handles what ``publish`` sends, cut every
    connection of the intake's user there, then let it go on (on a dead connection)."""
    faults = setup.deps.faults
    faults.hold(point)
    try:
        publish()
        assert faults.wait_held(point, timeout=60), f"the intake never reached {point}"
        _ctl("close_all_user_connections", setup.intake_user, f"test: cut at {point}")
    finally:
        faults.release(point)


def _queue_exists(setup: Setup, name: str) -> bool:
    connection = _as_guest(setup.rabbit)
    try:
        connection.channel().queue_declare(name, passive=True)
        return True
    except amqp.exceptions.NotFound:
        return False
    finally:
        connection.collect()


def _logged_reply(setup: Setup, correlation_id: str) -> bool:
    log = (setup.e2e.workdir / "intake.log").read_text()
    return any(
        '"intake replied"' in line and f'"correlation_id": "{correlation_id}"' in line
        for line in log.splitlines()
    )


def test_a_connection_cut_between_the_payment_and_its_reply_still_answers_it(
    setup: Setup, publisher: Any
) -> None:
    """The payment exists, its verdict is not yet published: the publish fails on the cut
    connection, the unacknowledged message is delivered again, and that delivery is
    answered ``duplicate`` with the payment id. No reply is lost."""
    a = publisher(setup.user_a)
    request = _request()
    pid = _pid(request, "plat-a")
    _cut_at(setup, "intake.before_reply", lambda: a.publish(_raw(request), reply="cut-early"))
    assert _status(setup, pid) == "requested"

    (reply,) = a.replies(1)["cut-early"]
    assert (reply["outcome"], reply["status"], reply["payment_id"]) == (
        "duplicate",
        "requested",
        pid,
    )
    payment = setup.deps.store.get(pid)
    assert payment is not None
    assert [h.status for h in payment.history if h.kind == "transition"] == ["requested"]
    wait_until("the request to be acknowledged", lambda: _depth(setup.rabbit) == 0)


def test_a_connection_cut_after_the_reply_answers_twice_and_that_counts_as_one_request(
    setup: Setup, publisher: Any
) -> None:
    """Replied, then cut before the acknowledgement: the message is delivered again and
    answered again (at least once means possibly twice). A platform (and this module's
    ``replies``) must count requests answered, not replies: counting replies, the second
    answer to ``twice`` passed for the answer to ``behind``, the race that lost ``r149``."""
    a = publisher(setup.user_a)
    twice, behind = _request(), _request()
    _cut_at(setup, "intake.before_ack", lambda: a.publish(_raw(twice), reply="twice"))

    def both_replies_waiting() -> bool:
        _name, ready, _consumers = a.channel.queue_declare(a.reply_queue, passive=True)
        return int(ready) == 2

    wait_until("both replies to 'twice'", both_replies_waiting, timeout=60)
    a.publish(_raw(behind), reply="behind")
    got = a.replies(2)
    assert set(got) == {"twice", "behind"}
    assert [(r["outcome"], r["payment_id"]) for r in got["twice"]] == [
        ("accepted", _pid(twice, "plat-a")),
        ("duplicate", _pid(twice, "plat-a")),
    ]
    assert [(r["outcome"], r["payment_id"]) for r in got["behind"]] == [
        ("accepted", _pid(behind, "plat-a"))
    ]
    payment = setup.deps.store.get(_pid(twice, "plat-a"))
    assert payment is not None
    assert [h.status for h in payment.history if h.kind == "transition"] == ["requested"]


def test_a_platform_that_lost_its_reply_publishes_the_request_again_and_is_told_the_payment(
    setup: Setup, publisher: Any
) -> None:
    """A reply published while the platform's reply queue is gone (its connection dropped,
    its exclusive queue with it) reaches no one. The platform publishes the same request
    again: the same payment, answered ``duplicate`` with its id and status."""
    a = publisher(setup.user_a)
    request = _request()
    pid = _pid(request, "plat-a")
    faults = setup.deps.faults
    faults.hold("intake.before_reply")
    try:
        a.publish(_raw(request), reply="lost")
        assert faults.wait_held("intake.before_reply", timeout=60)
        a.close()  # the platform's connection drops, and its reply queue with it
    finally:
        faults.release("intake.before_reply")
    wait_until("the reply into nowhere", lambda: _logged_reply(setup, "lost"), timeout=60)
    wait_until("the reply queue to go", lambda: not _queue_exists(setup, a.reply_queue))

    again = publisher(setup.user_a)
    again.publish(_raw(request), reply="again")
    (reply,) = again.replies(1)["again"]
    assert (reply["outcome"], reply["status"], reply["payment_id"]) == (
        "duplicate",
        "requested",
        pid,
    )
    payment = setup.deps.store.get(pid)
    assert payment is not None
    assert [h.status for h in payment.history if h.kind == "transition"] == ["requested"]
