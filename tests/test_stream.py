"""Streaming stages on TestStream (DirectRunner): dedup across ticks, TTL
expiry, late and duplicate entries, and per-window commits."""
from __future__ import annotations

import os
import re

import apache_beam as beam
import pyarrow.dataset as ds
import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue, WindowFn
from apache_beam.utils.timestamp import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from devsite.live_site import article
from devsite.server import Site, static
from pipelines import stream
from pipelines.options import NewsbeamOptions
from schemas import FeedEntry
from tests.conftest import FETCHED_AT
from transforms import poll, seen
from transforms.lib.state_dir import StateDir, atomic_write, seen_shard_of
from transforms.poll import tick_windows
from transforms.seen import DropSeen
from transforms.sinks import window_tag
from transforms.sinks.parquet import ParquetSink

BASE = int(FETCHED_AT.timestamp())


def entry(name: str, url: str | None = None) -> FeedEntry:
    return FeedEntry(id=name, url=url or f"https://x.example/{name}",
                     feed_url="https://x.example/feed", fetched_at=FETCHED_AT,
                     title=f"Title {name}")


def streaming() -> TestPipeline:
    return TestPipeline(options=PipelineOptions(["--streaming"]))


def at(seconds: int, *entries: FeedEntry) -> list:
    return [TimestampedValue(e, BASE + seconds) for e in entries]




# Both seen stores: buckets with lazy expiry (Prism), per-id keys with timers (Flink).
VARIANTS = pytest.mark.parametrize("per_id_timers", [False, True], ids=["buckets", "timers"])


@VARIANTS
def test_dedup_across_ticks(per_id_timers):
    events = (TestStream().add_elements(at(0, entry("a"), entry("b")))
              .advance_watermark_to(BASE + 60)
              .add_elements(at(60, entry("a"), entry("c")))
              .advance_watermark_to_infinity())
    with streaming() as p:
        new, again = p | events | DropSeen(3600, per_id_timers=per_id_timers)
        assert_that(new | beam.Map(lambda e: e.id), equal_to(["a", "b", "c"]), label="new")
        assert_that(again, equal_to(["a"]), label="again")


@VARIANTS
def test_ttl_expiry_forgets_ids_no_feed_lists_any_more(per_id_timers):
    events = (TestStream().add_elements(at(0, entry("a")))
              .advance_watermark_to(BASE + 30)
              .add_elements(at(30, entry("a")))           # seen again: expiry pushed to 80
              .advance_watermark_to(BASE + 100)           # forgotten at 80
              .add_elements(at(100, entry("a")))
              .advance_watermark_to_infinity())
    with streaming() as p:
        new, again = p | events | DropSeen(50, per_id_timers=per_id_timers)

        assert_that(new | beam.Map(lambda e: e.id), equal_to(["a", "a"]), label="new")
        assert_that(again, equal_to(["a"]), label="again")


@VARIANTS
def test_late_and_duplicate_entries(per_id_timers):
    events = (TestStream().add_elements(at(0, entry("a"), entry("a"), entry("b")))
              .advance_watermark_to(BASE + 500)
              .add_elements(at(5, entry("a"), entry("d")))  # behind the watermark
              .advance_watermark_to_infinity())
    with streaming() as p:
        new, again = p | events | DropSeen(3600, frozenset({"b"}), per_id_timers=per_id_timers)
        assert_that(new | beam.Map(lambda e: e.id), equal_to(["a", "d"]), label="new")
        assert_that(again, equal_to(["a", "b", "a"]), label="again")


@pytest.fixture(scope="module")
def pages():
    routes = {f"/p/{name}": static(article(i)) for i, name in enumerate("abcde")}
    with Site(routes=routes) as site:
        yield site


