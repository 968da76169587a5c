"""One entry per article id within a batch run.

The same story often sits in several feeds of a site (front page, section,
author).  All copies share an id, so keeping more than one would write
duplicate rows.  Which copy wins must not depend on arrival order, so the
choice is by a total order on the entry's fields, not "first seen".  The
merge stays visible per entry: the winner carries ``feed_urls``, every
feed that listed it, into its article row.
Streaming uses a stateful, TTL-bounded variant instead (see
``transforms.seen``), because a global window never closes there.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator

import apache_beam as beam

from schemas import DeadLetter, FeedEntry
from transforms.lib import outcomes
from transforms.lib.stage import ApplyStage, Stage

STAGE = "dedup"


def preference(entry: FeedEntry) -> tuple:
    """Lower is preferred: a feed that carries the full content, then
    deterministic tie-breakers."""
    return (entry.content is None, entry.feed_url, entry.url, entry.guid or "",
            entry.title or "")


def merge_copies(copies: Iterable[FeedEntry]) -> FeedEntry:
    """The preferred copy, carrying every feed that listed the entry."""
    copies = list(copies)
    feeds = sorted({feed for c in copies for feed in (c.feed_url, *c.feed_urls)})
    return dataclasses.replace(min(copies, key=preference), feed_urls=tuple(feeds))


class _PickOne(beam.DoFn):
    @outcomes.guarded(STAGE, outcomes.members)
    def process(self, element: tuple[str, Iterable[FeedEntry]]) -> Iterator[FeedEntry]:
        _, copies = element
        copies = list(copies)
        if len(copies) > 1:
            outcomes.count(STAGE, "duplicates_merged", len(copies) - 1)
        yield merge_copies(copies)


def entry_id(entry: FeedEntry) -> str:
    return entry.id


def stage() -> Stage:
    """Copies grouped by article id (per window), one entry out of each group."""
    return Stage("DedupEntries", _PickOne(), key=entry_id)


class DedupEntries(beam.PTransform):
    """Feed entries in; one entry per article id, and dead letters, out."""

    def expand(self, entries: beam.PCollection[FeedEntry]
               ) -> tuple[beam.PCollection[FeedEntry], beam.PCollection[DeadLetter]]:
        return entries | ApplyStage(stage())
