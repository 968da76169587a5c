"""The progress of ``newsbeam ingest`` while it runs, on stderr.

Beam's counters reach the launcher only at the end of a DirectRunner run
(and of a Flink job: its job service answers metric queries with nothing
until the job is done; and a portable runner's ``result.metrics()`` keeps
its first answer, so polling it mid-run would also empty the summary), so
the workers' DoFns tally what they did in the run's progress directory
(``transforms/lib/progress.py``), and a thread of the launcher sums the
tallies once a second and shows them:

- on a terminal (stderr is a TTY), one line that tqdm redraws in place
  every second: feeds read, a bar of pages fetched out of the pages to
  fetch, the rate, the ETA, articles and dead letters written;
- otherwise (cron, systemd, a pipe, pytest), the same figures as a plain
  line every ``--progress-interval`` seconds (10 by default);
- nothing with ``--quiet``.

What moves when, on the DirectRunner: feeds as they are read; the pages to
fetch once the feeds are read, deduplicated and checked against the seen
store (the fetch stage waits for that grouping); pages as they are fetched
and extracted (one fused stage); articles and dead letters only at the very
end, when the sinks commit their files.  The rate is pages per second over
the last ``RATE_WINDOW`` seconds, and the ETA is the pages left at that
rate.  The tallies live in the state directory, so they reach the launcher
from any worker that sees it: the DirectRunner's threads and processes, and
a Flink cluster on a shared filesystem.  With the state directory on object
storage there is no channel: the line shows the job's state and the time
elapsed only.  The display only reads; it never changes what a run writes.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from pipelines.options import NewsbeamOptions
from transforms.lib import progress
from transforms.lib.datasets import ARTICLES, ERRORS
from transforms.lib.state_dir import StateDir, is_local

_LOG = logging.getLogger("newsbeam")
RATE_WINDOW = 30.0  # seconds of history behind the rate (and so the ETA)
TICK = 1.0          # seconds between two looks at the tallies
FINAL_STATES = frozenset({"DONE", "FAILED", "CANCELLED", "STOPPED", "UPDATED", "DRAINED"})
# The lines' layouts; tqdm fills in the fields.  PLAIN for logs; BAR on a
# terminal; NARROW on a terminal too narrow for BAR with a useful bar (80
# columns), which keeps every figure and drops the bar and the elapsed time.
PLAIN, BAR, NARROW = "plain", "bar", "narrow"
FORMATS = {
    PLAIN: "newsbeam: {desc}, pages {n_fmt}/{total_fmt}, {rate_fmt}, ETA {remaining}, "
           "elapsed {elapsed}{postfix}",
    BAR: "newsbeam: {desc} |{bar}| {n_fmt}/{total_fmt} pages [{elapsed}<{remaining}, "
         "{rate_fmt}{postfix}]",
    NARROW: "{desc}, pages {n_fmt}/{total_fmt}, {rate_fmt}, ETA {remaining}{postfix}",
}


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What the run has done so far, as the launcher sees it."""

    feeds: int = 0
    feeds_total: int = 0
    entries: int = 0       # pages to fetch (0: not known yet)
    pages: int = 0         # pages fetched (or failed)
    articles: int = 0      # written
    dead_letters: int = 0  # written
    elapsed: float = 0.0
    rate: float | None = None  # pages per second, lately
    state: str | None = None   # the job's state, when the runner tells it mid-run

    @property
    def eta(self) -> float | None:
        """Seconds until every known page is fetched, at the current rate."""
        if not self.rate or not self.entries:
            return None
        return max(0, self.entries - self.pages) / self.rate