def test_window_commits(pages, tmp_path):
    options = PipelineOptions(["--streaming", "--output", str(tmp_path), "--window", "60",
                               "--allow-private-networks"])
    e = {n: entry(n, pages.url(f"/p/{n}")) for n in "abcde"}
    events = (TestStream()
              .add_elements(at(0, e["a"], e["b"]))
              .advance_watermark_to(BASE + 30)
              .add_elements(at(30, e["a"], e["c"]))
              .advance_watermark_to(BASE + 90)             # closes [0, 60)
              .add_elements(at(90, e["d"], e["b"]))
              .advance_watermark_to_infinity())
    with TestPipeline(options=options) as p:
        entries = p | events
        empty_dead = p | "NoFeedErrors" >> beam.Create([])
        empty_states = p | "NoFeedStates" >> beam.Create([])
        ticks = entries | "OneTickPerEntry" >> beam.Map(lambda _: 0.0)
        commits = stream.process(entries, empty_dead, empty_states, ticks, options)
        assert_that(commits | beam.Map(lambda r: (r["window"], r["articles"],
                                                  r["duplicates_skipped"], r["ticks"])),
                    equal_to([("20261125T120000Z-20261125T120100Z", 3, 1, 4),
                              ("20261125T120100Z-20261125T120200Z", 1, 1, 2)]))
    table = ds.dataset(tmp_path / "articles", format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("id").to_pylist()) == ["a", "b", "c", "d"]
    files = sorted(f for _, _, names in os.walk(tmp_path / "articles") for f in names)
    assert [re.sub(r"-[0-9a-f]{12}\.parquet$", ".parquet", f) for f in files] == [
        "part-20261125T120000Z-20261125T120100Z-00000.parquet",
        "part-20261125T120100Z-20261125T120200Z-00000.parquet"]
    records = sorted(os.listdir(tmp_path / "_state" / "commits"))
    assert records == ["20261125T120000Z-20261125T120100Z.json",
                       "20261125T120100Z-20261125T120200Z.json"]
    # The lake is the commit log: the next start records every committed id,
    # and the re-sightings the windows left renew theirs.
    state = StateDir(str(tmp_path / "_state"))
    now = BASE + 300
    summary = seen.reconcile(state, ParquetSink(str(tmp_path)), now, 3600, 10_000)
    assert summary["files"] == 2 and summary["ids_added"] == 4 and summary["sightings"] == 2
    store = {i: r for shard in ("a", "b", "c", "d") for i, r in state.seen_shard(
        seen_shard_of(shard)).items()}
    assert sorted(store) == ["a", "b", "c", "d"]
    assert store["b"][0] == BASE + 120  # re-sighted at 90, in the window ending at 120
    assert seen.reconcile(state, ParquetSink(str(tmp_path)), now, 3600, 10_000)["files"] == 0


@settings(max_examples=300, deadline=None)
@given(start=st.floats(1.7e9, 1.8e9), interval=st.sampled_from([0.5, 1, 7, 60, 300, 900]),
       ticks=st.integers(0, 400), window=st.sampled_from([6, 60, 300, 3600]))
def test_tick_windows_are_the_windows_of_every_tick(start, interval, ticks, window):
    # What a stopped stream on Flink waits for: the window of each tick,
    # computed without visiting every tick when ticks are denser than windows.
    fixed = FixedWindows(window)
    assign = lambda t: fixed.assign(WindowFn.AssignContext(Timestamp.of(t)))[0]  # noqa: E731
    expected = {window_tag(assign(start + interval * k), "") for k in range(ticks + 1)}
    assert tick_windows(start, interval, start + interval * ticks, window) == expected


def test_no_tick_no_window():
    assert tick_windows(1.8e9, 1, None, 6) == set()


def test_the_state_directory_reads_the_tick_sources_answer(tmp_path):
    state = StateDir(str(tmp_path))
    assert state.last_tick() == (False, None)
    atomic_write(state.stopped_marker, b'{"last_tick": 1796039694.5}')
    assert state.last_tick() == (True, 1796039694.5)
    atomic_write(state.stopped_marker, b'{"last_tick": null}')
    assert state.last_tick() == (True, None)
    state.clear_stop()
    assert state.last_tick() == (False, None)


