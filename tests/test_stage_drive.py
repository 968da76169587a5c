"""The in-process driver (tests, the tight loop, make eval) hands each DoFn
the window and timestamp its ``process`` asks for, by name."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow, IntervalWindow
from apache_beam.utils.timestamp import Timestamp

from schemas import FeedEntry
from tests.conftest import FETCHED_AT
from transforms import seen
from transforms.lib.stage import drive, run_in_process


class _Plain(beam.DoFn):
    def process(self, element):
        yield ("plain", element)


class _Window(beam.DoFn):
    def process(self, element, window=beam.DoFn.WindowParam):
        yield ("window", window)


class _Timestamp(beam.DoFn):
    def process(self, element, timestamp=beam.DoFn.TimestampParam):
        yield ("timestamp", timestamp)


class _Both(beam.DoFn):
    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam):
        yield ("both", window, timestamp)


def test_each_dofn_gets_what_it_asks_for():
    window, at = IntervalWindow(0, 10), Timestamp(5)
    assert drive(_Plain(), [1], window, at)[0] == [("plain", 1)]
    assert drive(_Window(), [1], window, at)[0] == [("window", window)]
    assert drive(_Timestamp(), [1], window, at)[0] == [("timestamp", at)]
    assert drive(_Both(), [1], window, at)[0] == [("both", window, at)]
    assert drive(_Window(), [1])[0] == [("window", GlobalWindow())]


def test_the_seen_stage_runs_in_process():
    # It asks for the window only; the tight loop used to hand it a
    # timestamp too and dead-letter every entry.
    entry = FeedEntry(id="a1", url="http://127.0.0.1:1/a", feed_url="http://127.0.0.1:1/f",
                      fetched_at=FETCHED_AT)
    passed, dead = run_in_process([seen.skip_stage(None, None, seen.SKIP)], [entry])
    assert (passed, dead) == ([entry], [])
