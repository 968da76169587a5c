"""Stage 4: strip the boilerplate extractors leave behind.

The rules and the decision logic live in :mod:`transforms.boilerplate`;
this stage groups articles by site, applies them with the evidence the
site's articles give about each other, records every removed line with
its reason, and recomputes the fields that depend on the final text.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any, Iterable, Iterator

import apache_beam as beam

from schemas import Article, DeadLetter, RemovedLine
from transforms.boilerplate.engine import SiteEvidence, clean_lines
from transforms.boilerplate.evidence import (
    SiteStats,
    SiteStatsStore,
    evidence_for,
    known_headlines,
    merge,
    recurring_lines,
)
from transforms.boilerplate.rules import RuleSet, load_default_rules
from transforms.lib import outcomes
from transforms.lib.stage import ApplyStage, Stage
from transforms.lib.text import join_paragraphs, word_count

STAGE = "clean"
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
    """
    ordered = sorted(articles, key=lambda a: a.id)
    source = ordered[0].source if ordered else ""
    stats = merge(history, source, ordered)
    recurring = recurring_lines(stats)
    headlines = known_headlines(ordered, history or SiteStats(source))
    return [clean_article(a, rules, evidence_for(a, headlines, recurring))
            for a in ordered], stats


class CleanSiteFn(beam.DoFn):
    """Cleans one site's group of articles; reads and writes its SiteStats.

    With ``run_tag`` the new stats go to ``pending/`` for the launcher to
    promote after a successful batch run; without, they are committed at
    once (streaming, where there is no end of run).
    """

    def __init__(self, rules: RuleSet | None, state_dir: str | None, run_tag: str | None):
        self._given_rules = rules
        self._state_dir = state_dir
        self._run_tag = run_tag
        self._rules: RuleSet | None = None
        self._store: SiteStatsStore | None = None

    def setup(self) -> None:
        self._rules = self._given_rules or load_default_rules()
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

    def process(self, element: tuple[str, Iterable[Article]]) -> Iterator[Any]:
        assert self._rules is not None
        source, articles = element
        history = self._history(source)
        rules = self._rules
        # One article that breaks the engine becomes a dead letter; the rest
        # of its site is cleaned with the evidence of the others.
        result, _, failed = outcomes.isolate(
            lambda batch: clean_site(batch, rules, history), list(articles))
        for article, exc in failed:
            outcomes.count(STAGE, outcomes.INTERNAL_ERROR)
            yield outcomes.internal_error(STAGE, article, exc)
        if result is None:
            return
        cleaned, stats = result
        if self._store is not None:
            self._store.write(stats, self._run_tag)
        for article in cleaned:
            outcomes.count(STAGE, "lines_removed", len(article.boilerplate_removed))
            if not article.text:
                outcomes.count(STAGE, "only_boilerplate")
                yield outcomes.dead_letter(
                    STAGE, "only_boilerplate",
                    f"all {len(article.boilerplate_removed)} lines were boilerplate",
                    url=article.final_url or article.url, feed_url=article.feed_url,
                    at=article.fetched_at, article_id=article.id)
                continue
            outcomes.count(STAGE, "cleaned")
            yield article


def site_of(article: Article) -> str:
    return article.source


def stage(rules: RuleSet | None = None, state_dir: str | None = None,
          run_tag: str | None = None) -> Stage:
    """Articles grouped by site (per window), each cleaned with the evidence
    of its siblings: their headlines and the site's recurring template lines."""
    return Stage("CleanBoilerplate", CleanSiteFn(rules, state_dir, run_tag), key=site_of)


class CleanBoilerplate(beam.PTransform):
    """Raw articles in, clean articles and dead letters out."""

    def __init__(self, rules: RuleSet | None = None, state_dir: str | None = None,
                 run_tag: str | None = None):
        super().__init__()
        self._stage = stage(rules, state_dir, run_tag)

    def expand(self, articles: beam.PCollection[Article]
               ) -> tuple[beam.PCollection[Article], beam.PCollection[DeadLetter]]:
        return articles | ApplyStage(self._stage)
