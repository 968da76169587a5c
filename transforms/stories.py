"""Stage: give every article its story (``story_id``, ``duplicate_of``).

The matching itself is in :mod:`transforms.lib.stories`.  Here it is spread
over Beam: each article's fingerprint is computed where the article is
(MinHash of its prose, about 0.5 KB), the fingerprints of a window (the run,
in batch) meet under one key, where they are assigned in their total order
against the stories of earlier runs (``STATE_DIR/stories``), and the
assignments are joined back to the articles by id.  Only fingerprints ever
meet in one place, never article texts.

It runs between extraction and cleaning: the per-site evidence counts a
line once per story, not once per URL, so a story that sits at four URLs
of one site never loses its own paragraphs as "recurring" template.

Batch writes the run's member set under ``pending/`` (promoted after
success); streaming keeps its index in the DoFn across windows and writes
each window's new members as a delta, folded in at the next start.  The
index is bounded by ``--story-ttl`` and by ``MAX_MEMBERS``: a batch run
stores only what is within both, and a stream forgets the rest after every
window (``StoryIndex.expire``), and deletes the deltas past the TTL, so its
memory and its state directory stay flat however long it runs.
"""
from __future__ import annotations

import dataclasses
import logging
import typing
from datetime import UTC, datetime
from typing import Any, Iterable, Iterator

import apache_beam as beam

from schemas import Article, DeadLetter
from transforms.lib import outcomes
from transforms.lib.parking import Parking, Unparker, park
from transforms.lib.stage import Stage
from transforms.lib.state_dir import StateDir
from transforms.lib.stories import Assignment, Fingerprint, Member, StoryIndex, fingerprint
from transforms.sinks import window_tag

STAGE = "story"
ALL = "all"
DEFAULT_TTL_HOURS = 168.0
MAX_MEMBERS = 200_000
_LOG = logging.getLogger(__name__)


def fingerprint_of(article: Article) -> Fingerprint:
    return fingerprint(article.id, article.text, article.fetched_at, article.published_at)


def attach(article: Article, assignment: Assignment | None) -> Article:
    if assignment is None:  # never expected: an article is its own story then
        return dataclasses.replace(article, story_id=article.id, duplicate_of=None)
    return dataclasses.replace(article, story_id=assignment.story_id,
                               duplicate_of=assignment.duplicate_of)


def count_assignments(assignments: Iterable[Assignment]) -> list[Assignment]:
    assignments = list(assignments)
    duplicates = sum(1 for a in assignments if a.duplicate_of)
    outcomes.count(STAGE, "new", len(assignments) - duplicates)
    outcomes.count(STAGE, "duplicates", duplicates)
    return assignments


@dataclasses.dataclass(frozen=True)
class StorySettings:
    state_dir: str | None = None
    run_tag: str | None = None   # batch: members go to pending/ for promotion
    ttl_hours: float = DEFAULT_TTL_HOURS
    max_members: int = MAX_MEMBERS


class _FingerprintFn(beam.DoFn):
    def process(self, article: Article) -> Iterator[tuple[str, Fingerprint]]:
        try:
            yield ALL, fingerprint_of(article)
        except Exception as exc:  # noqa: BLE001 - the article is then a story of its own
            outcomes.count(STAGE, "fingerprint_failed")
            _LOG.warning("no fingerprint for %s, a story of its own: %s", article.id, exc)
            yield ALL, Fingerprint(article.id, ("", "", article.id), "", b"")


class _AssignFn(beam.DoFn):
    """All fingerprints of a window under one key: stories in total order."""

    def __init__(self, settings: StorySettings):
        self._settings = settings
        self._index: StoryIndex | None = None
        self._deltas_read: set[str] = set()

    def _load(self, state: StateDir | None) -> StoryIndex:
        if state is None:
            return StoryIndex()
        if self._index is None or self._settings.run_tag:  # batch: fresh every run
            rows, read = state.story_members()
            self._deltas_read = set(read)
            self._index = StoryIndex(Member.from_json(r) for r in rows)
        else:  # streaming: catch up with deltas another instance wrote
            rows, read = state.story_members(skip={*self._deltas_read, "members.jsonl"})
            for row in rows:
                self._index.remember(Member.from_json(row))
            self._deltas_read.update(read)
        return self._index

    def process(self, element: tuple[str, Iterable[Fingerprint]],
                window=beam.DoFn.WindowParam) -> Iterator[tuple[str, Assignment]]:
        _, prints = element
        prints = list(prints)
        settings = self._settings
        state = StateDir(settings.state_dir) if settings.state_dir else None
        seen = max(p.order[0] for p in prints) if prints else ""
        when = _epoch(seen)
        try:
            index = self._load(state)
            before = set(index.members)
            assignments = count_assignments(index.assign(prints, when))
        except Exception as exc:  # noqa: BLE001 - each article is then its own story
            outcomes.count(STAGE, "assign_failed")
            _LOG.warning("story assignment failed, every article is its own story: %s", exc)
            self._index = None
            assignments = [Assignment(p.article_id, p.article_id, None) for p in prints]
        else:
            if state is not None:
                self._save(state, index, before, when, window)
            if settings.run_tag:
                # Batch loads the index afresh for every run: holding it
                # until the pipeline ends (the runner keeps DoFns) would keep
                # about 3 KB per member through every later stage.
                self._index = None
                del index
            else:
                self._expire(state, index, when)
        for assignment in assignments:
            yield assignment.article_id, assignment

    def _save(self, state: StateDir, index: StoryIndex, before: set[str], when: float,
              window: Any) -> None:
        settings = self._settings
        if settings.run_tag:
            kept = index.bounded(when, settings.ttl_hours * 3600, settings.max_members)
            state.write_story_members((m.to_json() for m in kept), settings.run_tag)
        else:
            new = [index.members[i].to_json() for i in sorted(set(index.members) - before)]
            if new:
                state.write_story_delta(window_tag(window, "global"), new)

    def _expire(self, state: StateDir | None, index: StoryIndex, when: float) -> None:
        """Streaming: the index lives as long as the worker, so every window
        forgets what a restart would not load again (the members past the
        TTL, then the oldest past ``max_members``), and the deltas whose
        members are all past the TTL go (a restart would drop them too)."""
        settings = self._settings
        ttl = settings.ttl_hours * 3600
        expired = index.expire(when, ttl, settings.max_members)
        if expired:
            outcomes.count(STAGE, "expired", expired)
        if state is not None:
            self._deltas_read &= state.expire_story_deltas(when - ttl)


