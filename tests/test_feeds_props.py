"""What every parsed feed must look like, checked the same way by every feed test.

The checks are written without newsbeam's own helpers where that matters:
URLs are checked with urllib, markup with the standard library's HTML
parser (not lxml, which newsbeam uses), so a bug in one is not hidden by
the same bug in the other.  A few tests at the bottom make sure the checks
themselves catch what they are meant to catch.
"""
from __future__ import annotations

import html
import io
import os
import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit

import feedparser
import pytest
from hypothesis import HealthCheck, settings

from transforms.feed.decode import decode_feed
from transforms.feed.model import FeedProblem, ParsedFeed
from transforms.feed.text import is_markup
from transforms.feed.xml_feed import feedparser_document, feedparser_headers
from transforms.lib.urls import article_id

# C0 but tab and line breaks, DEL, C1, lone surrogates, the two noncharacters.
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
REFERENCE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);")
PLACEHOLDER = "invalid.localhost"
FEED_PROBLEMS = {"not_a_feed", "malformed_feed", "xml_entities_forbidden", "bad_encoding"}
ENTRY_PROBLEMS = {"entry_without_link", "unsupported_link", "malformed_entry", "malformed_feed"}
# Kept text may outgrow the document only by bounded, linear steps:
# feedparser's sanitizer re-escapes "&" as "&amp;", relative links gain the
# base.  The suite and the fuzz examples keep at most 0.61 characters per
# byte; an expanded entity grows without bound (1.5 MB from 30 KB before).
EXPANSION_FACTOR = 4
EXPANSION_SLACK = 4096


