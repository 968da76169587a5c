"""A DoFn base that overlaps many network waits per worker.

Why not Beam's own tools?  ``AsyncWrapper`` (apache_beam.transforms.
async_dofn) needs keyed input, parks elements in state and releases them
on processing-time timers (5 s by default), which batch runners only fire
at the end of input; it also keeps its event loop in class-level globals.
``RequestResponseIO`` calls one ``Caller`` per element synchronously, so
it throttles and retries but never overlaps requests inside a worker.
Here, ``process`` hands each element to an event loop the DoFn owns,
keeps at most ``max_in_flight`` of them running, and emits results as
they finish, each in the window and with the timestamp of the element it
came from.  That works the same in batch and streaming, on every runner.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from transforms.http.loop import LoopThread


@dataclasses.dataclass
class _InFlight:
    future: concurrent.futures.Future
    element: Any
    window: Any
    timestamp: Any


class AsyncIODoFn(beam.DoFn):
    """Subclasses implement ``handle`` (a coroutine returning the outputs
    for one element) and may override ``open`` / ``close`` to manage the
    resources that live on the loop, ``on_crash`` to turn an unexpected
    exception into a dead letter instead of a failed bundle, and
    ``observe`` to count outcomes."""

    def __init__(self, max_in_flight: int = 32):
        self.max_in_flight = max(1, max_in_flight)
        self._loop: LoopThread | None = None
        self._pending: list[_InFlight] = []

    # Lifecycle --------------------------------------------------------------
    def setup(self) -> None:
        self._loop = LoopThread(type(self).__name__).start()
        self._loop.run(self.open())

    def teardown(self) -> None:
        if self._loop is not None:
            try:
                self._loop.run(self.close(), timeout=30)
            finally:
                self._loop.stop()
                self._loop = None

    async def open(self) -> None:
        """Create resources that must live on the event loop."""

    async def close(self) -> None:
        """Release what ``open`` created."""

    async def handle(self, element: Any, timestamp: Any) -> Iterable[Any]:
        """The outputs (values or TaggedOutputs) for one element."""
        raise NotImplementedError

    def on_crash(self, element: Any, timestamp: Any, exc: BaseException) -> Iterable[Any]:
        raise exc

    def observe(self, element: Any, outputs: list[Any]) -> None:
        """Runs on the DoFn's thread for each finished element: count here."""

    # Beam callbacks ----------------------------------------------------------
    def start_bundle(self) -> None:
        self._pending = []

    def process(self, element, window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        assert self._loop is not None, "setup() was not called"
        self._pending.append(_InFlight(self._loop.submit(self.handle(element, timestamp)),
                                       element, window, timestamp))
        yield from self._collect(wait=len(self._pending) >= self.max_in_flight)

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:
            yield from self._collect(wait=True)

    def _collect(self, wait: bool) -> Iterator[Any]:
        if wait and self._pending:
            concurrent.futures.wait([p.future for p in self._pending],
                                    return_when=concurrent.futures.FIRST_COMPLETED)
        done = [p for p in self._pending if p.future.done()]
        if not done:
            return
        self._pending = [p for p in self._pending if not p.future.done()]
        for item in done:
            try:
                outputs = list(item.future.result())
            except Exception as exc:  # noqa: BLE001 - routed to on_crash
                outputs = list(self.on_crash(item.element, item.timestamp, exc))
            self.observe(item.element, outputs)
            for out in outputs:
                yield _in_window(out, item)


def _in_window(output: Any, item: _InFlight) -> Any:
    if isinstance(output, TaggedOutput):
        return TaggedOutput(output.tag, WindowedValue(output.value, item.timestamp,
                                                      (item.window,)))
    return WindowedValue(output, item.timestamp, (item.window,))
