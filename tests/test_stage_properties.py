"""Whatever one element holds, every stage turns it into outputs or dead
letters, never an exception, and nothing it emits breaks the Parquet sink.

Hypothesis generates pages, feed entries and articles with hostile text:
controls, lone surrogates, C1 and bidi characters, huge and empty values,
markup fragments.  Each DoFn is called the way a runner calls it.
"""
from __future__ import annotations

import string

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ARTICLE_PARTITIONS, ARTICLE_SCHEMA, Article, FeedEntry, Page
from schemas.arrow import file_schema
from tests.conftest import FETCHED_AT
from tests.harness import drive
from transforms.clean import clean_in_process
from transforms.dedup import _PickOne
from transforms.extract import ExtractArticleFn, ExtractLimits
from transforms.language import DetectLanguageFn
from transforms.lib.datasets import ARTICLES, ERRORS
from transforms.lib.outcomes import DEAD_LETTERS
from transforms.rows import _CheckRowFn
from transforms.sinks.parquet import to_table

PIECES = [*string.printable, "\x00", "\x1b", "\x9b", "\ud800", "\udfff", "\u202e", "é",
          "e\u0301", "\ufeff", "\u3002", "日本", "<", ">", "&amp;", "\n\n"]
HOSTILE = st.lists(st.sampled_from(PIECES), max_size=200).map("".join)
TEXTS = st.one_of(HOSTILE, st.sampled_from([
    "", " ", "\n\n\n", "Share\n\nTweet", "Zdieľaj tento článok",
    "The council approved the budget on Monday after a long debate. " * 30]))
URLS = st.sampled_from(["https://news.example/a", "http://[::1]/x", "https://x.example/%ff",
                        "https://ex\u00e4mple.com/\ud800", "not a url", ""])


@st.composite
def entries(draw, i: int = 0) -> FeedEntry:
    return FeedEntry(id=f"{i:032x}", url=draw(URLS), feed_url=draw(URLS), fetched_at=FETCHED_AT,
                     guid=draw(st.none() | HOSTILE), title=draw(st.none() | HOSTILE),
                     summary=draw(st.none() | TEXTS), content=draw(st.none() | TEXTS),
                     authors=tuple(draw(st.lists(HOSTILE, max_size=3))),
                     tags=tuple(draw(st.lists(HOSTILE, max_size=3))),
                     feed_title=draw(st.none() | HOSTILE))


@st.composite
def pages(draw) -> Page:
    body = draw(TEXTS)
    html = draw(st.sampled_from([
        f"<html><body><article><p>{body}</p><p>{body}</p></article></body></html>",
        body, "<html>", "<" * 50, f"<?xml version='1.0'?><p>{body}</p>"]))
    return Page(entry=draw(entries()), final_url=draw(st.none() | URLS),
                html=draw(st.none() | st.just(html)), http_status=draw(st.none() | st.integers(
                    -10, 99999)), fetch_error=draw(st.none() | st.just("http_500")))


@st.composite
def articles(draw, i: int) -> Article:
    return Article(id=f"{i:032x}", url=draw(URLS), feed_url=draw(URLS),
                   source=draw(st.sampled_from(["news.example", "x.example"])),
                   fetched_at=FETCHED_AT, text=draw(TEXTS), extraction_method="trafilatura",
                   title=draw(st.none() | HOSTILE), description=draw(st.none() | HOSTILE),
                   authors=tuple(draw(st.lists(HOSTILE, max_size=2))))


def every_record_is_writable(main, tagged) -> None:
    """Articles that pass the row check, and every dead letter, make a file."""
    main_rows = [m for m in main if isinstance(m, Article)]
    checked, rejected = drive(_CheckRowFn(ARTICLES), main_rows, with_window=False)
    to_table(ARTICLES, checked)
    to_table(ERRORS, list(tagged.get(DEAD_LETTERS, [])) + list(rejected.get(DEAD_LETTERS, [])))


@settings(max_examples=40)
@given(st.lists(pages(), min_size=1, max_size=4))
def test_extract_never_raises_and_every_page_ends_somewhere(batch):
    fn = ExtractArticleFn(ExtractLimits(max_elements=5000, cpu_seconds=5))
    main, tagged = drive(fn, batch, with_window=False)
    dead = tagged.get(DEAD_LETTERS, [])
    ended = {a.id for a in main} | {d.article_id for d in dead}
    assert ended == {p.entry.id for p in batch}
    every_record_is_writable(main, tagged)


@settings(max_examples=25)
@given(st.data())
def test_clean_and_language_never_raise_and_every_article_ends_somewhere(data):
    batch = [data.draw(articles(i)) for i in range(data.draw(st.integers(1, 5)))]
    cleaned, dead = clean_in_process(batch)
    ended = {a.id for a in cleaned} | {d.article_id for d in dead}
    assert ended == {a.id for a in batch}
    detected, more = drive(DetectLanguageFn(), cleaned, with_window=False)
    assert {a.id for a in detected} | {d.article_id for d in more.get(DEAD_LETTERS, [])} == \
        {a.id for a in cleaned}
    every_record_is_writable(detected, {DEAD_LETTERS: dead + more.get(DEAD_LETTERS, [])})


@settings(max_examples=40)
@given(st.lists(entries(), min_size=1, max_size=4))
def test_dedup_merges_any_copies_into_one_entry_that_lists_every_feed(copies):
    main, tagged = drive(_PickOne(), [("same-id", copies)], with_window=False)
    assert not tagged
    (winner,) = main
    assert set(winner.feed_urls) == {c.feed_url for c in copies}


@settings(max_examples=40)
@given(st.data())
def test_the_row_check_rejects_exactly_what_pyarrow_cannot_write(data):
    article = data.draw(articles(0))
    main, tagged = drive(_CheckRowFn(ARTICLES), [article], with_window=False)
    schema = file_schema(ARTICLE_SCHEMA, ARTICLE_PARTITIONS)
    try:
        to_table(ARTICLES, [article])
        writable = True
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        writable = False
    assert (main == [article]) == writable
    assert bool(tagged) == (not writable)
    if not writable:
        (dead,) = tagged[DEAD_LETTERS]
        assert dead.stage == "write" and dead.error_type == "unwritable_row"
        to_table(ERRORS, [dead])
    assert schema.names  # the file schema the check uses is the sink's