def fuzz_settings(examples: int) -> settings:
    """Bounded, derandomized Hypothesis settings: every run (and CI) tries
    the same examples.  NEWSBEAM_FUZZ_EXAMPLES=N runs N random ones instead,
    for hunting."""
    hunt = os.environ.get("NEWSBEAM_FUZZ_EXAMPLES")
    return settings(max_examples=int(hunt) if hunt else examples, derandomize=not hunt,
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _ShownText(HTMLParser):
    """What a browser shows of an HTML fragment: data outside script/style."""

    HIDDEN = frozenset({"script", "style", "noscript", "template"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in self.HIDDEN

    def handle_endtag(self, tag):
        self.hidden -= tag in self.HIDDEN and self.hidden > 0

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def shown_text(markup: str) -> str:
    parser = _ShownText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def squeeze(text: str) -> str:
    """``text`` compared the way the checks compare: NFC, safe, no whitespace."""
    return "".join(UNSAFE.sub("", unicodedata.normalize("NFC", text)).split())


def expected_texts(body: bytes, feed_url: str,
                   content_type: str | None = None) -> set[str] | None:
    """Every short text of the document as plain text, by an independent
    route: feedparser's own values, markup turned into text by the standard
    library's HTML parser (titles typed html or xhtml; untyped fields when
    feedparser's loose parser, which leaves them escaped, read the feed).
    A kept field that looks like markup is fine only if the feed's own text
    reads that way.  None for a JSON Feed, whose text fields are all plain
    text by its spec, taken as they are."""
    try:
        text = decode_feed(body, content_type).text
    except FeedProblem:
        return set()
    if text.lstrip().startswith("{"):
        return None
    raw = feedparser.parse(io.BytesIO(feedparser_document(text)),
                           response_headers=feedparser_headers(feed_url))
    loose = bool(raw.bozo)
    texts = set()
    for node in [raw.feed, *raw.entries]:
        detail = node.get("title_detail") or {}
        values = [(node.get("title"), is_markup(detail.get("type"))), (node.get("id"), loose),
                  (node.get("author"), loose)]
        values += [(tag.get(key), loose) for tag in node.get("tags") or []
                   for key in ("term", "label")]
        values += [(author.get(key), loose) for author in node.get("authors") or []
                   for key in ("name", "email")]
        texts |= {squeeze(shown_text(value) if markup else value)
                  for value, markup in values if isinstance(value, str)}
    return texts


def line_fields(parsed: ParsedFeed) -> list[tuple[str, str]]:
    """(name, value) of every one-line text field kept from the feed."""
    fields = [("feed.title", parsed.title)]
    for entry in parsed.entries:
        fields += [("title", entry.title), ("guid", entry.guid), ("feed_title", entry.feed_title)]
        fields += [("author", a) for a in entry.authors] + [("tag", t) for t in entry.tags]
    return [(name, value) for name, value in fields if value is not None]


def kept_size(parsed: ParsedFeed) -> int:
    """Characters of everything kept, the feed title once."""
    size = len(parsed.title or "")
    for e in parsed.entries:
        size += sum(len(v or "") for v in (e.url, e.guid, e.title, e.summary, e.content))
        size += sum(map(len, e.authors)) + sum(map(len, e.tags))
    return size


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.scheme in ("http", "https") and bool(parts.hostname)
            and not re.search(r"[ \t\r\n]", url) and not UNSAFE.search(url))


def problems_of(parsed: ParsedFeed) -> list[str]:
    """Why the parsed feed breaks a property; empty when it has them all."""
    out = []
    for name, value in line_fields(parsed):
        if not isinstance(value, str) or not value or value != value.strip():
            out.append(f"{name} {value!r} is not a trimmed, non-empty string")
        elif UNSAFE.search(value) or "\n" in value or "\r" in value:
            out.append(f"{name} {value!r} holds control characters or line breaks")
        elif unicodedata.normalize("NFC", value) != value:
            out.append(f"{name} {value!r} is not NFC")
    for entry in parsed.entries:
        for name in ("summary", "content"):
            value = getattr(entry, name)
            if value is not None and (not isinstance(value, str) or UNSAFE.search(value)):
                out.append(f"{name} {value!r:.80} is not safe text")
        if not is_web_url(entry.url):
            out.append(f"link {entry.url!r} is not an absolute http(s) URL")
        if entry.id != article_id(entry.url):
            out.append(f"id of {entry.url!r} does not derive from it")
    for entry_or_feed in [parsed.title, *(repr(e) for e in parsed.entries)]:
        if entry_or_feed and PLACEHOLDER in entry_or_feed:
            out.append(f"placeholder base leaked: {entry_or_feed!r:.120}")
    return out


def looks_escaped(value: str) -> bool:
    """Markup or an entity reference a browser would decode."""
    return bool(MARKUP.search(value)) or any(
        html.unescape(ref) != ref for ref in REFERENCE.findall(value))


def markup_problems(parsed: ParsedFeed, expected: set[str]) -> list[str]:
    """Text fields that still read as markup or entity references, unless
    the feed's own text (``expected_texts``) reads that way too.  (Part of
    it will do: on broken markup the two HTML parsers may stop apart.)"""
    return [f"{name} {value!r} still holds markup or entity references"
            for name, value in line_fields(parsed)
            if looks_escaped(value) and not any(squeeze(value) in text for text in expected)]


def assert_clean(parsed: ParsedFeed, body: bytes, feed_url: str,
                 content_type: str | None = None) -> None:
    """Every property at once, with a readable failure."""
    found = problems_of(parsed)
    if any(looks_escaped(value) for _, value in line_fields(parsed)):
        expected = expected_texts(body, feed_url, content_type)
        if expected is not None:
            found += markup_problems(parsed, expected)
    assert not found, "\n".join(found)
    assert kept_size(parsed) <= EXPANSION_FACTOR * len(body) + EXPANSION_SLACK, \
        f"{kept_size(parsed)} characters kept from a {len(body)}-byte document"
    for kind, url, message in parsed.problems:
        assert kind in ENTRY_PROBLEMS and isinstance(url, str) and url and message, \
            (kind, url, message)


# The checks catch what they are meant to catch.

@pytest.mark.parametrize("value", ["<b>&amp;</b>", "Q&amp;A", "a &#38; b", "x&lt;y",
                                   '<div>Example <a href="http://x/">x</a></div>'])
def test_escaped_values_are_caught(value):
    assert looks_escaped(value)


@pytest.mark.parametrize("value", ["Q&A session", "a < b > c", "AT&T", "&doesnotexist;",
                                   "Fish & Chips"])
def test_plain_values_pass(value):
    assert not looks_escaped(value)


def test_shown_text_drops_tags_and_scripts():
    assert shown_text("<p>a &amp; <b>b</b></p><script>x()</script>") == "a & b"


@pytest.mark.parametrize("url,ok", [("https://x.example/a", True), ("http://x/", True),
                                    ("/relative", False), ("//host/x", False),
                                    ("javascript:alert(1)", False), ("file:///etc/passwd", False),
                                    ("https:///nohost", False), ("https://x.example/a b", False)])
def test_web_url_check(url, ok):
    assert is_web_url(url) is ok
