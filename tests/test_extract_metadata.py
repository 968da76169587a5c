"""Page metadata: only what the feed does not give is searched for, and what
is searched for comes out as trafilatura's own metadata pass finds it."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree
from trafilatura import metadata as trafilatura_metadata
from trafilatura.utils import load_html

from devsite.corpus_site import load_corpus
from schemas import Page
from tests.conftest import FETCHED_AT
from tests.test_extract import PAGE, entry
from transforms import extract
from transforms.http.charset import decode

# The fields build_article reads from trafilatura's document.
USED = ("title", "author", "sitename", "date", "tags", "categories", "image", "description")
FEED = dict(title="Feed title", authors=("Feed Author",),
            published_at=datetime(2025, 3, 2, 7, 59, tzinfo=UTC))


def _fixture_pages():
    for name in ("zyte", "fundus-dev", "trafilatura-eval"):
        for page in load_corpus(name):
            html, _ = decode(page.html)
            yield f"http://127.0.0.1:1{page.path}", html


def test_nothing_known_gives_trafilaturas_metadata_on_every_fixture_page():
    pages = 0
    for url, html in _fixture_pages():
        tree = load_html(html)
        before = etree.tostring(tree)
        ours = extract.page_metadata(tree, url, entry(url=url, fetched_at=datetime.now(UTC)))
        assert etree.tostring(tree) == before  # the markup pass reads the same tree after
        theirs = trafilatura_metadata.extract_metadata(tree, url)
        assert {f: getattr(ours, f) for f in USED} == {f: getattr(theirs, f) for f in USED}, url
        pages += 1
    assert pages > 50


def _forbid(monkeypatch, *names):
    def refuse(*args, **kwargs):
        raise AssertionError("searched for metadata the feed gives")
    for name in names:
        target = extract if name == "find_date" else trafilatura_metadata
        monkeypatch.setattr(target, name, refuse)


def test_what_the_feed_gives_is_not_searched_for(monkeypatch):
    _forbid(monkeypatch, "find_date", "extract_title", "extract_author", "extract_license")
    e = entry(**FEED)
    article, problem = extract.extract(Page(entry=e, final_url=e.url, html=PAGE,
                                            http_status=200))
    assert problem is None
    assert (article.title, article.authors, article.published_at) == (
        "Feed title", ("Feed Author",), FEED["published_at"])
    # What the feed does not give still comes from the page.
    assert article.sitename == "Coast Times"
    assert article.description == "The harbour reopened on Monday."
    assert article.image == "https://coast.example/img/harbour.jpg"
    assert article.tags == ("Weather",)


@pytest.mark.parametrize("missing", ["title", "authors", "published_at"])
def test_what_the_feed_lacks_is_still_found(missing):
    given = {k: v for k, v in FEED.items() if k != missing}
    e = entry(**given)
    article, _ = extract.extract(Page(entry=e, final_url=e.url, html=PAGE, http_status=200))
    page = {"title": article.title, "authors": article.authors,
            "published_at": article.published_at}
    assert page[missing] == {"title": "Harbour reopens after storm",
                             "authors": ("Ana Pereira", "Tom Berg"),
                             "published_at": datetime(2025, 3, 2, tzinfo=UTC)}[missing]


def test_the_article_is_the_one_a_full_metadata_pass_gives_on_fixture_pages(monkeypatch):
    # Where the feed gives title, authors and date, skipping their search
    # changes nothing in the article: the feed's values won anyway.
    pages = [Page(entry=entry(url=url, **FEED), final_url=url, html=html, http_status=200)
             for url, html in list(_fixture_pages())[::3]]
    known = [extract.extract(page) for page in pages]
    full_pass = extract.page_metadata
    monkeypatch.setattr(extract, "page_metadata",
                        lambda tree, url, entry=None: full_pass(tree, url, None))
    searched = [extract.extract(page) for page in pages]
    assert searched == known
    assert sum(article is not None for article, _ in known) > 20


def test_the_date_search_is_bounded_by_the_runs_time_not_the_clock():
    page = PAGE.replace("2025-03-02T08:00:00Z", "2026-11-20T08:00:00Z")
    found = {}
    for fetched_at in (FETCHED_AT, datetime(2026, 11, 1, tzinfo=UTC)):
        e = entry(fetched_at=fetched_at)
        article, _ = extract.extract(Page(entry=e, final_url=e.url, html=page, http_status=200))
        found[fetched_at] = article.published_at
    assert found[FETCHED_AT] == datetime(2026, 11, 20, tzinfo=UTC)
    assert found[datetime(2026, 11, 1, tzinfo=UTC)] != datetime(2026, 11, 20, tzinfo=UTC)
