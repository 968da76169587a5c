"""Stage 4: strip the boilerplate extractors leave behind.

The rules and the decision logic live in :mod:`transforms.boilerplate`;
this stage applies them with the evidence a site's articles give about
each other (computed from small per-article contributions, so a site's
articles are never held together), records every removed line with its
reason, and recomputes the fields that depend on the final text.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import typing
from collections import defaultdict
from typing import Any, Iterable, Iterator

import apache_beam as beam

from schemas import Article, DeadLetter, RemovedLine
from transforms.boilerplate.engine import SiteEvidence, clean_lines
from transforms.boilerplate.evidence import (
    Contribution,
    SiteStats,
    SiteStatsStore,
    contribution,
    evidence_for,
    known_headlines_of,
    merge_contributions,
    recurring_lines,
)
from transforms.boilerplate.rules import RuleSet, load_default_rules
from transforms.lib import outcomes
from transforms.lib.heap import HeapTrimmer
from transforms.lib.packed import pack
from transforms.lib.parking import Parking, Unparker, park
from transforms.lib.stage import Stage, drive
from transforms.lib.text import join_paragraphs, word_count

STAGE = "clean"
# Buckets per site: the largest group the clean step holds is a site's
# articles / BUCKETS (a site's evidence is copied once per bucket it fills).
BUCKETS = 16
ARTICLE, EVIDENCE = "article", "evidence"
_TAGGED = typing.Tuple[typing.Tuple[str, int], typing.Tuple[str, typing.Any]]
_LOG = logging.getLogger(__name__)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def finish(article: Article, lines: tuple[str, ...],
           removed: tuple[RemovedLine, ...]) -> Article:
    text = join_paragraphs(list(lines))
    return dataclasses.replace(
        article, text=text, boilerplate_removed=article.boilerplate_removed + removed,
        word_count=sum(word_count(line) for line in lines), content_hash=content_hash(text))


def clean_article(article: Article, rules: RuleSet,
                  evidence: SiteEvidence = SiteEvidence()) -> Article:
    cleaned = clean_lines(article.text.split("\n\n"), rules, article.title, evidence,
                          article.authors)
    return finish(article, cleaned.lines, cleaned.removed)


def clean_site(articles: list[Article], rules: RuleSet, history: SiteStats | None = None
               ) -> tuple[list[Article], SiteStats]:
    """Clean one site's articles with the evidence they give about each other.

    Returns the cleaned articles (in id order) and the site's updated stats.
    The stage computes the same thing without holding the site's articles
    together (see :class:`CleanBoilerplate`).
    """
    ordered = sorted(articles, key=lambda a: a.id)
    source = ordered[0].source if ordered else ""
    evidence, stats = site_evidence(source, [contribution(a) for a in ordered], history)
    return [clean_with(a, rules, evidence) for a in ordered], stats


@dataclasses.dataclass(frozen=True)
class Evidence:
    """A site's evidence, as every bucket of its articles receives it."""

    headlines: frozenset[str] = frozenset()
    recurring: frozenset[str] = frozenset()


def site_evidence(source: str, contributions: list[Contribution], history: SiteStats | None
                  ) -> tuple[Evidence, SiteStats]:
    """The evidence of a site's articles (and of earlier runs) and its new stats."""
    stats = merge_contributions(history, source, contributions)
    headlines = known_headlines_of(contributions, history or SiteStats(source))
    return Evidence(headlines, recurring_lines(stats)), stats


def clean_with(article: Article, rules: RuleSet, evidence: Evidence) -> Article:
    return clean_article(article, rules,
                         evidence_for(article, evidence.headlines, evidence.recurring))