def snapshot(counts: dict[str, int], feeds_total: int, elapsed: float,
             rate: float | None, state: str | None = None) -> Snapshot:
    """The tallies' sums (names of ``transforms/lib/progress.py``) as a Snapshot."""
    return Snapshot(feeds=counts.get(progress.FEEDS, 0), feeds_total=feeds_total,
                    entries=counts.get(progress.ENTRIES, 0),
                    pages=counts.get(progress.PAGES, 0),
                    articles=counts.get(progress.WRITTEN + ARTICLES.name, 0),
                    dead_letters=counts.get(progress.WRITTEN + ERRORS.name, 0),
                    elapsed=elapsed, rate=rate, state=state)


class RateMeter:
    """Pages per second over the last ``window`` seconds.

    Not since the start: the feed phase fetches no pages, and a rate that
    counted it would make the ETA far too long.  So the window also starts
    no earlier than the last look that saw no page fetched.
    """

    def __init__(self, window: float = RATE_WINDOW):
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, pages: int) -> float | None:
        self._samples.append((now, pages))
        while len(self._samples) > 2 and (self._samples[1][0] <= now - self.window
                                          or self._samples[1][1] == 0):
            self._samples.popleft()
        then, before = self._samples[0]
        if now - then < 1.0 or pages == 0:
            return None
        return (pages - before) / (now - then)


def render(snap: Snapshot, layout: str = PLAIN, ncols: int | None = None) -> str:
    """One line for ``snap`` in one of the ``FORMATS``, at most ``ncols`` wide."""
    desc = f"feeds {snap.feeds}/{snap.feeds_total}"
    if snap.state and snap.state not in FINAL_STATES:
        desc += f" (job {snap.state})"
    return tqdm.format_meter(
        snap.pages, snap.entries or None, snap.elapsed, ncols=ncols, prefix=desc,
        unit="page", rate=snap.rate or 0,
        postfix=f"articles {snap.articles}, dead letters {snap.dead_letters}",
        bar_format=FORMATS[layout])


def terminal_line(snap: Snapshot, ncols: int) -> str:
    """The terminal's line: with a bar if one of 10 cells or more fits."""
    if len(render(snap, BAR)) <= ncols:  # without ncols, tqdm draws 10 cells
        return render(snap, BAR, ncols)
    return render(snap, NARROW, ncols)


def terminal_shape(stream: Any) -> tuple[int, int]:
    """(columns, rows) of the terminal behind ``stream``, less one each, as
    tqdm counts them.  A terminal that reports no size (a pty nobody sized,
    as under some CI runners) is ``COLUMNS`` or 80 wide and 24 high: tqdm's
    own probe would make that -1 by -1 and then draw nothing at all."""
    try:
        size = os.get_terminal_size(stream.fileno())
        columns, rows = size.columns, size.lines
    except (AttributeError, OSError, ValueError):
        columns = rows = 0
    if columns <= 0:
        env = os.environ.get("COLUMNS", "")
        columns = int(env) if env.isdigit() and int(env) > 0 else 80
    return columns - 1, (rows if rows > 0 else 24) - 1


class _Line(tqdm):
    """tqdm drawing newsbeam's own figures: the line is :func:`render` of the
    latest :class:`Snapshot` (tqdm's own rate would average over the feed
    phase, and its count only moves by ``update``).  tqdm still does the
    rest: rewriting the line in place, fitting it to the terminal's width,
    and clearing and redrawing it around log records."""

    monitor_interval = 0  # no monitor thread: the display refreshes the line itself

    def __init__(self, snap: Snapshot, file: TextIO, **kwargs: Any):
        self.snap = snap
        columns, rows = terminal_shape(file)
        super().__init__(file=file, ncols=columns, nrows=rows, **kwargs)
        self.dynamic_ncols = terminal_shape  # follows a resized terminal

    def __str__(self) -> str:
        return terminal_line(self.snap, self.format_dict["ncols"])


