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

import dataclasses
import hashlib
import typing
from datetime import UTC, datetime
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from schemas import FeedEntry
from transforms.lib import outcomes, progress
from transforms.lib.datasets import ARTICLES
from transforms.lib.stage import Stage
from transforms.lib.state_dir import StateDir, seen_shard_of
from transforms.sinks import Sink, window_tag

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


# The seen store across runs (batch and streaming) --------------------------------

SKIP, VERSION = "skip", "version"
UPDATE_POLICIES = (SKIP, VERSION)
_CACHED_SHARDS = 64


class SkipSeenFn(beam.DoFn):
    """Entries of one seen-store shard (per window) in; those not committed
    by an earlier run out.

    A committed id is a re-sighting: it renews the id in the store (a
    pending sighting, folded in when the run succeeds, or at the next start
    for a stream).  With ``--on-update skip`` it goes no further; with
    ``version`` it is fetched again, carrying what the store knows of it, and
    the versions stage keeps it only if its text changed.

    With ``progress_dir``, the entries it lets through, the pages the run
    will fetch, are tallied there (the launcher's ETA).
    """

    def __init__(self, state_dir: str | None, run_tag: str | None, on_update: str = SKIP,
                 progress_dir: str | None = None):
        self._state_dir = state_dir
        self._run_tag = run_tag
        self._on_update = on_update
        self._progress_dir = progress_dir
        self._tally = progress.ProgressTally(None)
        self._cache: dict[str, dict[str, list]] = {}

    def setup(self) -> None:
        self._tally = progress.ProgressTally(self._progress_dir)

    def finish_bundle(self) -> None:
        self._tally.flush()

    def teardown(self) -> None:
        self._tally.close()

    def _shard(self, state: StateDir, shard: str) -> dict[str, list]:
        if self._run_tag or shard not in self._cache:  # batch: read each run
            if len(self._cache) >= _CACHED_SHARDS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[shard] = state.seen_shard(shard)
        return self._cache[shard]

    @outcomes.guarded(STAGE, outcomes.members)
    def process(self, element: tuple[str, Iterable[FeedEntry]],
                window=beam.DoFn.WindowParam) -> Iterator[FeedEntry]:
        shard, entries = element
        entries = sorted(entries, key=lambda e: e.id)
        if not self._state_dir:
            self._tally.add(progress.ENTRIES, len(entries))
            yield from entries
            return
        state = StateDir(self._state_dir)
        known = self._shard(state, shard)
        sighted = []
        for entry in entries:
            record = known.get(entry.id)
            if record is None:
                outcomes.count(STAGE, "new")
                self._tally.add(progress.ENTRIES)
                yield entry
                continue
            sighted.append(entry)
            if self._on_update == VERSION:
                outcomes.count(STAGE, "update_candidate")
                self._tally.add(progress.ENTRIES)
                yield dataclasses.replace(entry, known_content_hash=record[1],
                                          known_version=int(record[2]))
            else:
                outcomes.count(STAGE, "already_committed")
        if sighted:
            seen = max(e.fetched_at for e in sighted).timestamp()
            ids = [e.id for e in sighted]
            if self._run_tag:
                state.write_sightings(state.pending_sightings(self._run_tag, shard), ids, seen)
            else:
                name = f"{window_tag(window, 'global')}-{shard}"
                state.write_sightings(state.stream_sightings(name), ids, seen)


def skip_stage(state_dir: str | None, run_tag: str | None, on_update: str = SKIP,
               progress_dir: str | None = None) -> Stage:
    """Entries grouped by seen-store shard (per window); committed ones dropped."""
    return Stage("SkipSeen", SkipSeenFn(state_dir, run_tag, on_update, progress_dir),
                 key=_shard_of_entry)


def _shard_of_entry(entry: FeedEntry) -> str:
    return seen_shard_of(entry.id)


def reconcile(state: StateDir, sink: Sink, now: float, ttl_seconds: float, max_ids: int,
              run_tag: str | None = None) -> dict[str, int]:
    """Bring the seen store up to date with the lake, the commit log.

    Every article file the sink committed within the TTL and the store does
    not know yet is read back (id, content hash, version) and recorded; the
    sightings a run left pending (or streams left) renew their ids; expired
    ids go.  Run before a job (a killed or failed run's commits are then
    known, so the rerun neither loses nor duplicates them) and after a batch
    job succeeds (its own commits).  Idempotent.
    """
    recorded = state.recorded_files()
    since = datetime.fromtimestamp(now - ttl_seconds, tz=UTC)
    commits, files = [], {}
    for unit in sink.committed(ARTICLES, since, ("id", "content_hash", "version", "fetched_at"),
                               skip=recorded):
        for row in unit.rows:
            fetched = row.get("fetched_at")
            seen = fetched.timestamp() if fetched is not None else now
            commits.append((row["id"], seen, row.get("content_hash"),
                            int(row.get("version") or 1)))
        files[unit.location] = now
    sightings = state.take_sightings(run_tag) + (state.take_sightings() if not run_tag else [])
    added = state.update_seen(commits, sightings, now, ttl_seconds, max_ids)
    expired = state.expire_seen(now, ttl_seconds)
    kept = {path: when for path, when in {**recorded, **files}.items()
            if when >= now - ttl_seconds}
    if files or len(kept) != len(recorded):
        state.write_recorded_files(kept)
    return {"files": len(files), "ids_added": added, "sightings": len(sightings),
            "expired": expired}
