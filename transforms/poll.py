"""Streaming stage 1: poll every feed forever, each on its own schedule.

A tick source fires every poll interval; each tick fans out to every feed,
and a stateful DoFn keyed by feed URL keeps the feed's state (validators,
body hash, next poll time, health) in Beam state, so conditional requests,
Retry-After and Cache-Control work across ticks on any runner.

The tick source is Beam's PeriodicImpulse made stoppable: when the stop
marker appears in the state directory (``newsbeam stream`` writes it on
SIGTERM or SIGINT) it finishes its restriction, the watermark runs to the
end of time, and every open window is committed before the job ends.  It
answers the marker with the time of its last tick (``STOPPED``), so on a
runner whose job outlives its finished source (Flink) ``newsbeam stream``
knows which windows to wait for before it cancels the job.
Ticks are timestamped ``start + k * interval``: the clock only decides
when a tick fires, never what it says.
"""
from __future__ import annotations

import math
import time
import typing
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import FixedWindows, TimestampedValue, WindowFn
from apache_beam.utils.timestamp import Timestamp

from schemas import DeadLetter, FeedEntry, FeedState
from transforms.feed.states import Schedule
from transforms.feeds import FEED_STATES, FeedPoller, count_poll, crash_outputs
from transforms.http.settings import FetchSettings
from transforms.lib import outcomes
from transforms.lib.loop import LoopThread
from transforms.lib.state_dir import StateDir
from transforms.sinks import window_tag

STAGE = "feed"
# A tick element is "start,end,interval" (seconds) as text: Prism only
# understands standard coders at the boundary of a splittable DoFn.
_HORIZON = 10 * 365 * 24 * 3600.0
MAX_NAP = 1.0
WATERMARK_MARGIN = 2.0


def _parse(element: str) -> tuple[float, float, float]:
    start, end, interval = (float(part) for part in element.split(","))
    return start, end, interval


class _TickRestrictions(RestrictionProvider):
    def initial_restriction(self, element: str) -> OffsetRange:
        start, end, interval = _parse(element)
        return OffsetRange(0, math.ceil((end - start) / interval))

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element: str, restriction: OffsetRange) -> int:
        return 8

    def truncate(self, element: str, restriction: OffsetRange) -> None:
        return None  # on drain, stop ticking


class _TickFn(beam.DoFn):
    def __init__(self, state_dir: str, trailing_watermark: bool = True,
                 margin: float = WATERMARK_MARGIN, stop_grace: float | None = 0.0):
        self._state_dir = state_dir
        self._trailing = trailing_watermark
        self._margin = margin
        self._grace = stop_grace
        self._announced = False

    def setup(self) -> None:
        self._announced = False

    @beam.DoFn.unbounded_per_element()
    def process(self, element: str,
                tracker=beam.DoFn.RestrictionParam(_TickRestrictions()),
                watermark=beam.DoFn.WatermarkEstimatorParam(
                    ManualWatermarkEstimator.default_provider())) -> Iterator[float]:
        start, _, interval = _parse(element)
        index = tracker.current_restriction().start
        due = start + interval * index
        first_emitted = None
        bound = due
        state = StateDir(self._state_dir)
        if not self._announced:
            # Once per worker: the stream sees its job has started
            # (pipelines/stream.py resubmits a job that never gets here).
            state.mark_ticking(start)
            self._announced = True
        if state.stop_requested():
            # Every tick before ``index`` was emitted.
            stopped_at = state.answer_stop(due - interval if index > 0 else None, time.time())
            if self._grace is not None and time.time() - stopped_at >= self._grace:
                # Claim the last position: the restriction is done, the
                # watermark advances to the end and every window fires.
                tracker.try_claim(tracker.current_restriction().stop - 1)
                return
            # The stop grace, or a hold until the job is cancelled
            # (pipelines/runners.py): no more ticks, so the watermark may pass
            # the next one, but it moves on only as it always does, and the
            # last ticks reach their windows the way every tick does.
            bound = math.inf
        else:
            while due <= time.time():
                if not tracker.try_claim(index):
                    return
                yield due
                first_emitted = due if first_emitted is None else first_emitted
                index += 1
                due = start + interval * index
        time.sleep(min(MAX_NAP, max(0.0, due - time.time())))
        # The watermark never reaches the next tick nor a tick emitted in
        # this call, and, where the runner profile asks for it
        # (pipelines/runners.py), trails the clock by a poll interval and a
        # margin.  Trailing gives the ticks already emitted time to travel
        # through polling and dedup to their window's first grouping: on
        # Prism 2.62 a watermark at the clock let some of them fall behind it
        # and be dropped as late, and on Flink a 2 s margin did too.  Moving
        # on every call is what makes Prism resume a deferred restriction
        # promptly.
        bound = bound if first_emitted is None else min(bound, first_emitted)
        trailing = time.time() - interval - self._margin if self._trailing else bound
        watermark.set_watermark(Timestamp(max(start, min(trailing, bound - 0.001))))
        # Resume at once; the nap above bounds that to about a call a second.
        tracker.defer_remainder()


