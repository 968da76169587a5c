"""Reading feeds: parsing (pure), the DoFn called directly, and the composite."""
from __future__ import annotations

import json
import time

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from devsite.server import Site, static
from schemas import DeadLetter, FeedEntry
from tests.conftest import FETCHED_AT
from tests.harness import drive
from transforms.feeds import FeedProblem, ReadFeedFn, ReadFeeds, parse_feed
from transforms.http.settings import FetchSettings
from transforms.lib.outcomes import DEAD_LETTERS
from transforms.lib.urls import article_id

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Example News</title><link>https://news.example/</link>
<item><title>First &amp; best</title><link>https://news.example/a?utm_source=rss</link>
<guid isPermaLink="false">id-1</guid><pubDate>Sat, 26 Apr 2025 10:00:00 +0200</pubDate>
<description>&lt;p&gt;Short summary.&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>Full text of the article.</p>]]></content:encoded>
<dc:creator>Jane Doe</dc:creator><category>World</category><category>Europe</category></item>
<item><title>Relative link</title><link>/b</link></item>
<item><title>No link</title><guid isPermaLink="false">id-3</guid></item>
<item><title>Script link</title><link>javascript:alert(1)</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>
<entry><title>Atom entry</title><link href="https://atom.example/x"/><id>urn:x</id>
<updated>2025-04-27T08:30:00Z</updated><author><name>A. Writer</name></author>
<summary>An atom summary.</summary></entry></feed>"""

JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "JSON News",
    "items": [{"id": "1", "url": "https://json.example/1", "title": "JSON one",
               "content_html": "<p>Body</p>", "date_published": "2025-04-26T10:00:00Z",
               "authors": [{"name": "J. Son"}], "tags": ["x"]},
              {"id": "2", "title": "no url"}]}).encode()

MALFORMED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title>
<item><title>Salvaged one</title><link>https://b.example/1</link></item>
<item><title>Salvaged & two</title><link>https://b.example/2</link></item>
<item><title>cut"""


def test_rss_entry_fields():
    parsed = parse_feed(RSS, "https://news.example/feed", FETCHED_AT)
    first = parsed.entries[0]
    assert first.title == "First & best"
    assert first.url == "https://news.example/a?utm_source=rss"
    assert first.id == article_id("https://news.example/a")
    assert first.guid == "id-1"
    assert first.published_at.isoformat() == "2025-04-26T08:00:00+00:00"
    assert first.content == "<p>Full text of the article.</p>"
    assert first.summary == "<p>Short summary.</p>"
    assert first.authors == ("Jane Doe",)
    assert first.tags == ("World", "Europe")
    assert first.feed_title == "Example News"
    assert first.fetched_at == FETCHED_AT


def test_rss_relative_links_resolve_and_bad_links_are_problems():
    parsed = parse_feed(RSS, "https://news.example/feed", FETCHED_AT)
    assert [e.url for e in parsed.entries] == ["https://news.example/a?utm_source=rss",
                                               "https://news.example/b"]
    kinds = sorted(p[0] for p in parsed.problems)
    assert kinds == ["entry_without_link", "unsupported_link"]


def test_atom_and_json_feed():
    atom = parse_feed(ATOM, "https://atom.example/feed", FETCHED_AT).entries
    assert atom[0].url == "https://atom.example/x" and atom[0].authors == ("A. Writer",)
    assert atom[0].published_at.isoformat() == "2025-04-27T08:30:00+00:00"
    parsed = parse_feed(JSON_FEED, "https://json.example/feed.json", FETCHED_AT)
    assert [e.title for e in parsed.entries] == ["JSON one"]
    assert parsed.entries[0].content == "<p>Body</p>"
    assert [p[0] for p in parsed.problems] == ["entry_without_link"]


def test_malformed_feed_salvages_entries_and_reports_the_feed():
    parsed = parse_feed(MALFORMED, "https://b.example/feed", FETCHED_AT)
    assert [e.url for e in parsed.entries][:2] == ["https://b.example/1", "https://b.example/2"]
    assert parsed.problems[0][0] == "malformed_feed"


@pytest.mark.parametrize("body,error_type", [
    (b"<html><body><p>not a feed</p></body></html>", "not_a_feed"),
    (b"", "not_a_feed"),
    (b"\x00\x01\x02\xff binary", "not_a_feed"),
    (b'{"hello": "world"}', "not_a_feed"),
    (b'{"version": "https://jsonfeed.org/version/1", ', "malformed_feed"),
])
def test_unusable_documents(body, error_type):
    with pytest.raises(FeedProblem) as err:
        parse_feed(body, "https://x.example/feed", FETCHED_AT)
    assert err.value.error_type == error_type


BILLION_LAUGHS = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "ha">' + b"".join(
    b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10 if i > 1 else b"&a;" * 10)
    for i in range(1, 12)) + b']><rss version="2.0"><channel><title>&a11;</title></channel></rss>'
XXE = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<rss version="2.0"><channel><item><title>&x;</title><link>https://x.example/1</link>'
       b'</item></channel></rss>')
