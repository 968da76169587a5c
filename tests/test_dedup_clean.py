"""Dedup and the clean stage: the DoFn directly and the composites."""
from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from devsite.seed_site import NEXT_TITLE, PREVIOUS_TITLE, seed_article
from schemas import Article, FeedEntry, RemovedLine
from tests.conftest import FETCHED_AT
from transforms.boilerplate.evidence import SiteStatsStore
from transforms.boilerplate.rules import load_default_rules
from transforms.clean import BUCKETS, CleanBoilerplate, bucket_of, clean_in_process, clean_site
from transforms.dedup import DedupEntries
from transforms.lib.state_dir import StateDir

HEADLINE, BODY = seed_article()
RULES = load_default_rules()


def entry(feed: str, **fields) -> FeedEntry:
    return FeedEntry(id="same", url="https://x.example/a", feed_url=feed,
                     fetched_at=FETCHED_AT, **fields)


def test_dedup_keeps_one_entry_per_id_deterministically():
    copies = [entry("https://x.example/world"), entry("https://x.example/all"),
              entry("https://x.example/zzz", content="<p>full</p>")]
    feeds = ("https://x.example/all", "https://x.example/world", "https://x.example/zzz")
    for order in (copies, list(reversed(copies))):
        with TestPipeline() as p:
            out, dead = p | beam.Create(order) | DedupEntries()
            assert_that(out | beam.Map(lambda e: (e.feed_url, e.feed_urls)),
                        equal_to([("https://x.example/zzz", feeds)]))
            assert_that(dead, equal_to([]), label="NoDeadLetters")


def test_a_site_group_with_one_poisoned_article_cleans_the_others():
    raw = "\n\n".join([*BODY, "Zdieľaj tento článok"])
    poisoned = article(None, id="p")  # text None: the engine raises on it
    main, dead_letters = clean_in_process([article(raw, id="a"), poisoned, article(raw, id="c")])
    assert sorted(a.id for a in main) == ["a", "c"]
    assert all(a.text == "\n\n".join(BODY) for a in main)
    (dead,) = dead_letters
    assert (dead.stage, dead.error_type, dead.article_id) == ("clean", "internal_error", "p")


def article(text: str, title: str = HEADLINE, id: str = "a", source: str = "x.example",
            **fields) -> Article:
    return Article(id=id, url=f"https://{source}/{id}", feed_url="f", source=source,
                   fetched_at=FETCHED_AT, text=text, extraction_method="trafilatura",
                   title=title, **fields)


def test_clean_stage_in_process():
    raw = "\n\n".join([HEADLINE, *BODY, "Zdieľaj tento článok", "Pridaj komentár"])
    main, dead_letters = clean_in_process([article(raw), article("Share\n\nTweet", id="b")])
    (cleaned,) = main
    assert cleaned.text == "\n\n".join(BODY)
    assert 400 < cleaned.word_count < 450 and len(cleaned.content_hash) == 64
    assert [r.reason for r in cleaned.boilerplate_removed] == ["title", "share:sk",
                                                               "comments:sk"]
    assert [(d.error_type, d.article_id) for d in dead_letters] == [("only_boilerplate", "b")]


def test_other_articles_headlines_are_navigation():
    body = "\n\n".join(BODY)
    articles = [article(body + "\n\n" + PREVIOUS_TITLE, id="a"),
                article("A long enough body for the other article to stand on its own.",
                        title=PREVIOUS_TITLE, id="b"),
                article("Another article body that is long enough to be kept here.",
                        title=NEXT_TITLE, id="c")]
    cleaned, _ = clean_site(articles, RULES)
    first = next(a for a in cleaned if a.id == "a")
    assert first.text == body
    assert first.boilerplate_removed[-1].reason == "other_headline"


def test_recurring_lines_across_a_site_are_template():
    body = ["Paragraph {} of story {} says something specific about the council vote today."]
    articles = [article("\n\n".join([body[0].format(1, i), "Follow us on Mastodon",
                                     body[0].format(2, i)]), title=f"Story {i}", id=f"s{i}")
                for i in range(4)]
    cleaned, stats = clean_site(articles, RULES)
    assert all("Follow us on Mastodon" not in a.text for a in cleaned)
    assert {r.reason for a in cleaned for r in a.boilerplate_removed} == {"recurring"}
    assert stats.articles == 4 and dict(stats.lines)["follow us on mastodon"] == 4