class Ticks(beam.PTransform):
    """One timestamped tick every ``interval`` seconds from ``start`` until
    the stop marker appears."""

    def __init__(self, start: float, interval: float, state_dir: str,
                 trailing_watermark: bool = True, margin: float = WATERMARK_MARGIN,
                 stop_grace: float | None = 0.0):
        super().__init__()
        self._seed = f"{start},{start + _HORIZON},{interval}"
        self._fn = _TickFn(state_dir, trailing_watermark, margin, stop_grace)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[float]:
        seed = self._seed
        return (pbegin
                | "Impulse" >> beam.Impulse()
                | "Schedule" >> beam.Map(lambda _: seed).with_output_types(str)
                | "Tick" >> beam.ParDo(self._fn).with_output_types(float)
                | "Stamp" >> beam.Map(lambda t: TimestampedValue(t, t)).with_output_types(float))


def tick_windows(start: float, interval: float, last_tick: float | None,
                 window: float) -> set[str]:
    """The names of the fixed windows the ticks from ``start`` to
    ``last_tick`` fall in: the windows a stopped stream commits."""
    if last_tick is None:
        return set()
    fixed = FixedWindows(window)

    def name(t: float) -> str:
        (assigned,) = fixed.assign(WindowFn.AssignContext(Timestamp.of(t)))
        return window_tag(assigned, "")

    count = round((last_tick - start) / interval) + 1
    if interval >= window:  # windows without a tick exist: visit the ticks
        return {name(start + interval * k) for k in range(count)}
    # Every window between the first tick's and the last's holds a tick.
    first, last = fixed.assign(WindowFn.AssignContext(Timestamp.of(start)))[0], \
        fixed.assign(WindowFn.AssignContext(Timestamp.of(last_tick)))[0]
    windows = int(round((last.start - first.start).micros / (window * 1e6))) + 1
    return {name(first.start.micros / 1e6 + window * k) for k in range(windows)}


class PollFeedFn(beam.DoFn):
    """Polls one feed per tick when it is due; its state lives in Beam state."""

    STATE = ReadModifyWriteStateSpec("feed_state", PickleCoder())

    def __init__(self, settings: FetchSettings, schedule: Schedule):
        self._settings = settings
        self._schedule = schedule
        self._loop: LoopThread | None = None
        self._poller: FeedPoller | None = None

    def setup(self) -> None:
        self._loop = LoopThread("PollFeedFn").start()
        self._poller = self._loop.run(FeedPoller(self._settings, self._schedule).open())

    def teardown(self) -> None:
        if self._loop is not None:
            try:
                if self._poller is not None:
                    self._loop.run(self._poller.close(), timeout=30)
            finally:
                self._loop.stop()
                self._loop = None

    def process(self, element: tuple[str, float], timestamp=beam.DoFn.TimestampParam,
                state=beam.DoFn.StateParam(STATE)) -> Iterable[Any]:
        assert self._loop is not None and self._poller is not None
        location, _ = element
        at = timestamp.to_utc_datetime(has_tz=True)
        previous: FeedState | None = state.read()
        if previous is not None and previous.next_poll_at and previous.next_poll_at > at:
            outcomes.count(STAGE, "not_due")
            return
        try:
            outputs = self._loop.run(self._poller.poll(location, previous, at))
        except Exception as exc:  # noqa: BLE001 - a poller bug becomes a dead letter
            outputs = crash_outputs(location, at, exc)
        count_poll(outputs)
        for output in outputs:
            if isinstance(output, TaggedOutput) and output.tag == FEED_STATES:
                state.write(output.value)
            yield output


class PollFeeds(beam.PTransform):
    """Ticks in; the entries, dead letters and feed states of every due poll out."""

    def __init__(self, feeds: list[str], settings: FetchSettings, schedule: Schedule):
        super().__init__()
        self._feeds = sorted(set(feeds))
        self._fn = PollFeedFn(settings, schedule)

    def expand(self, ticks: beam.PCollection[float]) -> tuple[
            beam.PCollection[FeedEntry], beam.PCollection[DeadLetter],
            beam.PCollection[FeedState]]:
        feeds = self._feeds
        results = (ticks
                   | "EveryFeed" >> beam.FlatMap(lambda tick: [(f, tick) for f in feeds]
                                                 ).with_output_types(typing.Tuple[str, float])
                   | "Poll" >> beam.ParDo(self._fn).with_outputs(
                       outcomes.DEAD_LETTERS, FEED_STATES, main="entries"))
        return results.entries, results[outcomes.DEAD_LETTERS], results[FEED_STATES]