QUADRATIC = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY q "' + b"x" * 100_000 + b'">]>'
             b'<rss version="2.0"><channel><title>' + b"&q;" * 100_000 +
             b"</title></channel></rss>")


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, QUADRATIC])
def test_xml_attacks_are_refused_quickly(body):
    started = time.monotonic()
    with pytest.raises(FeedProblem) as err:
        parse_feed(body, "https://x.example/feed", FETCHED_AT)
    assert err.value.error_type == "xml_entities_forbidden"
    assert time.monotonic() - started < 1.0


def test_read_feed_fn_directly(tmp_path):
    local = tmp_path / "feed.xml"
    local.write_bytes(RSS)
    with Site(routes={"/feed": static(ATOM, content_type="application/atom+xml")}) as site:
        fn = ReadFeedFn(FetchSettings(allow_private_networks=True), FETCHED_AT)
        entries, tagged = drive(fn, [site.url("/feed"), str(local),
                                     str(tmp_path / "missing.xml"), site.url("/nothing-here")])
    dead = tagged[DEAD_LETTERS]
    assert all(isinstance(e, FeedEntry) for e in entries)
    assert all(isinstance(d, DeadLetter) for d in dead)
    assert sorted(e.url for e in entries) == ["https://atom.example/x",
                                             "https://news.example/a?utm_source=rss"]
    # The local feed's relative link cannot be resolved: a problem, not a guess.
    assert sorted(d.error_type for d in dead) == ["entry_without_link", "feed_not_found",
                                                  "http_404", "unsupported_link",
                                                  "unsupported_link"]
    assert all(d.stage == "feed" and d.at == FETCHED_AT for d in dead)


def test_read_feeds_composite():
    routes = {"/rss": static(RSS, content_type="application/rss+xml"),
              "/bad": static(MALFORMED, content_type="application/rss+xml")}
    with Site(routes=routes) as site:
        with TestPipeline() as p:
            entries, dead, states = (
                p | beam.Create([site.url("/rss"), site.url("/bad")])
                | ReadFeeds(FetchSettings(allow_private_networks=True), FETCHED_AT))
            assert_that(states | "Outcomes" >> beam.Map(lambda s: (s.url, s.last_outcome)),
                        equal_to([(site.url("/rss"), "fetched"), (site.url("/bad"), "fetched")]),
                        label="states")

            # A relative link resolves against the URL the feed was fetched from.
            assert_that(entries | "Urls" >> beam.Map(lambda e: e.url), equal_to([
                "https://news.example/a?utm_source=rss", site.url("/b"),
                "https://b.example/1", "https://b.example/2"]), label="entries")
            assert_that(dead | "Kinds" >> beam.Map(lambda d: d.error_type), equal_to([
                "entry_without_link", "unsupported_link", "malformed_feed",
                "entry_without_link"]), label="dead")


def test_the_poller_decodes_with_the_response_charset():
    """A feed without a declaration, in KOI8-R, named only by the header."""
    title = "Новости"
    body = (f'<rss version="2.0"><channel><title>{title}</title><item><title>{title}</title>'
            f"<link>https://koi8.example/1</link></item></channel></rss>").encode("koi8_r")
    routes = {"/koi8": static(body, content_type="application/rss+xml; charset=KOI8-R")}
    with Site(routes=routes) as site:
        fn = ReadFeedFn(FetchSettings(allow_private_networks=True), FETCHED_AT)
        entries, tagged = drive(fn, [site.url("/koi8")])
    assert [(e.feed_title, e.title) for e in entries] == [(title, title)]
    assert DEAD_LETTERS not in tagged


def test_one_bad_json_item_no_longer_costs_the_feed():
    """It used to be one internal_error for the whole feed."""
    items = [{"id": "1", "url": "https://json.example/1", "tags": 5, "authors": "x",
              "date_published": "9999-12-31T23:59:59-05:00", "title": {}},
             {"id": "2", "url": 7}, {"id": "3", "url": "javascript:alert(1)"},
             {"id": "4", "url": "https://json.example/4", "title": "Four"}]
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()
    with Site(routes={"/j": static(body, content_type="application/feed+json")}) as site:
        fn = ReadFeedFn(FetchSettings(allow_private_networks=True), FETCHED_AT)
        entries, tagged = drive(fn, [site.url("/j")])
    assert [(e.url, e.title, e.tags, e.published_at) for e in entries] == [
        ("https://json.example/1", None, (), None), ("https://json.example/4", "Four", (), None)]
    assert sorted(d.error_type for d in tagged[DEAD_LETTERS]) == ["unsupported_link"] * 2


def test_html_titles_reach_entries_as_text():
    body = RSS.replace(b"<title>First &amp; best</title>",
                       b"<title>&lt;b&gt;&amp;#38;&lt;/b&gt; Q&amp;amp;A session</title>")
    parsed = parse_feed(body, "https://news.example/feed", FETCHED_AT)
    assert parsed.entries[0].title == "& Q&A session"
