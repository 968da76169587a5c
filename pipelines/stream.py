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
import logging
import signal
import sys
import time
from typing import Callable, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms.window import FixedWindows

from pipelines import flink, prism, runners
from pipelines.launcher import UsageError, feeds_and_output, lock_state, pipeline_options, start
from pipelines.options import NewsbeamOptions
from pipelines.prism import prism_binary  # noqa: F401 - where tests and users look for it
from transforms import seen, stories
from transforms.articles import ArticleChain
from transforms.commits import CommitWindows
from transforms.lib.datasets import ARTICLES, DATASETS, ERRORS
from transforms.lib.state_dir import StateDir, StateLock
from transforms.poll import PollFeeds, Ticks, tick_windows
from transforms.seen import DropSeen
from transforms.write import WriteDataset

_LOG = logging.getLogger("newsbeam")
# Runners that do not stream continuously (see the module docstring).
NOT_CONTINUOUS = frozenset({"DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner",
                            "FnApiRunner"})
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# What the stream's files are named after when not windowed (never, in practice).
STREAM_TAG = "stream"
# Submissions of a job that does not start (runners.RunnerProfile.start_timeout).
MAX_SUBMISSIONS = 3


def process(entries: beam.PCollection, feed_dead: beam.PCollection,
            feed_states: beam.PCollection, ticks: beam.PCollection,
            options: PipelineOptions) -> beam.PCollection:
    """Everything after polling, for entries in the global window: drop what
    was seen, window, the article chain, the sink, the commit step (which
    counts the ticks of each window).  Returns the per-window commit records."""
    opts = options.view_as(NewsbeamOptions)
    state_dir = opts.state_directory()
    profile = runners.profile(options)
    sink = opts.sink()

    def windowed(pcoll: beam.PCollection, label: str) -> beam.PCollection:
        return pcoll | label >> beam.WindowInto(FixedWindows(opts.window))

    # In-run dedup across ticks (Beam state); the chain's SkipSeen then drops
    # what earlier runs committed (the seen store).
    new, seen_again = entries | "DropSeen" >> DropSeen(
        opts.seen_ttl * 3600, buckets=profile.seen_buckets, per_id_timers=profile.per_id_timers)
    articles, chain_dead = windowed(new, "WindowEntries") | "Articles" >> ArticleChain(
        opts.chain_settings(), profile.spread)
    dead = ((windowed(feed_dead, "WindowFeedErrors"), chain_dead)
            | "AllDeadLetters" >> beam.Flatten())
    records = {ARTICLES.name: articles, ERRORS.name: dead}
    commits = [records[d.name] | f"Write{d.name.capitalize()}" >> WriteDataset(
        sink, d, STREAM_TAG) for d in DATASETS]
    return ((tuple(commits) | "AllCommits" >> beam.Flatten(),
             windowed(seen_again, "WindowSeen"), windowed(feed_states, "WindowFeeds"),
             windowed(ticks, "WindowTicks"))
            | "CommitWindows" >> CommitWindows(state_dir))


def build(p: beam.Pipeline, options: PipelineOptions, feeds: Sequence[str],
          start: float | None = None) -> beam.PCollection:
    """Add the streaming graph to ``p``; returns the per-window commit records."""
    opts = options.view_as(NewsbeamOptions)
    # A feed that fails is polled again next tick: no retries for feeds.
    feed_settings = dataclasses.replace(opts.fetch_settings(), max_attempts=1)
    profile = runners.profile(options)
    ticks = p | "Ticks" >> Ticks(time.time() if start is None else start,
                                 opts.poll_interval, opts.state_directory(),
                                 profile.trailing_watermark, profile.watermark_margin,
                                 profile.stop_grace)
    entries, feed_dead, feed_states = ticks | "PollFeeds" >> PollFeeds(
        list(feeds), feed_settings, opts.schedule())
    return process(entries, feed_dead, feed_states, ticks, options)


class _Commits:
    """Reads the commit records a running job leaves, for live progress.

    It keeps what the summary and the stop need, the windows committed and
    running totals, and the paths it has read, but not the records: a
    stream runs for months, at one record (about 1.5 KB) per window."""

    def __init__(self, state: StateDir, since: float):
        self.state = state
        self.folder = state.commits_dir
        self.since = since
        self.paths: set[str] = set()
        self.windows: set[str] = set()
        self.articles = self.dead_letters = 0

    def poll(self) -> list[dict]:
        fresh = self.state.commit_records(self.since, skip=self.paths)
        for path, record in fresh:
            self.paths.add(path)
            self.windows.add(record["window"])
            self.articles += record["articles"]
            self.dead_letters += record["dead_letters"]
        return [record for _, record in fresh]


def _windows_to_commit(state: StateDir, started: float, opts: NewsbeamOptions
                       ) -> set[str] | None:
    """Once the tick source has stopped, the windows it ticked in: what a
    stopped stream commits.  None before that."""
    stopped, last_tick = state.last_tick()
    return tick_windows(started, opts.poll_interval, last_tick, opts.window) if stopped else None


