"""The streaming job: poll feeds forever, commit Parquet per window.

``newsbeam stream --feeds FEEDS --output DIR [--poll-interval 60] [--window 300]``

It reuses the batch stages unchanged: poll (with conditional GET and each
feed's schedule) → drop already seen → window → fetch → extract → clean →
language → one atomic Parquet commit per window, as soon as the watermark
passes it.  It runs on Prism (Beam's portable local runner, the default
here), Flink, or any runner that streams; the Python DirectRunner does not:
its ``--streaming`` mode runs on the FnApiRunner and writes nothing until
the source ends.

SIGTERM, SIGINT or SIGHUP asks the job to stop: the tick source finishes at
its next tick, every open window is committed, and the job ends.  A second
signal, or a stop that takes too long, cancels the job; what was committed
stays committed, and nothing half-written is ever visible.  A stop asked
for while the stream starts (Prism, the seen store, the submission) is
honoured as well: before the submission the job is not run at all, during
it the tick source finishes at its first tick; either way the exit status
is 0.  A restart with the same output continues without duplicates: the ids
of everything committed are kept in ``STATE_DIR/seen``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sys
import time
from datetime import timedelta
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms.window import FixedWindows

from pipelines import prism
from pipelines.launcher import UsageError, feeds_and_output, lock_state, start
from pipelines.options import NewsbeamOptions
from pipelines.prism import prism_binary  # noqa: F401 - where tests and users look for it
from transforms.clean import CleanBoilerplate
from transforms.commits import COMMITS, SEEN, CommitWindows
from transforms.extract import ExtractArticles
from transforms.feeds import Schedule
from transforms.fetch import FetchPages
from transforms.language import DetectLanguage
from transforms.parquet import ARTICLES, ERRORS, WriteParquet, write_ids
from transforms.poll import PollFeeds, Ticks
from transforms.rows import CheckRows
from transforms.seen import DropSeen
from transforms.state_dir import StateLock

_LOG = logging.getLogger("newsbeam")
STOP_MARKER = "STOP"
# Runners that do not stream continuously (see the module docstring).
NOT_CONTINUOUS = frozenset({"DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner",
                            "FnApiRunner"})
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def load_seen(state_dir: str, ttl: timedelta) -> frozenset[str]:
    """The ids a restarted stream must not ingest again.

    ``seen/`` holds the ids of every committed file and, per window, the ids
    re-sighted in it.  A committed id is remembered for ``ttl``; a
    re-sighted one only if it was committed at all (within 4 x ``ttl``),
    since a re-sighting says nothing about the first sighting's window
    having been committed.  The ids trusted now are written back as one
    ``base-*.json`` record, so articles a feed keeps listing for longer than
    the TTL stay remembered across any number of restarts.
    """
    folder = FileSystems.join(state_dir, SEEN)
    if not FileSystems.exists(folder):
        return frozenset()
    now = time.time()
    horizon, keep = now - ttl.total_seconds(), now - 4 * ttl.total_seconds()
    recent: set[str] = set()
    committed: set[str] = set()
    again: set[str] = set()
    stale = []
    for meta in FileSystems.match([FileSystems.join(folder, "*.json")])[0].metadata_list:
        updated = meta.last_updated_in_seconds or now
        name = meta.path.rsplit("/", 1)[-1]
        resighting = name.startswith("again-")
        if updated < (horizon if resighting else keep):
            stale.append(meta.path)
            continue
        with FileSystems.open(meta.path) as handle:
            ids = set(json.loads(handle.read().decode("utf-8")))
        if resighting:
            again |= ids
        else:
            committed |= ids
            if updated >= horizon:
                recent |= ids
    trusted = recent | (again & committed)
    if stale:
        FileSystems.delete(stale)
    if trusted:
        write_ids(sorted(trusted), FileSystems.join(folder, f"base-{int(now)}.json"))
    return frozenset(trusted)


def stream_settings(options: PipelineOptions):
    opts = options.view_as(NewsbeamOptions)
    settings = opts.fetch_settings()
    schedule = Schedule(min_interval=timedelta(seconds=opts.poll_interval),
                        revalidate_after=timedelta(hours=opts.revalidate_after))
    return settings, schedule


def process(entries: beam.PCollection, feed_dead: beam.PCollection,
            feed_states: beam.PCollection, options: PipelineOptions,
            initially_seen: frozenset[str] = frozenset()) -> beam.PCollection:
    """Everything after polling, for entries in the global window: the same
    stages as batch, per window.  Returns the per-window commit records."""
    opts = options.view_as(NewsbeamOptions)
    state_dir = opts.state_directory()
    settings, _ = stream_settings(options)

    def windowed(pcoll: beam.PCollection, label: str) -> beam.PCollection:
        return pcoll | label >> beam.WindowInto(FixedWindows(opts.window))

    new, seen_again = entries | "DropSeen" >> DropSeen(opts.seen_ttl * 3600, initially_seen)
    pages, fetch_dead = (windowed(new, "WindowEntries")
                         | "FetchPages" >> FetchPages(settings, opts.max_in_flight))
    raw, extract_dead = pages | "ExtractArticles" >> ExtractArticles(opts.extract_limits())
    cleaned, clean_dead = raw | "CleanBoilerplate" >> CleanBoilerplate(state_dir=state_dir)
    # No Reshuffle here, unlike batch: its trigger is one Prism 2.62 does not
    # implement, and per-window groups are small.
    detected, language_dead = cleaned | "DetectLanguage" >> DetectLanguage(
        opts.language_sample_chars)
    articles, unwritable = detected | "CheckArticles" >> CheckRows(ARTICLES)
    dead = ((windowed(feed_dead, "WindowFeedErrors"), fetch_dead, extract_dead, clean_dead,
             language_dead, unwritable)
            | "AllDeadLetters" >> beam.Flatten())
    ids_dir = FileSystems.join(state_dir, SEEN)
    article_files = articles | "WriteArticles" >> WriteParquet(
        ARTICLES, FileSystems.join(opts.output, "articles"), "stream", opts.num_shards, ids_dir)
    error_files = dead | "WriteErrors" >> WriteParquet(
        ERRORS, FileSystems.join(opts.output, "errors"), "stream", opts.num_shards, ids_dir)
    written = (article_files, error_files) | "AllFiles" >> beam.Flatten()
    return ((written, windowed(seen_again, "WindowSeen"), windowed(feed_states, "WindowFeeds"))
            | "CommitWindows" >> CommitWindows(state_dir))


def build(p: beam.Pipeline, options: PipelineOptions, feeds: Sequence[str],
          initially_seen: frozenset[str] = frozenset(), start: float | None = None
          ) -> beam.PCollection:
    """Add the streaming graph to ``p``; returns the per-window commit records."""
    opts = options.view_as(NewsbeamOptions)
    settings, schedule = stream_settings(options)
    # A feed that fails is polled again next tick: no retries for feeds.
    feed_settings = dataclasses.replace(settings, max_attempts=1)
    stop = FileSystems.join(opts.state_directory(), STOP_MARKER)
    ticks = p | "Ticks" >> Ticks(time.time() if start is None else start,
                                 opts.poll_interval, stop)
    entries, feed_dead, feed_states = ticks | "PollFeeds" >> PollFeeds(
        list(feeds), feed_settings, schedule)
    return process(entries, feed_dead, feed_states, options, initially_seen)


class _Commits:
    """Reads the commit records a running job leaves, for live progress."""

    def __init__(self, state_dir: str, since: float):
        self.folder = FileSystems.join(state_dir, COMMITS)
        self.since = since
        self.seen: dict[str, dict] = {}

    def poll(self) -> list[dict]:
        if not FileSystems.exists(self.folder):
            return []
        fresh = []
        pattern = FileSystems.join(self.folder, "*.json")
        for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
            if meta.path in self.seen or (meta.last_updated_in_seconds or 0) < self.since - 1:
                continue
            with FileSystems.open(meta.path) as handle:
                record = json.loads(handle.read().decode("utf-8"))
            self.seen[meta.path] = record
            fresh.append(record)
        return fresh


def _describe(record: dict) -> str:
    return (f"committed window {record['window']}: {record['articles']} articles, "
            f"{record['dead_letters']} dead letters, {len(record['files'])} files")


def prepare(argv: Sequence[str]) -> tuple[PipelineOptions, list[str], StateLock]:
    options = PipelineOptions(list(argv))
    standard = options.view_as(StandardOptions)

    if standard.runner and standard.runner.split(".")[-1] in NOT_CONTINUOUS:
        raise UsageError(
            f"--runner={standard.runner} does not stream continuously: the Python "
            "DirectRunner runs streaming pipelines on the FnApiRunner and writes nothing until "
            "the source ends, which for `newsbeam stream` is never. Use the default "
            "(PrismRunner) or --runner=FlinkRunner.")
    # The default runner is Prism, which newsbeam starts itself (pipelines/prism.py).
    prism.configure(options)
    options.view_as(StandardOptions).streaming = True
    opts = options.view_as(NewsbeamOptions)
    if opts.poll_interval <= 0 or opts.window <= 0:
        raise UsageError("--poll-interval and --window must be positive")
    feeds = feeds_and_output(options)
    return options, feeds, lock_state(options, "stream")


class _StopRequests:
    """SIGTERM, SIGINT and SIGHUP, from before Prism starts until it has stopped.

    Each signal is counted.  The first writes the stop marker, at once if
    ``arm`` has named it already, else when it does: ``_stream`` names it
    once the previous run's marker is gone.  A signal that newsbeam was
    started with ignored (``nohup``, ``&`` in a script) stays ignored.
    """

    def __init__(self) -> None:
        self.signals: list[int] = []
        self.submitted = False  # whether the job was handed to the runner
        self._marker: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _StopRequests:
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) != signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum, frame) -> None:
        self.signals.append(signum)
        if len(self.signals) == 1 and self._marker is not None:
            self._write_marker()

    def arm(self, marker: str) -> None:
        """Stops write ``marker`` from now on; so does one that came earlier."""
        self._marker = marker
        if self.signals:
            self._write_marker()

    def _write_marker(self) -> None:
        with FileSystems.create(self._marker) as handle:
            handle.write(b"stop")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the stream until stopped; returns the process exit status."""
    prepared = start("stream", "Poll feeds forever; commit Parquet per window.", argv, prepare)
    if isinstance(prepared, int):
        return prepared
    options, feeds, lock = prepared
    # A stop signal is honoured from here on, Prism's start-up included.
    with lock, _StopRequests() as stop:
        try:
            # Prism, if newsbeam runs it, lives until the job has ended (pipelines/prism.py).
            with prism.owned(options):
                return _stream(options, feeds, stop)
        except prism.PrismError as exc:
            if stop.signals and not stop.submitted:
                # A stop signal sent to every process can reach newsbeam's Prism
                # before it ignores SIGTERM, in its first milliseconds.
                _LOG.info("stopped while Prism started: %s", exc)
                print("newsbeam stream: stopped before the job started", flush=True)
                return 0
            print(f"newsbeam stream: error: {exc}", file=sys.stderr, flush=True)
            return exc.status


