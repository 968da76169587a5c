"""Composites for dedup and cleaning on a TestPipeline."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import Article, FeedEntry
from tests.conftest import FETCHED_AT
from tests.harness import drive
from tests.site.seed_site import seed_article
from transforms.clean import CleanArticleFn, CleanBoilerplate
from transforms.dedup import DedupEntries
from transforms.outcomes import DEAD_LETTERS

HEADLINE, BODY = seed_article()


def entry(feed: str, **fields) -> FeedEntry:
    return FeedEntry(id="same", url="https://x.example/a", feed_url=feed,
                     fetched_at=FETCHED_AT, **fields)


def test_dedup_keeps_one_entry_per_id_deterministically():
    copies = [entry("https://x.example/world"), entry("https://x.example/all"),
              entry("https://x.example/zzz", content="<p>full</p>")]
    for order in (copies, list(reversed(copies))):
        with TestPipeline() as p:
            out = p | beam.Create(order) | DedupEntries()
            assert_that(out | beam.Map(lambda e: e.feed_url),
                        equal_to(["https://x.example/zzz"]))


def article(text: str, title: str = HEADLINE) -> Article:
    return Article(id="a", url="https://x.example/a", feed_url="f", source="x.example",
                   fetched_at=FETCHED_AT, text=text, extraction_method="trafilatura",
                   title=title)


def test_clean_fn_directly():
    raw = "\n\n".join([HEADLINE, *BODY, "Zdieľaj tento článok", "Pridaj komentár"])
    main, tagged = drive(CleanArticleFn(), [article(raw), article("Share\n\nTweet")],
                         with_window=False)
    (cleaned,) = main
    assert cleaned.text == "\n\n".join(BODY)
    assert 400 < cleaned.word_count < 450
    assert len(cleaned.content_hash) == 64
    assert [r.reason for r in cleaned.boilerplate_removed] == ["title", "share:sk",
                                                               "comments:sk"]
    assert [d.error_type for d in tagged[DEAD_LETTERS]] == ["only_boilerplate"]


def test_clean_composite():
    with TestPipeline() as p:
        cleaned, dead = (p | beam.Create([article("\n\n".join([*BODY, "Read next"]))])
                         | CleanBoilerplate())
        assert_that(cleaned | beam.Map(lambda a: a.text), equal_to(["\n\n".join(BODY)]),
                    label="text")
        assert_that(dead, equal_to([]), label="dead")