def _epoch(iso: str) -> float:
    if not iso:
        return 0.0
    return datetime.fromisoformat(iso).astimezone(UTC).timestamp()


ARTICLE, STORY = "article", "story"


class _AttachFn(beam.DoFn):
    """An article id's group in: its article (parked, ``transforms/lib/parking.py``)
    and its assignment; the article with its story out."""

    def __init__(self, parking: Parking):
        self._parking = parking
        self._unpark: Unparker | None = None

    def setup(self) -> None:
        self._unpark = Unparker(self._parking)

    def process(self, element: tuple[str, Iterable[tuple[str, Any]]]) -> Iterator[Any]:
        assert self._unpark is not None, "setup() was not called"
        items = list(element[1])
        assignment = next((value for kind, value in items if kind == STORY), None)
        for kind, token in items:
            if kind != ARTICLE:
                continue
            # A parked record that cannot be read fails the bundle (the
            # runner retries it); the article itself cannot fail below.
            article = self._unpark(token)
            try:
                yield attach(article, assignment)
            except Exception as exc:  # noqa: BLE001 - the point: any bug becomes a record
                outcomes.count(STAGE, outcomes.INTERNAL_ERROR)
                yield outcomes.internal_error(STAGE, article, exc)

    def finish_bundle(self) -> None:
        if self._unpark is not None:
            self._unpark.close()

    def teardown(self) -> None:
        self.finish_bundle()


class IdentifyStories(beam.PTransform):
    """Articles in; the same articles with their story, and dead letters, out."""

    def __init__(self, settings: StorySettings = StorySettings(), parking: Parking = Parking()):
        super().__init__()
        self._settings = settings
        self._parking = parking

    def expand(self, articles: beam.PCollection[Article]
               ) -> tuple[beam.PCollection[Article], beam.PCollection[DeadLetter]]:
        # Declared element types: a portable runner (Prism) cannot re-encode
        # the two inputs of the join's Flatten unless their coders agree.
        assignments = (articles
                       | "Fingerprint" >> beam.ParDo(_FingerprintFn()).with_output_types(
                           typing.Tuple[str, Fingerprint])
                       | "Together" >> beam.GroupByKey()
                       | "Assign" >> beam.ParDo(_AssignFn(self._settings)).with_output_types(
                           typing.Tuple[str, Assignment]))
        # The join, by hand: both sides tagged to one declared type, then
        # flattened and grouped by article id (CoGroupByKey's own Flatten
        # mixes coders).
        tagged = typing.Tuple[str, typing.Tuple[str, typing.Any]]
        # Articles wait for their assignment packed or parked (transforms/lib/parking.py).
        joined = ((articles
                   | "KeyById" >> beam.Map(lambda a: (a.id, a))
                   | "Wait" >> park(self._parking, ARTICLE).with_output_types(tagged),
                   assignments | "TagStories" >> beam.Map(lambda kv: (kv[0], (STORY, kv[1]))
                                                          ).with_output_types(tagged))
                  | "Both" >> beam.Flatten()
                  | "ById" >> beam.GroupByKey()
                  | "Attach" >> beam.ParDo(_AttachFn(self._parking)).with_outputs(
                      outcomes.DEAD_LETTERS, main="articles"))
        return joined.articles, joined[outcomes.DEAD_LETTERS]


def bounded_rows(rows: list[dict], now: float, ttl_hours: float,
                 max_members: int = MAX_MEMBERS) -> list[dict]:
    """Stored member rows (the base and streaming deltas) as one bounded set."""
    index = StoryIndex(Member.from_json(r) for r in rows)
    return [m.to_json() for m in index.bounded(now, ttl_hours * 3600, max_members)]


def identify_in_process(articles: list[Article], settings: StorySettings = StorySettings()
                        ) -> tuple[list[Article], list[Any]]:
    """The same work without Beam (benchmarks): no state, one index for all."""
    index = StoryIndex()
    prints = [fingerprint_of(a) for a in articles]
    by_id = {a.article_id: a for a in index.assign(prints, 0.0)}
    return [attach(a, by_id.get(a.id)) for a in articles], []


def stage(settings: StorySettings = StorySettings(), parking: Parking = Parking()) -> Stage:
    return Stage("IdentifyStories", transform=lambda: IdentifyStories(settings, parking),
                 local=lambda articles: identify_in_process(articles, settings))
