"""Streaming stage 2: let each article through once.

A stateful DoFn remembers, per article id, the last tick that listed it.
Every sighting renews the id, so an article stays remembered while it is
still in some feed, and is forgotten ``ttl`` after it left them all:
memory stays bounded by what the feeds list within the TTL.  Ids committed
before a restart come in as ``initially_seen`` (read from the state
directory), so a restart does not ingest them again.  Re-sightings go to a
tagged output; the commit step records them, which keeps long-lived items
remembered across restarts.

Two implementations, chosen by the runner profile (``pipelines/runners.py``):

- **Per-id timers** (Flink): each id is its own key, holding its last
  sighting, with an event-time timer that forgets it ``ttl`` after that.
  The textbook design: state is spread over all keys and workers, and
  expiry is exact.
- **Buckets** (Prism): ids are sharded into a fixed number of buckets, each
  bucket's state maps id -> last sighting, and every access to a bucket
  drops the ids whose TTL has passed.  Prism 2.62 wipes a key's state when
  a timer is set on it, which silently turns per-id dedup off; buckets need
  no timer, and keep the number of keys, and so the runner's per-key
  overhead, constant.
"""
from __future__ import annotations

import hashlib
import typing
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

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


class SeenByTimerFn(beam.DoFn):
    """Per-id keys: the last sighting in state, forgotten by an event-time timer."""

    LAST = ReadModifyWriteStateSpec("last_sighting", VarIntCoder())  # micros
    FORGET = TimerSpec("forget", TimeDomain.WATERMARK)

    def __init__(self, ttl_seconds: float, initially_seen: frozenset[str] = frozenset()):
        self._ttl_micros = int(ttl_seconds * 1_000_000)
        self._initially_seen = initially_seen

    def process(self, element: tuple[str, FeedEntry], timestamp=beam.DoFn.TimestampParam,
                last=beam.DoFn.StateParam(LAST),
                forget=beam.DoFn.TimerParam(FORGET)) -> Iterable[Any]:
        article_id, entry = element
        now = timestamp.micros
        previous = last.read()
        latest = now if previous is None else max(now, previous)
        last.write(latest)
        forget.set(Timestamp(micros=latest + self._ttl_micros))
        if previous is not None or article_id in self._initially_seen:
            outcomes.count(STAGE, "duplicate")
            yield TaggedOutput(SEEN_AGAIN, article_id)
        else:
            outcomes.count(STAGE, "new")
            yield entry

    @on_timer(FORGET)
    def expire(self, last=beam.DoFn.StateParam(LAST)) -> Iterable[Any]:
        outcomes.count(STAGE, "expired")
        last.clear()
        return ()


class DropSeen(beam.PTransform):
    """Entries (in the global window) in; first sightings out, re-sighted ids
    on the ``seen_again`` output.  ``per_id_timers`` and ``buckets`` come
    from the runner profile (``pipelines/runners.py``)."""

    def __init__(self, ttl_seconds: float, initially_seen: frozenset[str] = frozenset(),
                 buckets: int = BUCKETS, per_id_timers: bool = False):
        super().__init__()
        self._per_id = per_id_timers
        self._fn = (SeenByTimerFn(ttl_seconds, initially_seen) if per_id_timers
                    else SeenFn(ttl_seconds, initially_seen))
        self._buckets = buckets

    def expand(self, entries: beam.PCollection[FeedEntry]
               ) -> tuple[beam.PCollection[FeedEntry], beam.PCollection[str]]:
        buckets, per_id = self._buckets, self._per_id
        results = (entries
                   | "Key" >> beam.Map(lambda e: (e.id if per_id else bucket_of(e.id, buckets),
                                                  e)).with_output_types(
                       typing.Tuple[str, FeedEntry])
                   | "FirstSighting" >> beam.ParDo(self._fn).with_outputs(
                       SEEN_AGAIN, main="new"))
        return results.new, results[SEEN_AGAIN]
