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
are bounded by the politeness gates and the connection pool.  Each item
takes one of ``max_in_flight`` slots before its payload is loaded (a
subclass says when: ``handle`` gets the item's :class:`Slot` and awaits
``slot.take()`` once the item has passed its host's gate; otherwise the
slot is taken when ``handle`` returns), and the slot is freed when the
result has been emitted downstream.  So at most ``max_in_flight`` loaded
results exist per DoFn instance, however many items a bundle holds and
however much faster the network is than the stages after it: memory does
not grow with the batch.  An item waiting on a slow host holds no slot, so
it cannot starve the other hosts.

Items are not all submitted at once either: a submitted item costs a
coroutine, a task and a future (a few kilobytes), and one element can be a
whole host's group of thousands.  Each element's items are drawn lazily,
and at most ``max_pending`` are submitted at a time, drawn round-robin
from every element the bundle has seen so far, so that every host keeps
items waiting at its gate while a large group is still being drawn.
That works the same in batch and streaming, on every runner.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import queue
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from transforms.lib import outcomes
from transforms.lib.loop import LoopThread
from transforms.lib.progress import ProgressTally


class Slot:
    """One work item's claim on a result slot: taken at most once, freed by
    the DoFn once the item's outputs are emitted (or it failed)."""

    def __init__(self, slots: asyncio.Semaphore):
        self._slots = slots
        self.held = False

    async def take(self) -> None:
        if not self.held:
            await self._slots.acquire()
            self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self._slots.release()


@dataclasses.dataclass(eq=False)
class _Feeder:
    """An element's work items not submitted yet, and where they belong."""

    items: Iterator[Any]
    window: Any
    timestamp: Any


@dataclasses.dataclass(eq=False)  # identity: one entry per submitted item
class _InFlight:
    future: concurrent.futures.Future
    item: Any
    window: Any
    timestamp: Any


class _Bundle:
    """The work items one bundle has in flight.

    Each finished future puts itself on ``finished`` from its own done
    callback, exactly once, so no item can be missed however its finish
    interleaves with collection, and collecting costs O(1) per item.
    """

    def __init__(self) -> None:
        self.finished: queue.SimpleQueue[_InFlight] = queue.SimpleQueue()
        self.in_flight: set[_InFlight] = set()
        self.feeders: collections.deque[_Feeder] = collections.deque()

    def add(self, entry: _InFlight) -> None:
        self.in_flight.add(entry)
        entry.future.add_done_callback(lambda _: self.finished.put(entry))

    def next_finished(self, block: bool) -> _InFlight | None:
        if not self.in_flight:
            return None
        try:
            entry = self.finished.get(block=block)
        except queue.Empty:
            return None
        self.in_flight.discard(entry)
        return entry

    def cancel(self) -> None:
        for entry in self.in_flight:
            entry.future.cancel()
        self.in_flight.clear()
        self.feeders.clear()