class ProgressDisplay:
    """A launcher thread that shows the run's progress until :meth:`stop`.

    ``read`` returns the tallies' sums; ``stream`` is where lines go (stderr).
    On a TTY, one tqdm line is redrawn every ``tick`` seconds, and log
    records go through tqdm while it is shown, so they do not break it;
    otherwise a plain line is written every ``interval`` seconds.
    """

    def __init__(self, read: Callable[[], dict[str, int]], feeds_total: int,
                 stream: TextIO | None = None, interval: float = 10.0,
                 tty: bool | None = None, tick: float = TICK,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self._read = read
        self._feeds_total = feeds_total
        self._tick = min(tick, interval)
        self._clock = clock
        self._started = clock()
        self._rate = RateMeter()
        self._result: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._line: _Line | None = None
        self._logs: Any = None
        self._failed = False

    def start(self) -> ProgressDisplay:
        if self.tty:
            self._line = _Line(Snapshot(feeds_total=self._feeds_total), self.stream,
                               leave=True, mininterval=0)
            self._logs = logging_redirect_tqdm(tqdm_class=_Line)
            self._logs.__enter__()
        self._thread = threading.Thread(target=self._run, name="newsbeam-progress",
                                        daemon=True)
        self._thread.start()
        return self

    def watch(self, result: Any) -> None:
        """The running job: its state goes on the line while it is not done
        (portable runners return from ``run()`` at once; the DirectRunner
        only when it is done)."""
        self._result = result

    def stop(self) -> None:
        """Stop the thread; on a terminal, leave the last line in place."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._line is not None:
            try:
                self._line.snap = self.sample()
            finally:
                self._line.close()  # redraws it and ends it with a newline
                self._logs.__exit__(None, None, None)
                self._line = None

    def sample(self) -> Snapshot:
        """Read the tallies once."""
        now = self._clock()
        counts = self._read()
        rate = self._rate.add(now, counts.get(progress.PAGES, 0))
        return snapshot(counts, self._feeds_total, now - self._started, rate, self._state())

    def show(self, snap: Snapshot) -> None:
        if self._line is not None:
            self._line.snap = snap
            self._line.refresh()
        else:
            self.stream.write(render(snap) + "\n")
            self.stream.flush()

    def _state(self) -> str | None:
        if self._result is None:
            return None
        try:
            return str(self._result.state)
        except Exception:  # noqa: BLE001 - a job service that does not answer
            return None

    def _run(self) -> None:
        last_line = self._clock()
        while not self._stop.wait(self._tick):
            try:
                snap = self.sample()
                if self.tty or self._clock() - last_line >= self.interval - 1e-3:
                    self.show(snap)
                    last_line = self._clock()
            except Exception as exc:  # noqa: BLE001 - progress must never fail a run
                if not self._failed:
                    _LOG.warning("progress display: %s", exc)
                    self._failed = True


class RunProgress:
    """The progress directory of one batch run and its display; a no-op
    with ``--quiet``.  The launcher starts it before the pipeline runs and
    stops it (removing the directory) whatever happens."""

    def __init__(self, options: Any, state: StateDir, run_tag: str, feeds_total: int,
                 stream: TextIO | None = None):
        opts = options.view_as(NewsbeamOptions)
        self.directory: str | None = None
        self.display: ProgressDisplay | None = None
        self._state = state
        if opts.quiet:
            return
        if is_local(state.root):
            self.directory = state.start_progress(run_tag)

            def read() -> dict[str, int]:
                return state.progress_counts(run_tag)
        else:
            _LOG.warning("progress: the state directory %s is not on a local or mounted "
                         "filesystem, so workers' counts cannot be shown; showing the "
                         "time elapsed only", state.root)

            def read() -> dict[str, int]:
                return {}
        self.display = ProgressDisplay(read, feeds_total, stream,
                                       interval=opts.progress_interval).start()

    def watch(self, result: Any) -> None:
        if self.display is not None:
            self.display.watch(result)

    def stop(self) -> None:
        try:
            if self.display is not None:
                self.display.stop()
        finally:
            if self.directory is not None:
                self._state.clear_progress()
