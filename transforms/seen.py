"""Streaming stage 2: let each article through once.

A stateful DoFn remembers, per article id, the last tick that listed it.
Every sighting renews the id, so an article stays remembered while it is
still in some feed, and is forgotten ``ttl`` after it left them all:
memory stays bounded by what the feeds list within the TTL.  Ids committed
before a restart come in as ``initially_seen`` (read from the state
directory), so a restart does not ingest them again.  Re-sightings go to a
tagged output; the commit step records them, which keeps long-lived items
remembered across restarts.

Expiry is lazy rather than timer-driven: ids are sharded into a fixed
number of buckets, each bucket's state maps id -> last sighting, and every
access to a bucket drops the ids whose TTL has passed.  A per-id
event-time timer would be the textbook design, but Prism 2.62 (the
streaming runner this Beam release ships with) wipes a key's state when a
timer is set on it, which silently turns dedup off; buckets also keep the
number of keys, and so the runner's per-key overhead, constant.
"""
from __future__ import annotations

import hashlib
import typing
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from schemas import FeedEntry
from transforms.lib import outcomes

STAGE = "seen"
SEEN_AGAIN = "seen_again"
BUCKETS = 64


def bucket_of(article_id: str, buckets: int = BUCKETS) -> str:
    digest = hashlib.sha256(article_id.encode("utf-8")).digest()
    return f"{int.from_bytes(digest[:4], 'big') % buckets:03d}"


class SeenFn(beam.DoFn):
    # id -> micros of the last tick that listed it
    SEEN = ReadModifyWriteStateSpec("seen", PickleCoder())

    def __init__(self, ttl_seconds: float, initially_seen: frozenset[str] = frozenset()):
        self._ttl_micros = int(ttl_seconds * 1_000_000)
        self._initially_seen = initially_seen

    def process(self, element: tuple[str, FeedEntry], timestamp=beam.DoFn.TimestampParam,
                seen=beam.DoFn.StateParam(SEEN)) -> Iterable[Any]:
        _, entry = element
        now = timestamp.micros
        last_seen: dict[str, int] = seen.read() or {}
        expired = [i for i, when in last_seen.items() if when + self._ttl_micros < now]
        for article_id in expired:
            del last_seen[article_id]
        if expired:
            outcomes.count(STAGE, "expired", len(expired))
        known = entry.id in last_seen or entry.id in self._initially_seen
        last_seen[entry.id] = max(now, last_seen.get(entry.id, now))
        seen.write(last_seen)
        if known:
            outcomes.count(STAGE, "duplicate")
            yield TaggedOutput(SEEN_AGAIN, entry.id)
        else:
            outcomes.count(STAGE, "new")
            yield entry


class DropSeen(beam.PTransform):
    """Entries (in the global window) in; first sightings out, re-sighted ids
    on the ``seen_again`` output.  ``buckets`` comes from the runner profile
    (``pipelines/runners.py``)."""

    def __init__(self, ttl_seconds: float, initially_seen: frozenset[str] = frozenset(),
                 buckets: int = BUCKETS):
        super().__init__()
        self._fn = SeenFn(ttl_seconds, initially_seen)
        self._buckets = buckets

    def expand(self, entries: beam.PCollection[FeedEntry]
               ) -> tuple[beam.PCollection[FeedEntry], beam.PCollection[str]]:
        buckets = self._buckets
        results = (entries
                   | "KeyByBucket" >> beam.Map(lambda e: (bucket_of(e.id, buckets), e)
                                               ).with_output_types(
                       typing.Tuple[str, FeedEntry])
                   | "FirstSighting" >> beam.ParDo(self._fn).with_outputs(
                       SEEN_AGAIN, main="new"))
        return results.new, results[SEEN_AGAIN]