def test_recurrence_is_remembered_across_runs_and_not_double_counted(tmp_path):
    store = SiteStatsStore(str(tmp_path))
    line = "Follow us on Mastodon"
    batch = [article(f"Story {i} has a long first paragraph about the weather.\n\n{line}",
                     title=f"T{i}", id=f"r{i}") for i in range(2)]
    _, stats = clean_site(batch, RULES)
    store.write(stats)
    _, again = clean_site(batch, RULES, store.load("x.example"))
    assert again.articles == 2, "a rerun must not count the same articles twice"
    late = article(f"A new story with a long first paragraph about the tide.\n\n{line}",
                   title="T9", id="r9")
    (cleaned,), _ = clean_site([late], RULES, store.load("x.example"))
    assert line not in cleaned.text


def test_result_does_not_depend_on_order():
    articles = [article("\n\n".join([f"Unique paragraph {i} with plenty of words to be body "
                                     "text in any sense of the word.", "Follow us",
                                     "Related"]), title=f"T{i}", id=f"o{i}")
                for i in range(5)]
    forward, s1 = clean_site(articles, RULES)
    backward, s2 = clean_site(list(reversed(articles)), RULES)
    assert forward == backward and s1 == s2


def test_composite_groups_by_site_and_writes_pending_stats(tmp_path):
    with TestPipeline() as p:
        cleaned, dead = (p | beam.Create([article("\n\n".join([*BODY, "Read next"])),
                                          article("\n\n".join(BODY), id="z",
                                                  source="y.example")])
                         | CleanBoilerplate(state_dir=str(tmp_path), run_tag="t1"))
        assert_that(cleaned | beam.Map(lambda a: (a.source, a.text)),
                    equal_to([("x.example", "\n\n".join(BODY)),
                              ("y.example", "\n\n".join(BODY))]), label="text")
        assert_that(dead, equal_to([]), label="dead")
    store = SiteStatsStore(str(tmp_path))
    assert store.load("x.example") is None
    StateDir(str(tmp_path)).promote("t1")
    assert store.load("x.example").articles == 1


def test_markup_removals_from_extraction_are_kept_in_the_audit():
    byline = RemovedLine("By Jane", "markup:byline")
    kept = dataclasses.replace(article("\n\n".join([*BODY, "Read next"])),
                               boilerplate_removed=(byline,))
    (cleaned,), _ = clean_site([kept], RULES)
    assert cleaned.boilerplate_removed == (byline, RemovedLine("Read next", "related:en"))



def test_a_big_site_is_cleaned_in_buckets_exactly_as_one_group_would_be(tmp_path):
    """60 articles of one site, with a template line they all carry and links
    to each other's headlines: the composite, which never holds the site's
    articles together, gives what cleaning the site as one group gives, and
    writes the same site stats."""
    articles = []
    for i in range(60):
        lines = [f"Story {i} opens with its own first paragraph, which is long enough "
                 f"to be prose and not a template line of the site at all, number {i}.",
                 "Subscribe to the Morning Brief newsletter",
                 f"Headline number {(i + 1) % 60} of the site"]
        articles.append(article("\n\n".join(lines), title=f"Headline number {i} of the site",
                                id=f"{i:04d}"))
    expected, stats = clean_site(articles, RULES)
    assert len({bucket_of(a.id) for a in articles}) == BUCKETS
    assert all(len(a.boilerplate_removed) == 2 for a in expected)  # template and teaser
    with TestPipeline() as p:
        cleaned, dead = (p | beam.Create(articles)
                         | CleanBoilerplate(state_dir=str(tmp_path), run_tag="t1"))
        assert_that(cleaned, equal_to(expected), label="same articles")
        assert_that(dead, equal_to([]), label="dead")
    StateDir(str(tmp_path)).promote("t1")
    assert SiteStatsStore(str(tmp_path)).load("x.example") == stats
