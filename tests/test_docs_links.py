"""The README stays a README, and no link in it or in docs/ is dead.

Every relative link (and image) in README.md and docs/**/*.md must name a file that exists,
and every ``#anchor`` must name a heading of the page it points into, slugged the way GitHub
renders it. Only files are read: no network, no server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: The hard limit the issue sets on the README (counted as ``wc -l`` counts).
README_MAX_LINES = 250

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
#: ``[text](target)`` and ``![alt](target)``, the target up to a space or the closing ``)``.
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
#: Schemes a link may have that this test does not follow.
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks, where a ``#`` or ``[x](y)`` is markup."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: inline markup reduced to its text, lowercased,
    every character that is not a letter, a digit (any script, so CJK stays), ``-``, ``_`` or
    a space dropped, and each space turned into ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML keeps its text
    kept = (c for c in text.lower() if c.isalnum() or c in "-_ ")
    return "".join(kept).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor a page has: its headings' slugs, a repeated slug numbered ``-1``, ``-2``
    … in order, and any explicit ``<a id=…>``/``<a name=…>``."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose_lines(markdown):
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> Iterator[str]:
    """The targets of a page's links and images, outside code (fenced or inline)."""
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        yield from _LINK.findall(_INLINE_CODE.sub("", line))


def _where(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_slug_follows_githubs_rules() -> None:
    assert slug("The screens: pay page and online banking") == (
        "the-screens-pay-page-and-online-banking"
    )
    assert slug("Metrics and `b2bpay top`") == "metrics-and-b2bpay-top"
    assert slug("Dynamic linking of the authorizer's code") == (
        "dynamic-linking-of-the-authorizers-code"
    )
    assert slug("The HTTP API: platforms, people and webhooks") == (
        "the-http-api-platforms-people-and-webhooks"
    )
    assert slug("进度 — 过期时仍处于“待经办人确认”") == "进度--过期时仍处于待经办人确认"
    assert slug("snake_case and [a link](x.md)") == "snake_case-and-a-link"


def test_a_repeated_heading_is_numbered_and_code_is_not_a_heading() -> None:
    page = "# Notes\n\n```sh\n# not a heading\n```\n## Notes\n### Notes\n"
    assert anchors(page) == {"notes", "notes-1", "notes-2"}


def test_the_readme_is_at_most_250_lines_and_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count("\n") <= README_MAX_LINES, f"README.md has {text.count(chr(10))} lines"
    assert "make demo" in text
    assert "make test" in text


def test_the_readme_links_into_docs() -> None:
    targets = {target.split("#")[0] for target in links(README)}
    assert "docs/README.md" in targets


@pytest.mark.parametrize("page", _pages(), ids=_where)
def test_every_relative_link_resolves_to_a_file_and_a_heading(page: Path) -> None:
    dead: list[str] = []
    for target in links(page):
        if _EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / unquote(path)).resolve() if path else page
        if not file.exists():
            dead.append(f"{target}: no file {file}")
            continue
        if not anchor:
            continue
        if file.suffix != ".md":
            dead.append(f"{target}: an anchor into a file that is not Markdown")
        elif unquote(anchor) not in anchors(file.read_text(encoding="utf-8")):
            dead.append(f"{target}: no heading #{anchor} in {_where(file)}")
    assert not dead, f"dead links in {_where(page)}:\n" + "\n".join(dead)


def test_every_docs_page_is_reachable_from_the_index() -> None:
    index = ROOT / "docs" / "README.md"
    linked = {(index.parent / t.split("#")[0]).resolve() for t in links(index) if t[0] != "#"}
    pages = {p.resolve() for p in _pages() if p.parent == index.parent and p != index}
    assert pages <= linked, f"not in docs/README.md: {sorted(map(str, pages - linked))}"


#: A path of this repository in backticks: ``shared/app/client.py``, or a test with its name,
#: ``tests/x/test_y.py::test_z`` (the Guarantees table names the test behind each line).
_CODE_PATH = re.compile(r"`((?:shared|services|tests|deploy|docs)/[\w./-]+?)(?:::(\w+))?`")


@pytest.mark.parametrize("page", _pages(), ids=_where)
def test_every_path_and_test_named_in_the_docs_exists(page: Path) -> None:
    """The map of the code and the Guarantees table name files and tests; a move or a rename
    that leaves them behind fails here."""
    missing = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        for path, test in _CODE_PATH.findall(line):
            target = ROOT / path.rstrip("/")
            if not target.exists():
                missing.append(path)
            elif test and not re.search(rf"^\s*(?:async )?def {test}\b", target.read_text(), re.M):
                missing.append(f"{path}::{test}")
    assert not missing, f"{_where(page)} names what does not exist: {missing}"
