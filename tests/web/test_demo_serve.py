"""``b2bpay demo --serve``: after the demo the screens are served on the embedded stages,
with alice, bob and carol's passwords printed and payments waiting at each step."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.stack import free_port


def test_demo_serve_prints_people_and_links_and_serves_them(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "demo.out"
    env = {**os.environ, "COLUMNS": "200"}
    argv = [sys.executable, "-m", "services.cli.main", "demo", "--payments", "10", "--serve"]
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [*argv, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 90
        text = ""
        while time.monotonic() < deadline and "Waiting for bob" not in text:
            assert proc.poll() is None, out.read_text()[-3000:]
            time.sleep(0.2)  # polling the demo's output, bounded by the deadline
            text = out.read_text()
        if "Waiting for bob" not in text:
            pytest.fail(f"demo --serve printed no links in time:\n{text[-3000:]}")
        assert "All flows behaved as expected." in text
        links = re.findall(rf"http://127\.0\.0\.1:{port}(/pay/pay_\w+\?k=[\w-]+)", text)
        assert len(links) == 2, text[-2000:]
        passwords = dict(re.findall(r"^\s+(alice|bob|carol)\s+\w+\s+password (\S+)", text, re.M))
        assert set(passwords) == {"alice", "bob", "carol"}
        assert "otpauth://totp/b2bpay:carol?secret=" in text
        assert "b2bpay otp --challenge" in text
        assert "Waiting for bob: 2 payments to review; for carol: 2 to authorize" in text
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = c.get(links[0])
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)  # the server is starting; bounded by the deadline
            assert page.status_code == 200 and 'data-testid="amount"' in page.text
            login = c.get("/bank/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token is not None
            c.post(
                "/bank/login",
                data={"username": "bob", "password": passwords["bob"], "csrf_token": token[1]},
            )
            worklist = c.get("/bank/worklist")
            assert worklist.text.count('/review"') == 2, worklist.text
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, out.read_text()[-3000:]
