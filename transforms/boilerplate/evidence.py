"""Evidence that comes from a site's other articles, not from one page.

(a) A line equal to another article's title or description, from the same
    site, links to that article: navigation or a teaser.
(b) A line that recurs across many articles of the same site is the site's
    template.
Both count the articles at hand plus what earlier runs saw: ``SiteStats``,
kept per site in the state directory, remembers the recurrent lines, the
recent titles and descriptions, and the stories already counted (so a
rerun, or the same story at another URL, does not count twice).
(c) Everything here is a function of the set of articles and the stored
    stats, never of arrival order, so the result is the same on any runner
    and any number of workers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter
from typing import Iterable

from apache_beam.io.filesystems import FileSystems

from schemas import Article
from transforms.boilerplate.engine import SiteEvidence
from transforms.lib.state_dir import StateDir, atomic_write
from transforms.lib.text import normalise, word_count

# Only short lines can be template: a long paragraph that recurs is quoted
# or syndicated text, which belongs to each article.
MAX_TEMPLATE_WORDS = 25
# A line must recur in at least this many articles of a site...
MIN_RECURRENCE = 3
# ...and in at least this share of them, once the site has many articles.
MIN_SHARE = 0.05
# Bounds on what is remembered per site between runs.
MAX_REMEMBERED_LINES = 5000
MAX_REMEMBERED_TITLES = 2000
MAX_REMEMBERED_IDS = 20000


@dataclasses.dataclass(frozen=True)
class SiteStats:
    """What a site's articles have shown so far."""

    source: str
    articles: int = 0
    lines: tuple[tuple[str, int], ...] = ()  # (normalised line, articles containing it)
    titles: tuple[str, ...] = ()             # normalised titles and descriptions, newest first
    ids: tuple[str, ...] = ()                # stories already counted, newest first


def candidate_lines(text: str) -> set[str]:
    """The normalised short lines of one article, each counted once."""
    keys = set()
    for line in text.split("\n\n"):
        if word_count(line) <= MAX_TEMPLATE_WORDS:
            key = normalise(line)
            if key:
                keys.add(key)
    return keys


def headline_keys(article: Article) -> set[str]:
    return {k for k in (normalise(article.title or ""), normalise(article.description or ""))
            if k and len(k.split()) >= 2}


def story_of(article: Article) -> str:
    """The story an article tells (its own id before story identity ran)."""
    return article.story_id or article.id


@dataclasses.dataclass(frozen=True)
class Contribution:
    """What one article adds to its site's evidence: small (its short lines
    and its headlines), so a site's contributions can meet under one key
    where its articles could not."""

    article_id: str
    story: str
    lines: frozenset[str]
    headlines: tuple[str, ...]  # sorted


def contribution(article: Article) -> Contribution:
    return Contribution(article.id, story_of(article), frozenset(candidate_lines(article.text)),
                        tuple(sorted(headline_keys(article))))


def merge_contributions(history: SiteStats | None, source: str,
                        contributions: Iterable[Contribution]) -> SiteStats:
    """Stats after adding the articles' contributions to history, one count
    per story.

    A line must recur across different *stories* to be template: the four
    URLs one story sits at, or its republication next week, count once, so
    its own short paragraphs are never taken for the site's chrome.  A
    story counted by an earlier run is not counted again (``ids`` holds the
    stories counted).
    """
    history = history or SiteStats(source)
    seen = set(history.ids)
    counts = Counter(dict(history.lines))
    total = history.articles
    stories: dict[str, set[str]] = {}
    new_titles = []
    for part in sorted(contributions, key=lambda c: c.article_id):
        if part.story in seen:
            continue
        stories.setdefault(part.story, set()).update(part.lines)
        new_titles.extend(part.headlines)
    new_ids = sorted(stories)
    for story in new_ids:
        counts.update(stories[story])
        total += 1
    kept = sorted(((k, v) for k, v in counts.items() if v >= 2), key=lambda kv: (-kv[1], kv[0]))
    titles = tuple(dict.fromkeys(new_titles + list(history.titles)))
    return SiteStats(source, total, tuple(kept[:MAX_REMEMBERED_LINES]),
                     titles[:MAX_REMEMBERED_TITLES],
                     tuple(new_ids + list(history.ids))[:MAX_REMEMBERED_IDS])


def recurring_lines(stats: SiteStats) -> frozenset[str]:
    threshold = max(MIN_RECURRENCE, math.ceil(MIN_SHARE * stats.articles))
    return frozenset(k for k, v in stats.lines if v >= threshold)


def evidence_for(article: Article, headlines: frozenset[str], recurring: frozenset[str]
                 ) -> SiteEvidence:

    """Evidence for one article: the other articles' titles and
    descriptions (never its own: a lede often repeats the description, and
    the same story can sit at two URLs), and the site's template lines."""
    own = headline_keys(article)
    return SiteEvidence(headlines=frozenset(k for k in headlines if k not in own),
                        recurring=recurring)



def known_headlines_of(contributions: Iterable[Contribution], stats: SiteStats
                       ) -> frozenset[str]:
    """Titles and descriptions of the batch's articles and of those earlier
    runs remembered."""
    keys = set(stats.titles)
    for part in contributions:
        keys.update(part.headlines)
    return frozenset(keys)



class SiteStatsStore:
    """Per-site stats, kept through the state directory (``sites/``; a batch
    run's new stats wait under ``pending/`` until the run succeeded)."""

    def __init__(self, state_dir: str):
        self.state = StateDir(state_dir)

    @staticmethod
    def _name(source: str) -> str:
        return hashlib.sha256(source.encode("utf-8")).hexdigest()[:24] + ".json"

    def path(self, source: str, run_tag: str | None = None) -> str:
        return FileSystems.join(self.state.sites_dir(run_tag), self._name(source))

    def load(self, source: str) -> SiteStats | None:
        row = self.state.read_json(self.path(source))
        if row is None:
            return None
        return SiteStats(row["source"], row["articles"],
                         tuple((line, count) for line, count in row["lines"]),
                         tuple(row.get("titles", ())), tuple(row.get("ids", ())))

    def write(self, stats: SiteStats, run_tag: str | None = None) -> str:
        """In place, or pending for the batch run ``run_tag``."""
        body = json.dumps({"source": stats.source, "articles": stats.articles,
                           "lines": [list(pair) for pair in stats.lines],
                           "titles": list(stats.titles), "ids": list(stats.ids)},
                          ensure_ascii=False)
        return atomic_write(self.path(stats.source, run_tag), body.encode("utf-8"))
