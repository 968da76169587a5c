"""One link check for every feed format, and no invented base for local files."""
from __future__ import annotations

import html
import json

import pytest

from tests.conftest import FETCHED_AT
from transforms.feed.links import base_url, entry_link
from transforms.feeds import parse_feed

FEED_URL = "https://news.example/feeds/main.xml"
LOCAL = "/srv/feeds/main.xml"
# raw link: (as fetched from FEED_URL, as read from the local file LOCAL)
LINKS = {
    "https://news.example/a": ("https://news.example/a",) * 2,
    "http://other.example/b?x=1&y=2": ("http://other.example/b?x=1&y=2",) * 2,
    "/relative": ("https://news.example/relative", None),
    "relative.html": ("https://news.example/feeds/relative.html", None),
    "//cdn.example/x": ("https://cdn.example/x", None),
    " https://news.example/padded\n": ("https://news.example/padded",) * 2,
    "https://news.example/with space": ("https://news.example/with%20space",) * 2,
    "https:///one-label": ("https://one-label",) * 2,  # as browsers and feedparser read it
    "https://": (FEED_URL, None),  # urljoin, as feedparser resolves it: a reference to the base
    "https:relative": ("https://news.example/feeds/relative", None),
    "http:": (None, None),
    "javascript:alert(1)": (None, None),
    "file:///etc/passwd": (None, None),
    "mailto:editor@news.example": (None, None),
    "ftp://news.example/x": (None, None),
    "data:text/html,<script>alert(1)</script>": (None, None),
    "http://[::1": (None, None),
    "http://news.example:99999/": (None, None),
    "http://exa mple.example/": (None, None),
}


@pytest.mark.parametrize("raw", sorted(LINKS))
@pytest.mark.parametrize("location,base", [(FEED_URL, FEED_URL), (LOCAL, None)])
def test_entry_link(raw, location, base):
    expected = LINKS[raw][location == LOCAL]
    assert base_url(location) == base
    link, problem = entry_link(raw, base, location)
    assert link == expected
    assert (problem is None) == (expected is not None)
    if problem:
        assert problem[0] == "unsupported_link"


@pytest.mark.parametrize("raw", [7, 1.5, True, [], {}, ["https://x.example/"]])
def test_non_string_links_are_unsupported(raw):
    link, problem = entry_link(raw, FEED_URL, FEED_URL)
    assert link is None and problem[0] == "unsupported_link" and problem[1] == FEED_URL


def test_no_link_is_no_link():
    assert entry_link(None, FEED_URL, FEED_URL) == (None, None)
    assert entry_link("  ", FEED_URL, FEED_URL) == (None, None)


def test_base_url():
    assert base_url(LOCAL) is None and base_url(LOCAL, "https://news.example/") is None
    assert base_url(FEED_URL) == FEED_URL
    assert base_url(FEED_URL, "/home/") == "https://news.example/home/"
    assert base_url(FEED_URL, "https://home.example/") == "https://home.example/"
    for junk in (5, "javascript:x", "file:///", "", {}):
        assert base_url(FEED_URL, junk) == FEED_URL


def rss_with(links) -> bytes:
    items = "".join(f"<item><title>{i}</title><link>{html.escape(link)}</link></item>"
                    for i, link in enumerate(links))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>t</title>{items}</channel></rss>").encode()


def json_with(links) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t",
                       "items": [{"id": str(i), "url": link} for i, link in enumerate(links)]
                       }).encode()


def outcome(body: bytes, location: str):
    parsed = parse_feed(body, location, FETCHED_AT)
    return sorted([("entry", e.url) for e in parsed.entries]
                  + [(kind, url) for kind, url, _ in parsed.problems])


@pytest.mark.parametrize("location", [FEED_URL, LOCAL])
def test_json_feed_links_get_exactly_the_rss_treatment(location):
    # feedparser blanks a link urllib cannot split: RSS says "no link" there.
    links = [raw.strip() for raw in LINKS if raw != "http://[::1"]
    assert outcome(json_with(links), location) == outcome(rss_with(links), location)


def test_json_feed_resolves_against_home_page_url():
    doc = {"version": "https://jsonfeed.org/version/1", "home_page_url": "https://home.example/",
           "items": [{"id": "1", "url": "/a"}, {"id": "2", "url": "//cdn.example/b"},
                     {"id": "3", "external_url": "c"}]}
    parsed = parse_feed(json.dumps(doc).encode(), FEED_URL, FETCHED_AT)
    assert [e.url for e in parsed.entries] == ["https://home.example/a", "https://cdn.example/b",
                                               "https://home.example/c"]
    parsed = parse_feed(json.dumps(doc).encode(), LOCAL, FETCHED_AT)
    assert parsed.entries == []
    assert [kind for kind, _, _ in parsed.problems] == ["unsupported_link"] * 3


def test_a_local_feed_never_gets_a_placeholder_base():
    """Relative links in a local file stay dead letters, and no field (not
    even resolved links inside summaries) names an invented host."""
    body = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            b'<title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Ex <a href="/x">'
            b'a</a></div></title><entry><title>e</title><link href="https://a.example/1"/>'
            b'<summary type="html">&lt;a href="/rel"&gt;r&lt;/a&gt;</summary></entry>'
            b'<entry><title>r</title><link href="/relative"/></entry></feed>')
    parsed = parse_feed(body, LOCAL, FETCHED_AT)
    assert "invalid.localhost" not in repr(parsed)
    assert parsed.title == "Ex a"
    assert [e.url for e in parsed.entries] == ["https://a.example/1"]
    assert parsed.problems == [("unsupported_link", LOCAL,
                                "relative entry link in a local feed: '/relative'")]


def test_a_body_that_names_a_file_is_not_opened(tmp_path):
    """feedparser opens a bytes argument as a path when it can."""
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss_with(["https://secret.example/1"]))
    for location in (FEED_URL, LOCAL):
        parsed = None
        try:
            parsed = parse_feed(str(secret).encode(), location, FETCHED_AT)
        except Exception as exc:  # noqa: BLE001 - only the outcome matters
            assert type(exc).__name__ == "FeedProblem"
        assert parsed is None or parsed.entries == []
