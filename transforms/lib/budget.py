"""A CPU-time budget for code that has no timeout of its own (trafilatura).

trafilatura's Python API cannot be interrupted (its issue #704), and a
hostile page under the byte cap can keep it busy for a minute.  A
:class:`Watchdog` thread, one per DoFn instance, watches the CPU time of
the thread doing the work (``pthread_getcpuclockid``, so a busy machine
does not count against the page) and, once the budget is spent, raises
:class:`BudgetExceeded` inside that thread (``PyThreadState_SetAsyncExc``).

The exception is delivered at the next Python bytecode, so a single long
call into C is not cut short; the page's element cap bounds those.  It can
only ever land inside the watched block: the watchdog raises while holding
the lock that the block's exit takes, and the exit clears anything still
pending, so no exception escapes into unrelated code.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from typing import Iterator

POLL_SECONDS = 0.05


class BudgetExceeded(BaseException):
    """The watched block used up its CPU budget.

    A BaseException, like KeyboardInterrupt, so that the ``except Exception``
    clauses inside the watched library cannot swallow it.
    """


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> int:
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None)


class Watchdog:
    """Enforces CPU budgets on blocks of code run by other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._watched: dict[int, tuple[int, float]] = {}  # thread id -> (clock, deadline)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="newsbeam-watchdog",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._wake.notify()
        self._thread.join(5)

    @contextlib.contextmanager
    def budget(self, cpu_seconds: float) -> Iterator[None]:
        """Raise BudgetExceeded in this thread once the block has used
        ``cpu_seconds`` of its CPU time; 0 or less means no budget."""
        if cpu_seconds <= 0:
            yield
            return
        me = threading.get_ident()
        clock = time.pthread_getcpuclockid(me)
        with self._lock:
            self._watched[me] = (clock, time.clock_gettime(clock) + cpu_seconds)
            self._wake.notify()
        try:
            yield
        finally:
            with self._lock:
                self._watched.pop(me, None)
                _set_async_exc(me, None)  # drop one raised too late to land

    def _run(self) -> None:
        with self._lock:
            while not self._stopped:
                for ident, (clock, deadline) in list(self._watched.items()):
                    try:
                        spent = time.clock_gettime(clock) >= deadline
                    except OSError:  # the thread is gone
                        self._watched.pop(ident, None)
                        continue
                    if spent:
                        self._watched.pop(ident, None)
                        _set_async_exc(ident, BudgetExceeded)
                self._wake.wait(POLL_SECONDS if self._watched else None)