class _ExpectedCancellation(logging.Filter):
    """Drops the job server's report of a cancellation newsbeam asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "JobCancellationException" not in record.getMessage()


@dataclasses.dataclass
class _StartWatch:
    """Whether a submitted job has started: its tick source has ticked
    (``StateDir.ticking``) within the runner profile's ``start_timeout``.
    A job that has not is submitted again, at most ``MAX_SUBMISSIONS`` times
    in all; until it ticks it has polled and committed nothing."""

    timeout: float | None
    submitted_at: float
    submissions: int = 1
    ticked: bool = False

    def verdict(self, state: StateDir, started: float, now: float) -> str | None:
        """None while fine or not yet due; else ``resubmit`` or ``give_up``."""
        if self.timeout is None or self.ticked or now - self.submitted_at < self.timeout:
            return None
        if state.ticking(started):
            self.ticked = True
            return None
        return "resubmit" if self.submissions < MAX_SUBMISSIONS else "give_up"

    def resubmitted(self, now: float) -> None:
        self.submissions += 1
        self.submitted_at = now


def _submit(options: PipelineOptions, feeds: list[str], started: float):
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options, feeds, started)
    return pipeline.run()


def _cancel(options: PipelineOptions, result, profile: runners.RunnerProfile) -> None:
    if profile.cancel_when_stopped:
        flink.cancel(options)
    result.cancel()


def _describe(record: dict) -> str:
    return (f"committed window {record['window']}: {record['articles']} articles, "
            f"{record['dead_letters']} dead letters, {len(record['commits'])} "
            f"commit{'' if len(record['commits']) == 1 else 's'}")


def _configure(options: PipelineOptions) -> PipelineOptions:
    # The default runner is Prism, which newsbeam starts itself (pipelines/prism.py).
    prism.configure(options)
    options.view_as(StandardOptions).streaming = True
    return options


def profile_flags(argv: Sequence[str], profile: runners.RunnerProfile) -> list[str]:
    """``argv`` and the runner profile's flags (pipelines/runners.py) that it
    does not give already."""
    extra = [flag for flag in profile.runner_flags
             if not any(arg == flag or arg.startswith(flag + "=") for arg in argv)]
    return [*argv, *extra]


def prepare(argv: Sequence[str]
            ) -> tuple[PipelineOptions, list[str], StateLock, Callable[[], PipelineOptions]]:
    """The options, the feeds, the held state lock, and a maker of fresh
    options equal to these (a resubmitted job is configured from the
    command line again: Beam consumes the runner's own flags, such as
    ``--checkpointing_interval``, at the first submission)."""
    options = pipeline_options(argv)
    standard = options.view_as(StandardOptions)

    if standard.runner and standard.runner.split(".")[-1] in NOT_CONTINUOUS:
        raise UsageError(
            f"--runner={standard.runner} does not stream continuously: the Python "
            "DirectRunner runs streaming pipelines on the FnApiRunner and writes nothing until "
            "the source ends, which for `newsbeam stream` is never. Use the default "
            "(PrismRunner) or --runner=FlinkRunner.")
    _configure(options)
    # The runner profile's own flags, for this and every resubmitted job.
    with_flags = profile_flags(argv, runners.profile(options))
    if with_flags != list(argv):
        argv = with_flags
        options = _configure(pipeline_options(argv))
    opts = options.view_as(NewsbeamOptions)
    if opts.poll_interval <= 0 or opts.window <= 0:
        raise UsageError("--poll-interval and --window must be positive")
    feeds = feeds_and_output(options)
    if runners.profile(options).cancel_when_stopped:
        flink.name_job(options, "stream")
    name = options.view_as(GoogleCloudOptions).job_name

    def fresh_options() -> PipelineOptions:
        again = _configure(pipeline_options(argv))
        again.view_as(GoogleCloudOptions).job_name = name
        return again
    return options, feeds, lock_state(options, "stream"), fresh_options


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
        self._state: StateDir | None = None
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
        if len(self.signals) == 1 and self._state is not None:
            self._state.request_stop()

    def arm(self, state: StateDir) -> None:
        """Stops write ``state``'s stop marker from now on; so does one that
        came earlier."""
        self._state = state
        if self.signals:
            state.request_stop()


def run(argv: Sequence[str] | None = None) -> int:
    """Run the stream until stopped; returns the process exit status."""
    prepared = start("stream", "Poll feeds forever; commit Parquet per window.", argv, prepare)
    if isinstance(prepared, int):
        return prepared
    options, feeds, lock, fresh_options = prepared
    # A stop signal is honoured from here on, Prism's start-up included.
    with lock, _StopRequests() as stop:
        try:
            # Prism, if newsbeam runs it, lives until the job has ended (pipelines/prism.py).
            with prism.owned(options):
                return _stream(options, feeds, stop, fresh_options)
        except prism.PrismError as exc:
            if stop.signals and not stop.submitted:
                # A stop signal sent to every process can reach newsbeam's Prism
                # before it ignores SIGTERM, in its first milliseconds.
                _LOG.info("stopped while Prism started: %s", exc)
                print("newsbeam stream: stopped before the job started", flush=True)
                return 0
            print(f"newsbeam stream: error: {exc}", file=sys.stderr, flush=True)
            return exc.status


def _stream(options: PipelineOptions, feeds: list[str], stop: _StopRequests,
            fresh_options: Callable[[], PipelineOptions]) -> int:
    """The job, from the seen store to the last summary line; the exit status."""
    opts = options.view_as(NewsbeamOptions)
    state = StateDir(opts.state_directory())
    state.clear_stop()
    stop.arm(state)
    started = time.time()
    # What earlier runs committed (and re-sighted) is in the seen store now;
    # the story index is compacted.
    reconciled = seen.reconcile(state, opts.sink(), started, opts.seen_ttl * 3600,
                                opts.seen_max_ids)
    state.compact_stories(lambda rows: stories.bounded_rows(rows, started, opts.story_ttl))
    # Read before the run: a portable runner rewrites the runner option.
    profile = runners.profile(options)
    if stop.signals:
        print("newsbeam stream: stopped before the job started", flush=True)
        return 0
    # From here a stop finds the marker written: the tick source finishes at its first tick.
    stop.submitted = True
    result = _submit(options, feeds, started)
    watch = _StartWatch(profile.start_timeout, time.time())
    print(f"newsbeam stream: polling {len(feeds)} feeds every {opts.poll_interval:g}s, "
          f"committing every {opts.window:g}s window to {opts.output} "
          f"({reconciled['ids_added']} articles recorded as seen since the last start); "
          "SIGTERM or Ctrl-C stops it",
          flush=True)
    signals = stop.signals
    commits = _Commits(state, started)
    deadline = expected = None
    cancelled = complete = False
    while not PipelineState.is_terminal(result.state):
        fresh = commits.poll()
        for record in fresh:
            print(f"newsbeam stream: {_describe(record)}", flush=True)
        verdict = None if signals else watch.verdict(state, started, time.time())
        if verdict == "resubmit":
            print(f"newsbeam stream: the job has not ticked {watch.timeout:g}s after its "
                  "submission; cancelling it and submitting it again "
                  f"({watch.submissions + 1} of {MAX_SUBMISSIONS})", flush=True)
            logging.getLogger().addFilter(_ExpectedCancellation())
            _cancel(options, result, profile)
            # The new job ticks from now: no burst of the ticks it missed.
            started = time.time()
            result = _submit(fresh_options(), feeds, started)
            watch.resubmitted(started)
            continue
        if verdict == "give_up":
            print(f"newsbeam stream: the job did not start after {MAX_SUBMISSIONS} "
                  "submissions; cancelling it", flush=True)
            _cancel(options, result, profile)
            cancelled = True
            break
        if signals and deadline is None:
            deadline = time.time() + opts.poll_interval + opts.window + 60
            print("newsbeam stream: stopping: committing open windows ...", flush=True)
        if signals and profile.cancel_when_stopped and expected is None:
            expected = _windows_to_commit(state, started, opts)
        if expected is not None and expected <= commits.windows:
            # This runner's job does not end by itself (its tick source holds
            # after a stop, pipelines/runners.py): end it once nothing is left
            # to commit (pipelines/flink.py).
            print("newsbeam stream: the last tick's window is committed; ending the job",
                  flush=True)
            # Beam's job server then logs "Job was cancelled" at ERROR (as root).
            logging.getLogger().addFilter(_ExpectedCancellation())
            flink.cancel(options)
            result.cancel()
            cancelled = complete = True
            break
        if deadline is not None and (len(signals) > 1 or time.time() > deadline):
            print("newsbeam stream: cancelling the job", flush=True)
            _cancel(options, result, profile)
            cancelled = True
            break
        time.sleep(0.5)
    try:
        result.wait_until_finish()
    except Exception as exc:  # noqa: BLE001 - reported below with the state
        # A job newsbeam cancelled reports that as a failure: not worth a warning.
        (_LOG.info if cancelled else _LOG.warning)("job ended with %s", exc)
    for record in commits.poll():
        print(f"newsbeam stream: {_describe(record)}", flush=True)
    # Once every window is committed, how the runner reports the job that
    # newsbeam then cancelled (Flink's job server: FAILED, "Job was
    # cancelled") does not matter: the stream stopped cleanly.
    state = "STOPPED" if complete else result.state
    print(f"newsbeam stream: {state}: {len(commits.paths)} windows committed this run, "
          f"{commits.articles} articles, {commits.dead_letters} dead letters; commit "
          f"records in {commits.folder}", flush=True)
    stopped = bool(signals) and (complete or result.state in (PipelineState.DONE,
                                                               PipelineState.CANCELLED))
    return 0 if result.state == PipelineState.DONE or stopped else 1


if __name__ == "__main__":
    sys.exit(run())