class AsyncIODoFn(beam.DoFn):
    """Subclasses implement ``handle`` (a coroutine returning the outputs
    for one work item) and may override ``work`` to split an element into
    several items, ``open`` / ``close`` to manage the resources that live
    on the loop, ``on_crash`` to turn an unexpected exception into a dead
    letter instead of a failed bundle, and ``observe`` to count outcomes.

    With a ``progress_dir`` (a batch run that shows its progress), ``observe``
    may also add to ``self.tally`` (``transforms/lib/progress.py``), which
    this class opens, flushes after each bundle and closes."""

    stage = "async"  # the dead-letter stage of items that crash; subclasses name theirs

    def __init__(self, max_in_flight: int = 32, progress_dir: str | None = None,
                 max_pending: int | None = None):
        self.max_in_flight = max(1, max_in_flight)
        # Items submitted at once (waiting at a gate, in flight, or done and
        # not yet emitted): enough to keep every slot busy.
        self.max_pending = max(self.max_in_flight,
                               max_pending or max(64, 4 * self.max_in_flight))
        self.progress_dir = progress_dir
        self.tally = ProgressTally(None)
        self._loop: LoopThread | None = None
        self._slots: asyncio.Semaphore | None = None
        self._bundle: _Bundle | None = None

    # Lifecycle --------------------------------------------------------------
    def setup(self) -> None:
        self.tally = ProgressTally(self.progress_dir)
        self._loop = LoopThread(type(self).__name__).start()
        self._loop.run(self._open())

    async def _open(self) -> None:
        await self._new_slots()
        await self.open()

    async def _new_slots(self) -> None:
        self._slots = asyncio.Semaphore(self.max_in_flight)

    def teardown(self) -> None:
        self.tally.close()
        if self._bundle is not None:
            self._bundle.cancel()
            self._bundle = None
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

    async def handle(self, item: Any, timestamp: Any, slot: Slot) -> Iterable[Any]:
        """The outputs (values or TaggedOutputs) for one work item.  Await
        ``slot.take()`` right before loading anything large (a response
        body), after waiting on anything slow that needs no memory."""
        raise NotImplementedError

    def on_crash(self, item: Any, timestamp: Any, exc: BaseException) -> Iterable[Any]:
        """The outputs for an item whose ``handle`` raised: by default the
        same ``internal_error`` dead letter every guarded stage writes."""
        outcomes.count(self.stage, outcomes.INTERNAL_ERROR)
        return [outcomes.internal_error(self.stage, item, exc)]

    def observe(self, item: Any, outputs: list[Any]) -> None:
        """Runs on the DoFn's thread for each finished item: count here."""

    # Beam callbacks ----------------------------------------------------------
    def start_bundle(self) -> None:
        if self._bundle is not None and self._bundle.in_flight:
            # The previous bundle failed midway (finish_bundle never ran): its
            # items are abandoned, since the runner retries that bundle, and
            # the slots their results held are reset.
            self._bundle.cancel()
            assert self._loop is not None
            self._loop.run(self._new_slots(), timeout=30)
        self._bundle = _Bundle()

    def process(self, element, window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam) -> Iterator[Any]:
        assert self._loop is not None and self._bundle is not None, "setup() was not called"
        self._bundle.feeders.append(_Feeder(iter(self.work(element)), window, timestamp))
        self._submit()
        yield from self._collect(block=False)

    def finish_bundle(self) -> Iterator[Any]:
        assert self._bundle is not None
        while self._bundle.in_flight or self._bundle.feeders:
            self._submit()
            yield from self._collect(block=True)
        self.tally.flush()

    def _submit(self) -> None:
        """Submit items until ``max_pending`` are, one from each element in turn."""
        bundle = self._bundle
        assert self._loop is not None and bundle is not None
        while bundle.feeders and len(bundle.in_flight) < self.max_pending:
            feeder = bundle.feeders.popleft()
            item = next(feeder.items, _NO_ITEM)
            if item is _NO_ITEM:
                continue
            future = self._loop.submit(self._slotted(item, feeder.timestamp))
            bundle.add(_InFlight(future, item, feeder.window, feeder.timestamp))
            bundle.feeders.append(feeder)

    async def _slotted(self, item: Any, timestamp: Any) -> list[Any]:
        assert self._slots is not None
        slot = Slot(self._slots)
        try:
            outputs = list(await self.handle(item, timestamp, slot))
            await slot.take()  # freed once the outputs are emitted
        except BaseException:
            # A crashed or cancelled item emits no loaded result: its slot
            # goes back now (its dead letter is small).
            slot.give_back()
            raise
        return outputs

    def _release_slot(self) -> None:
        assert self._loop is not None and self._slots is not None
        self._loop.call_soon(self._slots.release)

    def _collect(self, block: bool) -> Iterator[Any]:
        """Emit every finished item; with ``block``, wait for at least one."""
        assert self._bundle is not None
        entry = self._bundle.next_finished(block)
        while entry is not None:
            try:
                outputs = entry.future.result()
            except (Exception, concurrent.futures.CancelledError) as exc:  # noqa: BLE001
                outputs = list(self.on_crash(entry.item, entry.timestamp, exc))
            else:
                self._release_slot()
            self.observe(entry.item, outputs)
            for out in outputs:
                yield _in_window(out, entry)
            entry = self._bundle.next_finished(block=False)


_NO_ITEM = object()


def _in_window(output: Any, entry: _InFlight) -> Any:
    if isinstance(output, TaggedOutput):
        return TaggedOutput(output.tag, WindowedValue(output.value, entry.timestamp,
                                                      (entry.window,)))
    return WindowedValue(output, entry.timestamp, (entry.window,))