def bucket_of(article_id: str) -> int:
    """Which of its site's ``BUCKETS`` an article is cleaned in."""
    digest = hashlib.sha256(article_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


class _ContributeFn(beam.DoFn):
    """Article in; (site, its small contribution to the site's evidence) out."""

    def process(self, article: Article) -> Iterator[tuple[str, Contribution]]:
        try:
            yield article.source, contribution(article)
        except Exception as exc:  # noqa: BLE001 - the article is still cleaned (or dead-lettered) below
            # Its lines then count as nobody's template; the article itself
            # goes on to the clean step, which decides its fate.
            outcomes.count(STAGE, "contribution_failed")
            _LOG.warning("article %s adds no site evidence: %s", article.id, exc)


class _SiteEvidenceFn(beam.DoFn):
    """A site's contributions in (per window); its evidence out, once per
    bucket that holds its articles; its SiteStats read and written.

    With ``run_tag`` the new stats go to ``pending/`` for the launcher to
    promote after a successful batch run; without, they are committed at
    once (streaming, where there is no end of run).
    """

    def __init__(self, state_dir: str | None, run_tag: str | None):
        self._state_dir = state_dir
        self._run_tag = run_tag
        self._store: SiteStatsStore | None = None

    def setup(self) -> None:
        self._store = SiteStatsStore(self._state_dir) if self._state_dir else None

    def _history(self, source: str) -> SiteStats | None:
        if self._store is None:
            return None
        try:
            return self._store.load(source)
        except (ValueError, KeyError, TypeError) as exc:
            # Unreadable stats only weaken the evidence; they are rebuilt
            # from this run's articles and rewritten below.
            outcomes.count(STAGE, "site_stats_unreadable")
            _LOG.warning("ignoring unreadable site stats of %s: %s", source, exc)
            return None

    def process(self, element: tuple[str, Iterable[Contribution]]
                ) -> Iterator[tuple[tuple[str, int], tuple[str, Any]]]:
        source, parts = element
        parts = list(parts)
        try:
            evidence, stats = site_evidence(source, parts, self._history(source))
            if self._store is not None:
                self._store.write(stats, self._run_tag)
        except Exception as exc:  # noqa: BLE001 - the site's articles are cleaned without it
            outcomes.count(STAGE, "site_evidence_failed")
            _LOG.warning("no site evidence for %s: %s", source, exc)
            return
        for bucket in sorted({bucket_of(part.article_id) for part in parts}):
            yield (source, bucket), (EVIDENCE, evidence)


class _CleanBucketFn(beam.DoFn):
    """One bucket of a site's articles and the site's evidence in; each
    article cleaned, or a dead letter, out."""

    def __init__(self, rules: RuleSet | None, parking: Parking = Parking()):
        self._given_rules = rules
        self._parking = parking
        self._rules: RuleSet | None = None
        self._heap: HeapTrimmer | None = None
        self._unpark: Unparker | None = None

    def setup(self) -> None:
        self._rules = self._given_rules or load_default_rules()
        # Unpacking and cleaning free what grouping held (transforms/lib/heap.py).
        self._heap = HeapTrimmer()
        self._unpark = Unparker(self._parking)

    def finish_bundle(self) -> None:
        if self._unpark is not None:
            self._unpark.close()

    def teardown(self) -> None:
        self.finish_bundle()

    def process(self, element: tuple[tuple[str, int], Iterable[tuple[str, Any]]]
                ) -> Iterator[Any]:
        assert self._rules is not None
        items = list(element[1])
        evidence = next((value for kind, value in items if kind == EVIDENCE), None)
        if evidence is None:
            outcomes.count(STAGE, "without_site_evidence")
            evidence = Evidence()
        assert self._heap is not None and self._unpark is not None, "setup() was not called"
        for kind, token in items:
            if kind == ARTICLE:
                self._heap.tick()
                # A parked record that cannot be read fails the bundle (the
                # runner retries it, transforms/lib/parking.py).
                yield from self._clean(self._unpark(token), evidence)

    def _clean(self, article: Article, evidence: Evidence) -> Iterator[Any]:
        # One article that breaks the engine becomes a dead letter; the
        # rest of its bucket is cleaned.
        try:
            cleaned = clean_with(article, self._rules, evidence)
        except Exception as exc:  # noqa: BLE001 - the point: any bug becomes a record
            outcomes.count(STAGE, outcomes.INTERNAL_ERROR)
            yield outcomes.internal_error(STAGE, article, exc)
            return
        outcomes.count(STAGE, "lines_removed", len(cleaned.boilerplate_removed))
        if not cleaned.text:
            outcomes.count(STAGE, "only_boilerplate")
            yield outcomes.dead_letter(
                STAGE, "only_boilerplate",
                f"all {len(cleaned.boilerplate_removed)} lines were boilerplate",
                url=cleaned.final_url or cleaned.url, feed_url=cleaned.feed_url,
                at=cleaned.fetched_at, article_id=cleaned.id)
            return
        outcomes.count(STAGE, "cleaned")
        yield cleaned


def clean_in_process(articles: list[Article], rules: RuleSet | None = None,
                     state_dir: str | None = None, run_tag: str | None = None
                     ) -> tuple[list[Article], list[Any]]:
    """The stage without Beam (benchmarks, tests): the same three DoFns,
    driven one after another, grouped as the runner groups them."""
    parts, _ = drive(_ContributeFn(), articles)
    by_site: dict[str, list[Contribution]] = defaultdict(list)
    for source, part in parts:
        by_site[source].append(part)
    evidence, _ = drive(_SiteEvidenceFn(state_dir, run_tag), sorted(by_site.items()))
    buckets: dict[tuple[str, int], list[tuple[str, Any]]] = defaultdict(list)
    for key, item in evidence:
        buckets[key].append(item)
    for article in articles:
        buckets[(article.source, bucket_of(article.id))].append((ARTICLE, pack(article)))
    cleaned, tagged = drive(_CleanBucketFn(rules), sorted(buckets.items(),
                                                          key=lambda kv: kv[0]))
    return cleaned, tagged.get(outcomes.DEAD_LETTERS, [])


def stage(rules: RuleSet | None = None, state_dir: str | None = None,
          run_tag: str | None = None, parking: Parking = Parking()) -> Stage:
    """Articles cleaned with the evidence of their site's other articles (per
    window): their headlines and the site's recurring template lines."""
    return Stage("CleanBoilerplate",
                 transform=lambda: CleanBoilerplate(rules, state_dir, run_tag, parking),
                 local=lambda articles: clean_in_process(articles, rules, state_dir, run_tag))


class CleanBoilerplate(beam.PTransform):
    """Raw articles in, clean articles and dead letters out.

    A site's articles never meet under one key, so a site with thousands of
    pages is cleaned in bounded groups: only each article's small
    contribution (its short lines and headlines) goes to its site's key,
    where the site's evidence is computed once; the evidence then joins the
    articles in ``BUCKETS`` buckets per site, by article id.
    """

    def __init__(self, rules: RuleSet | None = None, state_dir: str | None = None,
                 run_tag: str | None = None, parking: Parking = Parking()):
        super().__init__()
        self._rules = rules
        self._state_dir = state_dir
        self._run_tag = run_tag
        self._parking = parking

    def expand(self, articles: beam.PCollection[Article]
               ) -> tuple[beam.PCollection[Article], beam.PCollection[DeadLetter]]:
        evidence = (articles
                    | "Contribute" >> beam.ParDo(_ContributeFn()).with_output_types(
                        typing.Tuple[str, Contribution])
                    | "BySite" >> beam.GroupByKey()
                    | "SiteEvidence" >> beam.ParDo(
                        _SiteEvidenceFn(self._state_dir, self._run_tag)
                    ).with_output_types(_TAGGED))
        # The join, by hand (as in transforms/stories.py): both sides tagged
        # to one declared type, flattened and grouped by (site, bucket).
        # Articles wait for their site's evidence packed or parked
        # (transforms/lib/parking.py).
        keyed = (articles
                 | "ByBucket" >> beam.Map(lambda a: ((a.source, bucket_of(a.id)), a))
                 | "Wait" >> park(self._parking, ARTICLE).with_output_types(_TAGGED))
        results = ((keyed, evidence)
                   | "Both" >> beam.Flatten()
                   | "Together" >> beam.GroupByKey()
                   | "Clean" >> beam.ParDo(_CleanBucketFn(self._rules, self._parking)).with_outputs(
                       outcomes.DEAD_LETTERS, main="articles"))
        return results.articles, results[outcomes.DEAD_LETTERS]
