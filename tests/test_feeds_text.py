"""Plain text for titles, authors, tags and guids; HTML for summaries and content."""
from __future__ import annotations

import pytest

from tests.conftest import FETCHED_AT
from transforms.extract import html_fragment_text
from transforms.feed.text import author_name, fragment, html_to_text, is_markup, line
from transforms.feeds import parse_feed


@pytest.mark.parametrize("markup,text", [
    ("<b>&#38;</b>", "&"),
    ("Q&amp;A session", "Q&A session"),
    ('<div>Example <a href="http://invalid.localhost/x">link</a></div>', "Example link"),
    ("<p>One</p><p>two</p>", "One two"),
    ("line<br>break", "line break"),
    ("<script>alert(1)</script><style>p{}</style>Shown", "Shown"),
    ("&lt;blink&gt; is text", "<blink> is text"),
    ("caf&eacute; &nbsp; &#x263A;", "café ☺"),
    ("don&#146;t &#150; &#x93;quoted&#x94;", "don’t – “quoted”"),  # windows-1252, as browsers
    ('<?xml version="1.0" encoding="utf-8"?><b>declared</b>', "declared"),
    ("<html><body><h1>Whole</h1> page</body></html>", "Whole page"),
    ("<!-- hidden --><b>seen</b>", "seen"),
    ("  spaced \n\t out  ", "spaced out"),
    ("\x00nul\x85 and \x9b c1", "nul and c1"),
])
def test_markup_becomes_one_line_of_text(markup, text):
    assert line(markup, markup=True) == text


@pytest.mark.parametrize("value", [None, 5, {}, [], "", "  ", "<b></b>", "\x00\x9f"])
def test_no_text_is_none(value):
    assert line(value, markup=True) is None


def test_plain_text_is_taken_as_is_but_sanitized():
    assert line("History of the <blink> tag") == "History of the <blink> tag"
    assert line("Q&amp;A") == "Q&amp;A"  # the feed said these five characters
    assert line("e\u0301t\u00e9\x07\ud800") == "été"  # NFC, no controls or surrogates


def test_html_to_text_never_fails():
    for odd in ("<", "&", "<<>>", "<a", "</b>", "&#xFFFFFFFF;", "<![CDATA[x]]>", "<" * 5000):
        assert isinstance(html_to_text(odd), str)


@pytest.mark.parametrize("kind,markup", [("text/plain", False), ("text", False),
                                         ("text/html", True), ("html", True),
                                         ("application/xhtml+xml", True),
                                         ("application/octet-stream", True), (None, True)])
def test_what_counts_as_markup(kind, markup):
    assert is_markup(kind) is markup


@pytest.mark.parametrize("raw,name", [
    ("Jane Doe", "Jane Doe"), ("Jane Doe <jane@x.org>", "Jane Doe"),
    ("jane@x.org (Jane Doe)", "Jane Doe"), ("<jane@x.org>", "jane@x.org"),
    ("jane@x.org", "jane@x.org"), (7, None),
])
def test_author_names(raw, name):
    assert author_name(raw) == name


def test_plain_summaries_are_escaped_so_extraction_reads_them_back():
    plain = "a < b & c > d"
    assert html_fragment_text(fragment(plain, markup=False)) == plain
    assert fragment("<p>kept</p>\x00") == "<p>kept</p>"
    assert fragment(5) is None and fragment("  ") is None


ATOM_TITLES = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title type="html">&lt;b&gt;&amp;#38;&lt;/b&gt; News</title>
<entry><title type="html">Q&amp;amp;A session</title><id>urn:1</id>
<link href="https://atom.example/1"/><author><name>Tom &amp; Jerry</name></author>
<category term="World &amp; Europe"/></entry>
<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Example
<a href="/relative">link</a></div></title><link href="https://atom.example/2"/></entry>
<entry><title type="text">History of the &lt;blink&gt; tag</title>
<link href="https://atom.example/3"/></entry>
</feed>"""


def test_html_and_xhtml_titles_become_text():
    for location in ("https://atom.example/feed", "/srv/feeds/atom.xml"):
        parsed = parse_feed(ATOM_TITLES, location, FETCHED_AT)
        assert parsed.title == "& News"
        assert [e.title for e in parsed.entries] == [
            "Q&A session", "Example link", "History of the <blink> tag"]
        assert parsed.entries[0].authors == ("Tom & Jerry",)
        assert parsed.entries[0].tags == ("World & Europe",)
        assert all(e.feed_title == "& News" for e in parsed.entries)


LOOSE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loose &amp; broken</title>
<item><title>Fish &amp; Chips</title><link>https://rss.example/1</link>
<guid isPermaLink="false">a&amp;b</guid><author>Tom &amp; Jerry</author>
<category>Food &amp; Drink</category></item>
<item><title>unescaped & ampersand breaks the XML</title><link>https://rss.example/2</link>
</item></channel></rss>"""


def test_the_loose_parser_leaves_no_entity_references():
    """feedparser's loose parser keeps "&amp;" in untyped fields."""
    parsed = parse_feed(LOOSE_RSS, "https://rss.example/feed", FETCHED_AT)
    assert [p[0] for p in parsed.problems] == ["malformed_feed"]
    first = parsed.entries[0]
    assert (parsed.title, first.title, first.guid, first.authors, first.tags) == (
        "Loose & broken", "Fish & Chips", "a&b", ("Tom & Jerry",), ("Food & Drink",))
