"""Hand freed heap back to the system, so RSS follows what is live.

Measured on ``newsbeam ingest`` over 1,000 pages (glibc's ``mallinfo2``
per runner stage): at the end of fetching and extraction the process held
404 MiB, of which 71 MiB were live allocations and 120 MiB were free
chunks glibc kept.  Parsing a page with lxml and trafilatura allocates and
frees several megabytes, on the DoFn's thread, the event loop's thread and
the extraction watchdog's; glibc gives every thread its own arenas (up to
eight per core) and returns little of them.  So RSS grew with the batch
while the live data did not.

Two remedies, both standard for long-running Python services on glibc:

- :func:`limit_arenas`: at most ``ARENAS`` malloc arenas, in this process
  (``mallopt``) and in the worker processes it starts
  (``MALLOC_ARENA_MAX``, read by glibc when they start);
- :class:`HeapTrimmer`: ``malloc_trim(0)`` every ``every`` elements, from
  the DoFn that frees the most (extraction); it returns every free page of
  every arena.  About a millisecond per call, once per few seconds of work.

Elsewhere (musl, macOS) both are no-ops.
"""
from __future__ import annotations

import ctypes
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc malloc.h


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_arenas(arenas: int = ARENAS) -> None:
    """Cap malloc arenas here and in the processes started from now on
    (a value the user set in the environment wins)."""
    os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas))
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, int(os.environ["MALLOC_ARENA_MAX"]))


class HeapTrimmer:
    """Calls ``malloc_trim(0)`` on every ``every``-th :meth:`tick`.

    A DoFn creates one in ``setup`` and ticks it per element.
    """

    def __init__(self, every: int = 50):
        self._every = max(1, every)
        self._ticks = 0
        self._libc = _glibc()
        self.trims = 0

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % self._every == 0:
            self.trim()

    def trim(self) -> None:
        if self._libc is not None:
            self._libc.malloc_trim(0)
            self.trims += 1
