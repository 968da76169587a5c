"""A DoFn base that overlaps many network waits per worker.

Why not Beam's own tools?  ``AsyncWrapper`` (apache_beam.transforms.
async_dofn) needs keyed input, parks elements in state and releases them
on processing-time timers (5 s by default), which batch runners only fire
at the end of input; it also keeps its event loop in class-level globals.
``RequestResponseIO`` calls one ``Caller`` per element synchronously, so
it throttles and retries but never overlaps requests inside a worker.

Here, ``process`` hands each work item to an event loop the DoFn owns and
returns at once; results are emitted as they finish, each in the window
and with the timestamp of the element it came from.  Requests in flight
are bounded by the politeness gates and the connection pool; finished
results wait for one of ``max_in_flight`` slots, freed when the result has
been emitted downstream, so memory stays bounded however much faster the
network is than extraction.  A slow host never holds a slot while it
waits, so it cannot starve the others.
That works the same in batch and streaming, on every runner.
"""
from __future__ import annotations

import asyncio
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
    item: Any
    window: Any
    timestamp: Any


class AsyncIODoFn(beam.DoFn):
    """Subclasses implement ``handle`` (a coroutine returning the outputs
    for one work item) and may override ``work`` to split an element into
    several items, ``open`` / ``close`` to manage the resources that live
    on the loop, ``on_crash`` to turn an unexpected exception into a dead
    letter instead of a failed bundle, and ``observe`` to count outcomes."""

    def __init__(self, max_in_flight: int = 32):
        self.max_in_flight = max(1, max_in_flight)
        self._loop: LoopThread | None = None
        self._slots: asyncio.Semaphore | None = None
        self._pending: list[_InFlight] = []

    # Lifecycle --------------------------------------------------------------
    def setup(self) -> None:
        self._loop = LoopThread(type(self).__name__).start()
        self._loop.run(self._open())

    async def _open(self) -> None:
        self._slots = asyncio.Semaphore(self.max_in_flight)
        await self.open()

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

    def work(self, element: Any) -> Iterable[Any]:
        """The work items of one element (by default, the element itself)."""
        return (element,)

    async def handle(self, item: Any, timestamp: Any) -> Iterable[Any]:
        """The outputs (values or TaggedOutputs) for one work item."""
        raise NotImplementedError

    def on_crash(self, item: Any, timestamp: Any, exc: BaseException) -> Iterable[Any]:
        raise exc

    def observe(self, item: Any, outputs: list[Any]) -> None:
        """Runs on the DoFn's thread for each finished item: count here."""

    # Beam callbacks ----------------------------------------------------------
    def start_bundle(self) -> None:
        self._pending = []

    def process(self, element, window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        assert self._loop is not None, "setup() was not called"
        for item in self.work(element):
            self._pending.append(_InFlight(self._loop.submit(self._slotted(item, timestamp)),
                                           item, window, timestamp))
        yield from self._collect(wait=False)

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:
            yield from self._collect(wait=True)

    async def _slotted(self, item: Any, timestamp: Any) -> list[Any]:
        assert self._slots is not None
        outputs = list(await self.handle(item, timestamp))
        await self._slots.acquire()  # freed once the outputs are emitted
        return outputs

    def _release_slot(self) -> None:
        assert self._loop is not None and self._slots is not None
        self._loop.call_soon(self._slots.release)

    def _collect(self, wait: bool) -> Iterator[Any]:
        if wait and self._pending:
            concurrent.futures.wait([p.future for p in self._pending],
                                    return_when=concurrent.futures.FIRST_COMPLETED)
        done = [p for p in self._pending if p.future.done()]
        if not done:
            return
        self._pending = [p for p in self._pending if not p.future.done()]
        for entry in done:
            try:
                outputs = entry.future.result()
                self._release_slot()
            except Exception as exc:  # noqa: BLE001 - routed to on_crash
                outputs = list(self.on_crash(entry.item, entry.timestamp, exc))
            self.observe(entry.item, outputs)
            for out in outputs:
                yield _in_window(out, entry)


def _in_window(output: Any, entry: _InFlight) -> Any:
    if isinstance(output, TaggedOutput):
        return TaggedOutput(output.tag, WindowedValue(output.value, entry.timestamp,
                                                      (entry.window,)))
    return WindowedValue(output, entry.timestamp, (entry.window,))
