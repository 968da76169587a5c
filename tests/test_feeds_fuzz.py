"""Hostile mutations of real-looking feeds: parse_feed never breaks its promises.

Byte flips, hostile insertions (0xff, NUL, C1, encoded lone surrogates,
``<!ENTITY`` and ``<!DOCTYPE`` fragments, whole entity-declaring DOCTYPEs
with hundreds of references), deletions and truncations, then
perhaps a different encoding (UTF-16/32, Shift-JIS, KOI8-R, ...) with or
without a declaration, and any Content-Type.  Whatever comes out: only a
feed dead letter may be raised, every kept field is plain and safe, every
link an absolute http(s) URL, and nothing expands (``tests/test_feeds_props.py``).
The examples are derandomized, so every run tries the same ones
(NEWSBEAM_FUZZ_EXAMPLES=N hunts with N random ones instead).
"""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import FETCHED_AT
from tests.test_feeds_props import FEED_PROBLEMS, assert_clean, fuzz_settings
from transforms.feeds import FeedProblem, parse_feed

HTTP = "https://news.example/feeds/main.xml"
LOCAL = "/srv/feeds/main.xml"

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Example &amp; News</title><link>https://news.example/</link>
<item><title>&lt;b&gt;Breaking&lt;/b&gt;: Q&amp;amp;A with the mayor</title>
<link>https://news.example/2025/04/mayor?utm_source=rss</link>
<guid isPermaLink="false">news-1</guid><pubDate>Sat, 26 Apr 2025 10:00:00 +0200</pubDate>
<description>&lt;p&gt;The mayor &lt;a href="/people/mayor"&gt;answered&lt;/a&gt;.&lt;/p&gt;
</description><content:encoded><![CDATA[<p>Full text, with <img src="/img/1.jpg">.</p>]]>
</content:encoded>
<dc:creator>Tom &amp; Jerry</dc:creator><category>Local &amp; Regional</category></item>
<item><title>Новости: в Москве открылся новый парк</title><link>/2025/04/park</link>
<description>Многие жители пришли на открытие.</description></item>
<item><title>東京で新しい公園が開園</title><link>//cdn.news.example/tokyo</link></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example/blog/">
<title type="html">&lt;em&gt;Atom&lt;/em&gt; &amp;amp; friends</title>
<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Example <a href="x">link</a>
</div></title><link href="posts/1"/><id>urn:uuid:1</id><updated>2025-04-27T08:30:00Z</updated>
<author><name>A. Writer</name><email>a@atom.example</email></author>
<category term="Science &amp; Tech"/><summary type="text">Plain &lt;summary&gt;</summary>
<content type="html">&lt;p&gt;Body &amp;amp; more&lt;/p&gt;</content></entry>
<entry><title type="text">Плоский текст</title><link rel="alternate" href="/abs/2"/>
<id>urn:uuid:2</id></entry>
</feed>"""

JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "JSON & News",
    "home_page_url": "https://json.example/", "feed_url": "https://json.example/feed.json",
    "items": [{"id": "1", "url": "https://json.example/1", "title": "First",
               "content_html": "<p>Body</p>", "date_published": "2025-04-26T10:00:00Z",
               "authors": [{"name": "J. Son"}], "tags": ["x", "y"]},
              {"id": "2", "url": "/relative/2", "title": "Новый парк", "summary": "Текст"},
              {"id": 3, "external_url": "//cdn.json.example/3", "content_text": "a < b"}]},
    ensure_ascii=False)

SEEDS = {"rss": RSS.encode(), "atom": ATOM.encode(), "json": JSON_FEED.encode()}
HOSTILE = [b"\xff", b"\x00", b"\x85", b"\x9b", b"\xc2\x9b[31m", b"\xed\xa0\x80", b"\\ud800",
           b"&#xD800;", b"&#0;", b"&#150;", b"&#x9b;", b"&nbsp;", b"&a;", b"&x;", b"%p;",
           b'<!ENTITY x "' + b"x" * 64 + b'">', b'<!ENTITY % p SYSTEM "file:///etc/passwd">',
           b'<!DOCTYPE rss [<!ENTITY a "' + b"a" * 64 + b'">]>', b"<!DOCTYPE", b"]>",
           b"<![CDATA[", b"]]>", b"<", b"&", b">", b'"', b"\xef\xbb\xbf", b"\xfe\xff",
           b"<script>alert(1)</script>", b"\r\n", b'"url": "javascript:x", ', b"<link>/x</link>",
           b'<link href="file:///etc/passwd"/>']
ENCODINGS = [None, None, "utf-16", "utf-16-le", "utf-16-be", "utf-32", "shift_jis", "koi8_r",
             "cp1251", "gb18030", "euc_kr"]
CONTENT_TYPES = [None, "application/rss+xml", "text/xml; charset=utf-8",
                 "application/xml; charset=koi8-r", "application/feed+json; charset=utf-16",
                 "text/html; charset=shift_jis", "text/xml; charset=x-unknown"]
XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*>")
# Entity declarations to put in the prolog, and references to them anywhere.
SUBSETS = [b'<!ENTITY a "' + b"a" * 2000 + b'">',
           b'<!ENTITY a0 "lol">' + b"".join(b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10)
                                            for i in range(1, 8)).replace(b"&a7;", b"&a;"),
           b'<!ENTITY a SYSTEM "file:///etc/passwd">', b'<!-- ]> --><!ENTITY a "zzzz">',
           b'\n<!ENTITY a "' + b"b" * 2000 + b'">\n', b'<!ENTITY % p "x"> %p;']


def reencode(body: bytes, codec: str, declare: bool) -> bytes:
    text = body.decode("utf-8", errors="replace")
    if declare and not text.lstrip().startswith("{"):
        declaration = f'<?xml version="1.0" encoding="{codec}"?>'
        text = XML_DECLARATION.sub(b"", text.encode("utf-8", "surrogatepass")).decode(
            "utf-8", "replace")
        text = declaration + text
    return text.encode(codec, errors="replace")


@st.composite
def mutated(draw, seed: bytes):
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "insert", "delete", "truncate",
                                     "entities"]))
        at = draw(st.integers(0, len(data)))
        if kind == "entities":
            data[at:at] = b"&a;" * draw(st.integers(1, 200))
            prolog = (data.find(b"?>") + 2) * draw(st.booleans())
            data[prolog:prolog] = b"<!DOCTYPE rss [" + draw(st.sampled_from(SUBSETS)) + b"]>"
        elif kind == "flip" and data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(HOSTILE))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 32))]
        elif kind == "truncate" and draw(st.integers(0, 3)) == 0:
            del data[at:]
    body = bytes(data)
    codec = draw(st.sampled_from(ENCODINGS))
    if codec:
        body = reencode(body, codec, draw(st.booleans()))
    return body, draw(st.sampled_from(CONTENT_TYPES)), draw(st.sampled_from([HTTP, LOCAL]))


def check(body: bytes, content_type: str | None, location: str) -> None:
    try:
        parsed = parse_feed(body, location, FETCHED_AT, content_type)
    except FeedProblem as exc:
        assert exc.error_type in FEED_PROBLEMS, exc.error_type
        return
    assert_clean(parsed, body, location, content_type)


FUZZ = fuzz_settings(300)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seeds_are_clean_feeds(name):
    for location in (HTTP, LOCAL):
        parsed = parse_feed(SEEDS[name], location, FETCHED_AT)
        assert parsed.entries
        assert_clean(parsed, SEEDS[name], location)


@FUZZ
@given(mutated(SEEDS["rss"]))
def test_mutated_rss(case):
    check(*case)


@FUZZ
@given(mutated(SEEDS["atom"]))
def test_mutated_atom(case):
    check(*case)


@FUZZ
@given(mutated(SEEDS["json"]))
def test_mutated_json_feed(case):
    check(*case)


@pytest.mark.parametrize("name", sorted(SEEDS))
@pytest.mark.parametrize("codec,declare", [
    ("utf-16", False), ("utf-32-be", False), ("utf-16-le", True), ("utf-32", True),
    ("shift_jis", True), ("gb18030", True), ("euc_jp", True)])
def test_reencoded_seeds_read_the_same(name, codec, declare):
    """Without mutations, a change of encoding changes nothing we keep.
    (Declared: the seeds mix scripts that no detector could guess in a
    legacy charset; a JSON Feed declares through its Content-Type.)"""
    want = parse_feed(SEEDS[name], HTTP, FETCHED_AT)
    content_type = f"application/feed+json; charset={codec}" if declare else None
    got = parse_feed(reencode(SEEDS[name], codec, declare), HTTP, FETCHED_AT, content_type)
    assert got == want