class _Tracker:
    """The restriction tracker view Beam hands a splittable DoFn, for direct calls."""

    def __init__(self, start: int, stop: int = 1000):
        self._tracker = OffsetRestrictionTracker(OffsetRange(start, stop))
        self.deferred = False

    def current_restriction(self):
        return self._tracker.current_restriction()

    def try_claim(self, position):
        return self._tracker.try_claim(position)

    def defer_remainder(self):
        self.deferred = True


def _tick(fn, tracker, watermark, start=1000.0, interval=1.0):
    return list(fn.process(f"{start},{start + 1e6},{interval}", tracker, watermark))


@pytest.fixture
def clock(monkeypatch):
    now = {"t": 1010.5}
    monkeypatch.setattr(poll.time, "time", lambda: now["t"])
    monkeypatch.setattr(poll.time, "sleep", lambda s: None)
    return now


def test_the_tick_watermark_never_passes_a_tick_it_emits(tmp_path, clock):
    # Catching up (the runner resumed late): ticks 1000..1010 at once.  The
    # watermark stays below the first of them, even without trailing.
    state = StateDir(str(tmp_path))
    fn = poll._TickFn(state.root, trailing_watermark=False)
    tracker, watermark = _Tracker(0), ManualWatermarkEstimator(None)
    assert _tick(fn, tracker, watermark) == [1000.0 + k for k in range(11)]
    assert watermark.current_watermark() <= Timestamp.of(1000.0) and tracker.deferred


def test_a_stop_is_answered_with_the_last_tick_and_held_for_the_grace(tmp_path, clock):
    state = StateDir(str(tmp_path))
    fn = poll._TickFn(state.root, margin=2.0, stop_grace=10.0)
    state.request_stop()
    tracker, watermark = _Tracker(11), ManualWatermarkEstimator(None)
    assert _tick(fn, tracker, watermark) == []          # no tick after the stop
    assert state.last_tick() == (True, 1010.0) and tracker.deferred
    assert watermark.current_watermark() < Timestamp.of(1011.0)
    clock["t"] += 9.9                                    # still within the grace
    tracker = _Tracker(11)
    assert _tick(fn, tracker, ManualWatermarkEstimator(None)) == [] and tracker.deferred
    clock["t"] += 0.2                                    # the grace is over: done
    tracker = _Tracker(11)
    assert _tick(fn, tracker, ManualWatermarkEstimator(None)) == [] and not tracker.deferred
    assert tracker.current_restriction().stop == 1000
    assert state.last_tick() == (True, 1010.0)           # the first answer stays


def test_without_a_grace_the_tick_source_finishes_at_once(tmp_path, clock):
    state = StateDir(str(tmp_path))
    fn = poll._TickFn(state.root)
    state.request_stop()
    tracker = _Tracker(0)
    assert _tick(fn, tracker, ManualWatermarkEstimator(None)) == [] and not tracker.deferred
    assert state.last_tick() == (True, None)             # it never ticked


def test_holding_after_a_stop_never_finishes_and_lets_the_watermark_pass_the_last_window(
        tmp_path, clock):
    # Flink's profile: the watermark never jumps to the end of time; it
    # trails the clock past the last tick's window, and newsbeam cancels.
    state = StateDir(str(tmp_path))
    fn = poll._TickFn(state.root, margin=10.0, stop_grace=None)
    state.request_stop()
    clock["t"] += 3600
    tracker, watermark = _Tracker(11), ManualWatermarkEstimator(None)
    assert _tick(fn, tracker, watermark) == [] and tracker.deferred
    assert watermark.current_watermark() == Timestamp.of(clock["t"] - 1.0 - 10.0)
    assert state.last_tick() == (True, 1010.0)


def test_the_tick_source_says_once_that_the_stream_ticks(tmp_path, clock, monkeypatch):
    # pipelines/stream.py resubmits a job whose tick source never got here.
    state = StateDir(str(tmp_path))
    fn = poll._TickFn(state.root)
    fn.setup()
    assert not state.ticking(1000.0)
    _tick(fn, _Tracker(0), ManualWatermarkEstimator(None))
    assert state.ticking(1000.0) and not state.ticking(999.0)   # this stream's start only
    writes = []
    monkeypatch.setattr(StateDir, "mark_ticking", lambda self, start: writes.append(start))
    _tick(fn, _Tracker(11), ManualWatermarkEstimator(None))
    assert writes == []                                           # once per worker
    state.clear_stop()                                            # the next start forgets it
    assert not state.ticking(1000.0)


