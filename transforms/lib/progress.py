"""Progress tallies: what a batch run has done so far, while it runs.

Why not Beam's counters?  The DirectRunner's FnApiRunner runs each fused
stage over all its input as one bundle per worker and reports counters only
when the bundle ends, so a launcher sees none of them mid-run; the job
services of portable runners (Flink) answer metric queries only once the
job is done.  So the few DoFns that mark progress also keep a tally of their
own and write it, at most about once a second, to a small file of their own
in the run's progress directory (``StateDir.progress_dir``); the launcher
sums the files and shows the sum (``pipelines/progress.py``).

A tally is cumulative per DoFn instance and written whole, atomically, so a
reader never sees half a file and a lost write only delays the count.  It is
a side channel and nothing else: it never touches a record, so it cannot
change the output, and a failed write is logged once and otherwise ignored.
Counts are attempts (a retried bundle counts again), as Beam's "attempted"
counters are.  Without a directory (streaming, ``--quiet``, tests) it does
nothing.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from typing import Callable

from apache_beam.io.filesystems import FileSystems

from transforms.lib.state_dir import atomic_write_json

_LOG = logging.getLogger(__name__)

FEEDS = "feeds"          # feeds read (every outcome)
ENTRIES = "entries"      # entries to fetch: after dedup and the seen store
PAGES = "pages"          # entries whose fetch finished (a page, or a dead letter)
WRITTEN = "written."     # + dataset name: rows a sink committed
# Seconds between two writes of one tally: the launcher polls once a second.
EVERY = 1.0


class ProgressTally:
    """One DoFn instance's counts, written to ``directory/<unique>.json``.

    Create it in the DoFn's ``setup`` and call :meth:`close` in its
    ``teardown``; :meth:`flush` at the end of each bundle (a bundle's last
    counts would otherwise wait for the next second's write).
    """

    def __init__(self, directory: str | None, every: float = EVERY,
                 clock: Callable[[], float] = time.monotonic):
        self.directory = directory
        self.counts: Counter[str] = Counter()
        self._every = every
        self._clock = clock
        self._path = (FileSystems.join(directory, f"{uuid.uuid4().hex}.json")
                      if directory else None)
        self._written_at: float | None = None
        self._dirty = False
        self._failed = False

    def add(self, name: str, n: int = 1) -> None:
        if self._path is None or not n:
            return
        self.counts[name] += n
        self._dirty = True
        now = self._clock()
        if self._written_at is None or now - self._written_at >= self._every:
            self._write(now)

    def flush(self) -> None:
        """Write the counts now, if anything changed since the last write."""
        if self._path is not None and self._dirty:
            self._write(self._clock())

    def close(self) -> None:
        self.flush()

    def _write(self, now: float) -> None:
        assert self._path is not None and self.directory is not None
        self._written_at = now
        try:
            # The launcher removes the directory when the run ends; a late
            # write (a teardown after that) must not create it again.
            if not FileSystems.exists(self.directory):
                return
            atomic_write_json(self._path, dict(self.counts))
            self._dirty = False
        except Exception as exc:  # noqa: BLE001 - progress must never fail a run
            if not self._failed:
                _LOG.warning("progress tally not written to %s: %s", self._path, exc)
                self._failed = True
