"""Stage 4: strip the boilerplate extractors leave behind.

The rules and the decision logic live in :mod:`transforms.boilerplate`;
this stage applies them to each article, records every removed line with
its reason, and recomputes the fields that depend on the final text.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Iterator

import apache_beam as beam

from schemas import Article, DeadLetter, RemovedLine
from transforms import outcomes
from transforms.boilerplate.engine import SiteEvidence, clean_lines
from transforms.boilerplate.rules import RuleSet, load_default_rules
from transforms.text import join_paragraphs, word_count

STAGE = "clean"


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
    cleaned = clean_lines(article.text.split("\n\n"), rules, article.title, evidence)
    return finish(article, cleaned.lines, cleaned.removed)


class CleanArticleFn(beam.DoFn):
    def __init__(self, rules: RuleSet | None = None):
        self._given_rules = rules
        self._rules: RuleSet | None = None

    def setup(self) -> None:
        self._rules = self._given_rules or load_default_rules()

    def process(self, article: Article) -> Iterator[Any]:
        assert self._rules is not None
        cleaned = clean_article(article, self._rules)
        outcomes.count(STAGE, "lines_removed", len(cleaned.boilerplate_removed))
        if not cleaned.text:
            outcomes.count(STAGE, "only_boilerplate")
            yield outcomes.dead_letter(
                STAGE, "only_boilerplate",
                f"all {len(cleaned.boilerplate_removed)} lines were boilerplate",
                url=article.final_url or article.url, feed_url=article.feed_url,
                at=article.fetched_at, article_id=article.id)
            return
        outcomes.count(STAGE, "cleaned")
        yield cleaned


class CleanBoilerplate(beam.PTransform):
    """Raw articles in, clean articles and dead letters out."""

    def __init__(self, rules: RuleSet | None = None):
        super().__init__()
        self._rules = rules

    def expand(self, articles: beam.PCollection[Article]
               ) -> tuple[beam.PCollection[Article], beam.PCollection[DeadLetter]]:
        results = articles | "Clean" >> beam.ParDo(CleanArticleFn(self._rules)).with_outputs(
            outcomes.DEAD_LETTERS, main="articles")
        return results.articles, results[outcomes.DEAD_LETTERS]
