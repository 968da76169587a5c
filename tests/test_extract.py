"""Extraction with trafilatura and the feed fallback."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import FeedEntry, Page
from tests.conftest import FETCHED_AT
from tests.harness import drive
from transforms.extract import (
    FEED_CONTENT,
    FEED_SUMMARY,
    TRAFILATURA,
    ExtractArticleFn,
    ExtractArticles,
    ExtractLimits,
    extract,
    html_fragment_text,
)
from transforms.lib.outcomes import DEAD_LETTERS

PAGE = """<html><head><title>Harbour reopens - Coast Times</title>
<meta property="og:title" content="Harbour reopens after storm">
<meta property="og:site_name" content="Coast Times">
<meta name="description" content="The harbour reopened on Monday.">
<meta property="og:image" content="https://coast.example/img/harbour.jpg">
<meta name="author" content="Ana Pereira; Tom Berg">
<meta property="article:published_time" content="2025-03-02T08:00:00Z">
<meta property="article:tag" content="Weather"></head>
<body><nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>
<article><h1>Harbour reopens after storm</h1>
<p>The harbour reopened on Monday after three days of closure, the port authority said,
as crews finished clearing debris left by the storm along the northern quay.</p>
<p>Fishing boats were the first to leave, followed in the afternoon by the ferry to the
islands, which had been cancelled since Friday because of high waves.</p>
</article>
<section class="comments"><h3>3 Comments</h3><p>Great news for the town! - Bob</p></section>
<footer>Copyright 2025 Coast Times</footer></body></html>"""


def entry(**fields) -> FeedEntry:
    base = dict(id="id1", url="https://coast.example/harbour", feed_url="https://coast.example/rss",
                fetched_at=FETCHED_AT)
    base.update(fields)
    return FeedEntry(**base)


def test_trafilatura_body_and_metadata():
    article, problem = extract(Page(entry=entry(), final_url="https://coast.example/harbour",
                                    html=PAGE, http_status=200))
    assert problem is None
    assert article.extraction_method == TRAFILATURA
    paragraphs = article.text.split("\n\n")
    assert paragraphs[-1].startswith("Fishing boats were the first to leave")
    assert "Great news for the town" not in article.text  # comments excluded
    assert article.title == "Harbour reopens after storm"
    assert article.authors == ("Ana Pereira", "Tom Berg")
    assert article.sitename == "Coast Times"
    assert article.description == "The harbour reopened on Monday."
    assert article.image == "https://coast.example/img/harbour.jpg"
    assert article.published_at.isoformat() == "2025-03-02T00:00:00+00:00"
    assert article.source == "coast.example"


def test_feed_metadata_wins_over_page_metadata():
    from datetime import UTC, datetime
    e = entry(title="Feed title", authors=("Feed Author",), tags=("Ports",),
              published_at=datetime(2025, 3, 2, 7, 59, tzinfo=UTC))
    article, _ = extract(Page(entry=e, final_url=e.url, html=PAGE, http_status=200))
    assert article.title == "Feed title"
    assert article.authors == ("Feed Author",)
    assert article.tags[0] == "Ports"
    assert article.published_at.hour == 7


def test_fallback_to_feed_content_then_summary():
    e = entry(content="<p>Full <b>feed</b> text.</p><p>Second para.</p>",
              summary="Short summary.")
    article, problem = extract(Page(entry=e, fetch_error="http_404", http_status=404))
    assert (article.extraction_method, article.text) == (FEED_CONTENT,
                                                          "Full feed text.\n\nSecond para.")
    assert problem is None
    article, _ = extract(Page(entry=entry(summary="Only a summary here."),
                              fetch_error="timeout_read"))
    assert (article.extraction_method, article.text) == (FEED_SUMMARY, "Only a summary here.")


def test_page_without_body_falls_back_or_reports():
    empty = "<html><body><nav>menu</nav></body></html>"
    article, problem = extract(Page(entry=entry(summary="A teaser about the harbour."), html=empty,
                                    final_url="https://coast.example/harbour"))
    assert article.extraction_method == FEED_SUMMARY and problem is None
    article, problem = extract(Page(entry=entry(), html=empty))
    assert article is None and problem[0] == "no_body"


def test_html_fragment_text_keeps_paragraphs():
    assert html_fragment_text("<p>One<br>two</p><ul><li>three</li></ul><script>x</script>") == \
        "One\n\ntwo\n\nthree"
    assert html_fragment_text("plain text") == "plain text"


def test_dofn_directly_emits_dead_letter_for_no_body():
    pages = [Page(entry=entry(), html=PAGE, final_url="https://coast.example/harbour"),
             Page(entry=entry(id="id2", url="https://coast.example/empty"),
                  html="<html></html>")]
    main, tagged = drive(ExtractArticleFn(), pages, with_window=False)
    assert [a.id for a in main] == ["id1"]
    assert [(d.stage, d.error_type, d.article_id) for d in tagged[DEAD_LETTERS]] == [
        ("extract", "no_body", "id2")]


def test_composite():
    pages = [Page(entry=entry(), html=PAGE, final_url="https://coast.example/harbour"),
             Page(entry=entry(id="id3", summary="Just this, nothing more."),
                  fetch_error="http_500")]
    with TestPipeline() as p:
        articles, dead = p | beam.Create(pages) | ExtractArticles()
        assert_that(articles | beam.Map(lambda a: (a.id, a.extraction_method)),
                    equal_to([("id1", TRAFILATURA), ("id3", FEED_SUMMARY)]), label="articles")
        assert_that(dead, equal_to([]), label="dead")


def test_text_and_metadata_come_out_composed_nfc():
    """Pages mix decomposed accents ("u" + U+0308) with composed ones; the
    output uses one form, so "geprüft" matches "geprüft" downstream."""
    decomposed = PAGE.replace("three days", "three days (gepru\u0308ft)").replace(
        'content="Coast Times"', 'content="Coast Ti\u0301mes"')
    article, _ = extract(Page(entry=entry(), final_url="https://coast.example/harbour",
                              html=decomposed, http_status=200))
    assert "geprüft" in article.text and "\u0308" not in article.text
    assert article.sitename == "Coast Tímes"


FEED_TEXT = ("<p>The harbour reopened on Monday after three days of closure, the port "
             "authority said, as crews finished clearing debris left by the storm.</p>")


def flat_page(paragraphs: int) -> str:
    return ("<html><body><article>"
            + "".join(f"<p>Paragraph {i} of a page built to be too big.</p>"
                      for i in range(paragraphs)) + "</article></body></html>")


def test_a_page_over_the_element_cap_is_too_complex_and_the_feed_text_stands_in():
    page = Page(entry=entry(content=FEED_TEXT), html=flat_page(3000),
                final_url="https://coast.example/harbour")
    article, problem = extract(page, ExtractLimits(max_elements=1000))
    assert problem[0] == "too_complex" and "1000 elements" in problem[1]
    assert article.extraction_method == FEED_CONTENT
    assert article.text.startswith("The harbour reopened on Monday")


def test_extraction_over_its_cpu_budget_times_out_and_the_feed_text_stands_in():
    page = Page(entry=entry(content=FEED_TEXT), html=flat_page(20_000),
                final_url="https://coast.example/harbour")
    main, tagged = drive(ExtractArticleFn(ExtractLimits(cpu_seconds=0.05)), [page],
                         with_window=False)
    (article,) = main
    assert article.extraction_method == FEED_CONTENT
    (dead,) = tagged[DEAD_LETTERS]
    assert (dead.stage, dead.error_type) == ("extract", "extraction_timeout")


def test_a_bug_after_trafilatura_becomes_an_internal_error_not_a_failed_bundle():
    bad = Page(entry=entry(id="bad", tags=(5,)), html=PAGE,  # a tag of the wrong type
               final_url="https://coast.example/bad")
    good = Page(entry=entry(), html=PAGE, final_url="https://coast.example/harbour")
    main, tagged = drive(ExtractArticleFn(), [bad, good], with_window=False)
    assert [a.id for a in main] == ["id1"]
    (dead,) = tagged[DEAD_LETTERS]
    assert (dead.error_type, dead.article_id) == ("internal_error", "bad")
