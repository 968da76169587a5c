"""Streaming's commit step: record what each window committed.

Once the sink has made a window's rows durable, one step per window
records it in the state directory:
- the ids re-sighted in the window, so articles still listed by a feed
  stay remembered in the seen store (the committed ids themselves need no
  record: the seen store is reconciled with the lake at the next start);
- the feeds' latest states, for health and conditional polls after a
  restart;
- one commit record: the window, rows and commits per dataset, feeds
  polled, duplicates skipped, ticks.  Every window with a tick gets one,
  even an empty one, so ``newsbeam stream`` can tell when the window of
  the last tick is committed.  ``newsbeam stream`` prints one line for each.
The sink records nothing itself: any sink gets this for free.
"""
from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any, Iterable, Iterator

import apache_beam as beam

from schemas import FeedState
from transforms.lib.datasets import ARTICLES, DATASETS
from transforms.lib.state_dir import StateDir
from transforms.sinks import Commit, window_tag

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COMMIT, AGAIN, FEED, TICK = "commit", "again", "feed", "tick"


class _CommitWindowFn(beam.DoFn):
    def __init__(self, state_dir: str):
        self._state_dir = state_dir

    def process(self, element: tuple[str, Iterable[tuple[str, Any]]],
                window=beam.DoFn.WindowParam) -> Iterator[dict]:
        _, items = element
        found: dict[str, list[Any]] = {COMMIT: [], AGAIN: [], FEED: [], TICK: []}
        for kind, value in items:
            found[kind].append(value)
        commits: list[Commit] = found[COMMIT]
        feeds: dict[str, FeedState] = {}
        for state in sorted(found[FEED], key=lambda s: (s.url, s.last_attempt_at or EPOCH)):
            feeds[state.url] = state  # the latest poll of each feed wins
        tag = window_tag(window, "global")
        state = StateDir(self._state_dir)
        if found[AGAIN]:
            state.write_sightings(state.stream_sightings(f"again-{tag}"), found[AGAIN],
                                  window.end.micros / 1e6)
        if feeds:
            state.merge_feed_states(feeds.values())
        rows = {d.name: sum(c.rows for c in commits if c.dataset == d.name) for d in DATASETS}
        record = {
            "window": tag,
            "rows": rows,
            "articles": rows[ARTICLES.name],
            "dead_letters": sum(v for k, v in rows.items() if k != ARTICLES.name),
            "commits": sorted(c.location for c in commits),
            "feeds_polled": len(feeds),
            "duplicates_skipped": len(found[AGAIN]),
            "ticks": len(found[TICK]),
        }
        state.write_commit(tag, record)
        yield record


class CommitWindows(beam.PTransform):
    """Per window: the sinks' commits, the re-sighted ids, the feed states
    and the ticks in; one commit record out."""

    def __init__(self, state_dir: str):
        super().__init__()
        self._state_dir = state_dir

    def expand(self, inputs: tuple[beam.PCollection[Commit], beam.PCollection[str],
                                   beam.PCollection[FeedState], beam.PCollection[float]]
               ) -> beam.PCollection[dict]:
        commits, seen_again, feeds, ticks = inputs
        # One element type for every input of the Flatten: a portable runner
        # (Prism) cannot re-encode between the coders of differing inputs.
        kind = typing.Tuple[str, typing.Tuple[str, typing.Any]]
        tagged = [
            commits | "TagCommits" >> beam.Map(lambda c: ("w", (COMMIT, c))
                                               ).with_output_types(kind),
            seen_again | "TagSeen" >> beam.Map(lambda i: ("w", (AGAIN, i))
                                               ).with_output_types(kind),
            feeds | "TagFeeds" >> beam.Map(lambda s: ("w", (FEED, s))).with_output_types(kind),
            ticks | "TagTicks" >> beam.Map(lambda t: ("w", (TICK, t))).with_output_types(kind),
        ]
        return (tuple(tagged)
                | "Together" >> beam.Flatten()
                | "PerWindow" >> beam.GroupByKey()
                | "Commit" >> beam.ParDo(_CommitWindowFn(self._state_dir)))
