"""feedparser's own test suite, read by newsbeam's parse_feed.

The 2,248 documents of feedparser 6.0.14's tests (tests/fixtures/feedparser-suite)
cover every charset, entity trick, markup-in-title variant and broken XML
its authors met.  Each is parsed twice, as if fetched over http (with the
Content-Type and Content-Location its header comment names) and as if read
from a local file, and every result must have the properties in
``tests/test_feeds_props.py``: only a feed dead letter may escape, every kept
text field is plain and safe, every entry link is an absolute http(s) URL,
and nothing expands.
"""
from __future__ import annotations

import ast
import codecs
import collections
import re
import tarfile
from pathlib import Path

import pytest

from tests.conftest import FETCHED_AT
from tests.test_feeds_props import FEED_PROBLEMS, assert_clean, squeeze
from transforms.feed.links import is_web_url
from transforms.feeds import FeedProblem, parse_feed

SUITE = Path(__file__).parent / "fixtures" / "feedparser-suite" / "suite.tar.xz"
DOCUMENTS = 2248
# Header lines in a document's leading comment: what feedparser's own test
# server sends with it.
HEADER = re.compile(rb"^Header:\s+([A-Za-z-]+):(.*)$", re.MULTILINE)
SKIP_UNLESS_CODEC = re.compile(r"SkipUnless:\s*__import__\('codecs'\)\.lookup\('([^']+)'\)")
EXPECTED_TITLE = re.compile(r"""feed\['title'\] == (u?'(?:[^'\\]|\\.)*'|u?"(?:[^"\\]|\\.)*")\s*$""")


@pytest.fixture(scope="module")
def documents() -> dict[str, bytes]:
    with tarfile.open(SUITE, "r:xz") as archive:
        return {member.name: archive.extractfile(member).read()
                for member in archive.getmembers() if member.isfile()}


def comment(body: bytes) -> str:
    """The leading comment, readable whatever the document's encoding."""
    return body[:3000].replace(b"\x00", b"").decode("latin-1")


def headers_of(body: bytes) -> dict[str, str]:
    flat = comment(body).encode("latin-1")
    return {name.decode().lower(): value.decode("latin-1").strip()
            for name, value in HEADER.findall(flat)}


def locations(name: str, body: bytes) -> list[tuple[str, str | None]]:
    """(feed location, Content-Type) as fetched over http, and as a file."""
    headers = headers_of(body)
    url = headers.get("content-location", "")
    if not is_web_url(url):
        url = f"http://feeds.example/{name}"
    return [(url, headers.get("content-type")), (f"/srv/feeds/{name}", None)]


def test_every_document_of_the_suite(documents):
    assert len(documents) == DOCUMENTS
    stats: collections.Counter = collections.Counter()
    failures = []
    for name, body in sorted(documents.items()):
        for location, content_type in locations(name, body):
            mode = "http" if location.startswith("http") else "file"
            try:
                parsed = parse_feed(body, location, FETCHED_AT, content_type)
            except FeedProblem as exc:
                stats[f"{mode} feed dead letter {exc.error_type}"] += 1
                if exc.error_type not in FEED_PROBLEMS:
                    failures.append(f"{name} ({mode}): unexpected {exc.error_type}")
                continue
            except Exception as exc:  # noqa: BLE001 - every escape is listed below
                failures.append(f"{name} ({mode}): {type(exc).__name__}: {exc}")
                continue
            stats[f"{mode} parsed"] += 1
            stats[f"{mode} entries"] += len(parsed.entries)
            for kind, _url, _message in parsed.problems:
                stats[f"{mode} problem {kind}"] += 1
            try:
                assert_clean(parsed, body, location, content_type)
            except AssertionError as exc:
                failures.append(f"{name} ({mode}): {exc}")
    print("\nfeedparser suite:", len(documents), "documents")
    for key in sorted(stats):
        print(f"  {key}: {stats[key]}")
    assert not failures, "\n".join(failures[:40])
    # Almost every document is a feed; the rest are feed dead letters.
    assert stats["http parsed"] > 0.95 * DOCUMENTS
    assert stats["http entries"] > 0 and stats["file entries"] > 0


def expected_title(body: bytes) -> str | None:
    """The feed title feedparser's authors expect, when they say so and
    Python knows the charset (feedparser skips the test otherwise)."""
    needs = SKIP_UNLESS_CODEC.search(comment(body))
    if needs:
        try:
            codecs.lookup(needs.group(1))
        except LookupError:
            return None
    match = re.search(r"Expect:\s*(.*)", comment(body))
    found = EXPECTED_TITLE.search(match.group(1)) if match else None
    return ast.literal_eval(found.group(1)) if found else None


def test_encoding_documents_decode_to_the_title_feedparser_expects(documents):
    """feedparser's encoding tests name the title each document must give
    (a character only that charset encodes that way): newsbeam's own
    decoder must agree, over http (header charsets) and from a file."""
    checked = 0
    for name, body in sorted(documents.items()):
        want = expected_title(body) if name.startswith("encoding/") else None
        if want is None:
            continue
        url, content_type = locations(name, body)[0]
        parsed = parse_feed(body, url, FETCHED_AT, content_type)
        assert squeeze(parsed.title or "") == squeeze(want), name
        checked += 1
    print(f"\n{checked} encoding documents decoded to the expected title")
    assert checked >= 90