def _stream(options: PipelineOptions, feeds: list[str], stop: _StopRequests) -> int:
    """The job, from the seen store to the last summary line; the exit status."""
    opts = options.view_as(NewsbeamOptions)
    state_dir = opts.state_directory()
    stop_marker = FileSystems.join(state_dir, STOP_MARKER)
    if FileSystems.exists(stop_marker):
        FileSystems.delete([stop_marker])
    stop.arm(stop_marker)
    initially_seen = load_seen(state_dir, timedelta(hours=opts.seen_ttl))
    started = time.time()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options, feeds, initially_seen, started)
    if stop.signals:
        print("newsbeam stream: stopped before the job started", flush=True)
        return 0
    # From here a stop finds the marker written: the tick source finishes at its first tick.
    stop.submitted = True
    result = pipeline.run()
    print(f"newsbeam stream: polling {len(feeds)} feeds every {opts.poll_interval:g}s, "
          f"committing every {opts.window:g}s window to {opts.output} "
          f"({len(initially_seen)} articles already seen); SIGTERM or Ctrl-C stops it",
          flush=True)
    signals = stop.signals
    commits = _Commits(state_dir, started)
    deadline = None
    while not PipelineState.is_terminal(result.state):
        for record in commits.poll():
            print(f"newsbeam stream: {_describe(record)}", flush=True)
        if signals and deadline is None:
            deadline = time.time() + opts.poll_interval + opts.window + 60
            print("newsbeam stream: stopping: committing open windows ...", flush=True)
        if deadline is not None and (len(signals) > 1 or time.time() > deadline):
            print("newsbeam stream: cancelling the job", flush=True)
            result.cancel()
            break
        time.sleep(0.5)
    try:
        result.wait_until_finish()
    except Exception as exc:  # noqa: BLE001 - reported below with the state
        _LOG.warning("job ended with %s", exc)
    for record in commits.poll():
        print(f"newsbeam stream: {_describe(record)}", flush=True)
    records = list(commits.seen.values())
    print(f"newsbeam stream: {result.state}: {len(records)} windows committed this run, "
          f"{sum(r['articles'] for r in records)} articles, "
          f"{sum(r['dead_letters'] for r in records)} dead letters; commit records in "
          f"{commits.folder}", flush=True)
    stopped = bool(signals) and result.state in (PipelineState.DONE, PipelineState.CANCELLED)
    return 0 if result.state == PipelineState.DONE or stopped else 1


if __name__ == "__main__":
    sys.exit(run())
