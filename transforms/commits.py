"""Streaming stage 7: record what each window committed.

Once a window's Parquet files are written, one commit record per window
goes to ``STATE_DIR/commits/``: its time range, rows and files per dataset,
and the feeds polled in it.  The same step keeps the long-lived state the
stream needs after a restart: the ids re-sighted in the window (so articles
still listed by a feed stay remembered) and the feeds' latest states (for
health and the run summary).  ``newsbeam stream`` reads the commit records
to tell the user what was committed.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import FeedState
from transforms.feed_state import FeedStateStore
from transforms.parquet import WrittenFile, window_tag, write_ids
from transforms.state_dir import atomic_write_json

COMMITS = "commits"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEEN = "seen"


class _CommitWindowFn(beam.DoFn):
    def __init__(self, state_dir: str):
        self._state_dir = state_dir

    def process(self, element: tuple[str, Iterable[tuple[str, Any]]],
                window=beam.DoFn.WindowParam) -> Iterator[dict]:
        _, items = element
        files: list[WrittenFile] = []
        seen_again: list[str] = []
        polls: list[FeedState] = []
        for kind, value in items:
            {"file": files, "seen": seen_again, "feed": polls}[kind].append(value)
        feeds: dict[str, FeedState] = {}
        for state in sorted(polls, key=lambda s: (s.url, s.last_attempt_at or EPOCH)):
            feeds[state.url] = state  # the latest poll of each feed wins
        tag = window_tag(window, "global")
        if seen_again:
            write_ids(seen_again, FileSystems.join(self._state_dir, SEEN, f"again-{tag}.json"))
        if feeds:
            store = FeedStateStore(self._state_dir)
            merged = store.load()
            merged.update(feeds)
            store.write_lines(store.path, merged.values())
        record = {
            "window": tag,
            "articles": sum(f.rows for f in files if f.dataset == "articles"),
            "dead_letters": sum(f.rows for f in files if f.dataset == "errors"),
            "files": sorted(f.path for f in files),
            "feeds_polled": len(feeds),
            "duplicates_skipped": len(seen_again),
        }
        atomic_write_json(FileSystems.join(self._state_dir, COMMITS, f"{tag}.json"), record)
        yield record


class CommitWindows(beam.PTransform):
    """Written files, re-sighted ids and feed states in (windowed alike); one
    commit record per window out."""

    def __init__(self, state_dir: str):
        super().__init__()
        self._state_dir = state_dir

    def expand(self, inputs: tuple[beam.PCollection[WrittenFile], beam.PCollection[str],
                                   beam.PCollection[FeedState]]) -> beam.PCollection[dict]:
        files, seen_again, feeds = inputs
        tagged = (
            (files | "TagFiles" >> beam.Map(lambda f: ("w", ("file", f))),
             seen_again | "TagSeen" >> beam.Map(lambda i: ("w", ("seen", i))),
             feeds | "TagFeeds" >> beam.Map(lambda s: ("w", ("feed", s))))
            | "Together" >> beam.Flatten())
        return (tagged
                | "PerWindow" >> beam.GroupByKey()
                | "Commit" >> beam.ParDo(_CommitWindowFn(self._state_dir)))
