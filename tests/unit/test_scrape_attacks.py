"""``b2bpay top`` scraping a ``/metrics`` URL it does not control (a worker's port taken over
by a local user, a compromised container): the metrics token never leaves for another
address by a redirect, a body without end is cut off, and a URL it cannot parse is an
error that does not print the URL's password."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.metrics.scrape import MAX_SCRAPE_BYTES, ScrapeFailed, scrape

TOKEN = "t0ken-" + "z" * 40


class _Server:
    def __init__(self, answer: type[BaseHTTPRequestHandler]) -> None:
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), answer)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/metrics"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    made: list[_Server] = []
    yield made
    for server in made:
        server.close()


def test_the_token_is_not_sent_on_by_a_redirect(servers: list[_Server]) -> None:
    seen: list[str | None] = []

    class Collector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"# nothing\n")

        def log_message(self, *_args: object) -> None:
            pass

    collector = _Server(Collector)
    servers.append(collector)

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", collector.url)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    redirect = _Server(Redirect)
    servers.append(redirect)
    with pytest.raises(ScrapeFailed):
        scrape(redirect.url, TOKEN)
    assert seen == []


def test_a_body_without_end_is_cut_off(servers: list[_Server]) -> None:
    class Flood(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            chunk = b"# " + b"x" * 65_000 + b"\n"
            try:
                for _ in range(MAX_SCRAPE_BYTES // len(chunk) + 10):
                    self.wfile.write(chunk)
            except OSError:
                pass  # the scraper hung up, as it should

        def log_message(self, *_args: object) -> None:
            pass

    flood = _Server(Flood)
    servers.append(flood)
    with pytest.raises(ScrapeFailed, match="larger than"):
        scrape(flood.url)


def test_a_url_with_a_bad_port_fails_without_showing_its_password() -> None:
    with pytest.raises(ScrapeFailed) as failed:
        scrape("http://user:pa55word@127.0.0.1:99999/metrics", TOKEN)
    assert "pa55word" not in str(failed.value)