def test_a_job_that_never_ticks_is_resubmitted_then_given_up(tmp_path):
    from pipelines.stream import MAX_SUBMISSIONS, _StartWatch
    state = StateDir(str(tmp_path))
    watch = _StartWatch(timeout=90.0, submitted_at=0.0)
    assert watch.verdict(state, 0.0, 89.0) is None                # not due yet
    assert watch.verdict(state, 0.0, 90.0) == "resubmit"
    for k in range(2, MAX_SUBMISSIONS):
        watch.resubmitted(100.0 * k)
        assert watch.verdict(state, 100.0 * k, 100.0 * k + 90) == "resubmit"
    watch.resubmitted(1000.0)
    assert watch.verdict(state, 1000.0, 1090.0) == "give_up"


def test_a_job_that_ticks_is_left_alone(tmp_path):
    from pipelines.stream import _StartWatch
    state = StateDir(str(tmp_path))
    state.mark_ticking(5.0)
    watch = _StartWatch(timeout=90.0, submitted_at=5.0)
    assert watch.verdict(state, 5.0, 500.0) is None and watch.ticked
    assert _StartWatch(timeout=None, submitted_at=0.0).verdict(state, 1.0, 1e9) is None


class _FakeJob:
    """A submitted job as newsbeam stream sees it: a state, cancel, wait."""

    def __init__(self, state):
        self.state = state
        self.cancelled = False

    def cancel(self):
        self.cancelled = True
        self.state = PipelineState.CANCELLED

    def wait_until_finish(self):
        return self.state


def _stalling_stream(tmp_path, monkeypatch, starts_on: int | None):
    """``_stream`` on a runner whose first ``starts_on - 1`` jobs never tick
    (None: none ever does); the job that ticks runs to DONE at once."""
    import dataclasses

    from pipelines import runners, stream
    from pipelines.launcher import pipeline_options

    feeds = tmp_path / "feed.xml"
    feeds.write_text("<rss/>")
    argv = ["--feeds", str(feeds), "--output", str(tmp_path / "out")]
    profile = dataclasses.replace(runners.PRISM_STREAMING, start_timeout=0.2)
    monkeypatch.setattr(runners, "profile", lambda options: profile)
    submitted: list = []

    def submit(options, feed_list, started):
        submitted.append((options, started))
        if starts_on is not None and len(submitted) >= starts_on:
            StateDir(options.view_as(NewsbeamOptions).state_directory()).mark_ticking(started)
            return _FakeJob(PipelineState.DONE)
        return _FakeJob(PipelineState.RUNNING)

    monkeypatch.setattr(stream, "_submit", submit)
    made: list = []

    def fresh_options():
        made.append(pipeline_options(argv))
        return made[-1]
    with stream._StopRequests() as stop:
        code = stream._stream(pipeline_options(argv), [str(feeds)], stop, fresh_options)
    return code, submitted, made


def test_a_stalled_start_is_submitted_again_with_fresh_options(tmp_path, monkeypatch, capsys):
    code, submitted, made = _stalling_stream(tmp_path, monkeypatch, starts_on=2)
    out = capsys.readouterr().out
    assert code == 0 and len(submitted) == 2, out
    assert "submitting it again (2 of 3)" in out
    assert submitted[1][0] is made[0]                  # options parsed anew, not reused
    assert submitted[1][1] > submitted[0][1]           # the new job ticks from its start


def test_a_stream_that_never_starts_is_given_up_after_three_submissions(
        tmp_path, monkeypatch, capsys):
    code, submitted, _ = _stalling_stream(tmp_path, monkeypatch, starts_on=None)
    out = capsys.readouterr().out
    assert len(submitted) == 3 and code == 1, out
    assert "did not start after 3 submissions" in out
