"""The async DoFn under load: every item is emitted exactly once and every
result slot comes back, whatever the timing.

Items finish on the loop thread while the DoFn thread is collecting, so
these tests drive thousands of fast-finishing items, with and without
jitter on either side, and check every output and every slot.
"""
from __future__ import annotations

import asyncio
import random
import time

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.harness import drive
from transforms.lib.async_dofn import AsyncIODoFn


class Echo(AsyncIODoFn):
    """Emits each item back; optionally sleeps on the loop or in the DoFn thread."""

    def __init__(self, max_in_flight: int, loop_jitter: float = 0.0,
                 thread_jitter: float = 0.0, fail_every: int = 0, take_early: bool = False):
        super().__init__(max_in_flight)
        self.take_early = take_early
        self.loaded = 0  # items past slot.take() and not yet emitted
        self.peak_loaded = 0
        self.loop_jitter = loop_jitter
        self.thread_jitter = thread_jitter
        self.fail_every = fail_every
        self.observed: list[int] = []
        self.peak_slots_taken = 0

    async def handle(self, item: int, timestamp, slot) -> list[int]:
        if self.take_early:
            await slot.take()
            self.loaded += 1
            self.peak_loaded = max(self.peak_loaded, self.loaded)
        if self.loop_jitter:
            await asyncio.sleep(random.random() * self.loop_jitter)
        if self.fail_every and item % self.fail_every == 0:
            self.loaded -= self.take_early  # its slot goes back with the raise
            raise ValueError(f"item {item} fails")
        return [item]

    def on_crash(self, item: int, timestamp, exc: BaseException) -> list[int]:
        return [-item - 1]

    def observe(self, item: int, outputs: list) -> None:
        assert self._slots is not None
        taken = self.max_in_flight - self._slots._value
        self.peak_slots_taken = max(self.peak_slots_taken, taken)
        self.observed.append(item)
        if self.thread_jitter:
            time.sleep(random.random() * self.thread_jitter)


    def _release_slot(self) -> None:
        # Runs before the release itself (the loop runs callbacks in order).
        self._loop.call_soon(self._unload)
        super()._release_slot()

    def _unload(self) -> None:
        if self.take_early:
            self.loaded -= 1


def free_slots(fn: AsyncIODoFn) -> int:
    """The free result slots, read on the loop after the releases queued so far."""
    async def read() -> int:
        assert fn._slots is not None
        return fn._slots._value
    assert fn._loop is not None
    return fn._loop.run(read(), timeout=10)


def run(fn: Echo, items: list[int]) -> tuple[list[int], int]:
    """Drive one bundle; returns the outputs and the free slots at its end."""
    free: list[int] = []
    original = fn.finish_bundle

    def finish_and_count():
        yield from original()
        free.append(free_slots(fn))

    fn.finish_bundle = finish_and_count
    outputs, tagged = drive(fn, items)
    assert not tagged
    return outputs, free[0]


@pytest.mark.parametrize("loop_jitter,thread_jitter", [
    (0.0, 0.0), (0.0005, 0.0), (0.0, 0.0002), (0.0003, 0.0003)])
def test_thousands_of_fast_items_are_all_emitted_and_every_slot_returns(
        loop_jitter, thread_jitter):
    items = list(range(3000))
    fn = Echo(max_in_flight=8, loop_jitter=loop_jitter, thread_jitter=thread_jitter)
    outputs, free = run(fn, items)
    assert sorted(outputs) == items  # each exactly once
    assert sorted(fn.observed) == items
    assert free == 8
    assert fn.peak_slots_taken <= 8


@pytest.mark.parametrize("fail_every", [0, 5])
def test_slots_taken_early_bound_loaded_results_however_big_the_bundle(fail_every):
    """Items that take their slot before loading (as the fetch stage does once
    the host gate lets them go) never have more than max_in_flight loaded
    results at once, even when the DoFn thread is slower than the loop; a
    crash after the take gives its slot back."""
    items = list(range(1500))
    fn = Echo(max_in_flight=6, thread_jitter=0.0002, fail_every=fail_every, take_early=True)
    outputs, free = run(fn, items)
    expected = sorted(-i - 1 if fail_every and i % fail_every == 0 else i for i in items)
    assert sorted(outputs) == expected
    assert free == 6
    assert 1 <= fn.peak_loaded <= 6


def test_crashing_items_become_crash_outputs_and_hold_no_slot():
    items = list(range(2000))
    fn = Echo(max_in_flight=4, fail_every=7)
    outputs, free = run(fn, items)
    expected = sorted(-i - 1 if i % 7 == 0 else i for i in items)
    assert sorted(outputs) == expected
    assert free == 4


@settings(max_examples=25)
@given(n=st.integers(0, 400), slots=st.integers(1, 16),
       loop_jitter=st.sampled_from([0.0, 0.0002]),
       thread_jitter=st.sampled_from([0.0, 0.0001]))
def test_property_no_item_lost_or_duplicated_no_slot_leaked(n, slots, loop_jitter,
                                                           thread_jitter):
    items = list(range(n))
    fn = Echo(max_in_flight=slots, loop_jitter=loop_jitter, thread_jitter=thread_jitter)
    outputs, free = run(fn, items)
    assert sorted(outputs) == items
    assert free == slots


def test_a_bundle_that_failed_midway_does_not_leak_into_the_next():
    """A runner may reuse a DoFn after a failed bundle: leftovers of the
    failed bundle must neither be emitted into the next one nor keep slots."""
    fn = Echo(max_in_flight=2, loop_jitter=0.01)
    fn.setup()
    try:
        fn.start_bundle()
        for item in (1, 2, 3):
            list(fn.process(item, GlobalWindow(), Timestamp(0)))
        # The bundle fails here: finish_bundle is never called.
        fn.start_bundle()
        emitted = list(fn.process(10, GlobalWindow(), Timestamp(0))) + list(fn.finish_bundle())
        values = [out.value for out in emitted]
        assert values == [10]
        assert free_slots(fn) == 2
    finally:
        fn.teardown()


class Groups(Echo):
    """Elements are (name, n) groups of n items, drawn lazily; records how
    many items were submitted and not yet emitted at most, and which
    groups had items submitted while the first group was still drawn."""

    def __init__(self, max_in_flight: int, max_pending: int):
        super().__init__(max_in_flight, loop_jitter=0.0002)
        self.max_pending = max_pending
        self.drawn = 0
        self.peak_pending = 0
        self.started: dict[str, int] = {}  # group: items drawn when it started

    def work(self, element):
        name, n = element
        for i in range(n):
            self.drawn += 1
            self.peak_pending = max(self.peak_pending, self.drawn - len(self.observed))
            if i == 0:
                self.started[name] = self.drawn
            yield (name, i)

    async def handle(self, item, timestamp, slot):
        if self.loop_jitter:
            await asyncio.sleep(random.random() * self.loop_jitter)
        return [item]


@pytest.mark.parametrize("pending", [1, 7, 64])
def test_a_huge_group_is_submitted_a_bounded_number_at_a_time(pending):
    """A host's group of 3,000 entries and two small ones in one bundle: at
    most ``max_pending`` items are ever submitted and not emitted (not the
    whole group), every item comes out once, and the small groups start
    long before the huge one is drawn (round-robin, so no host waits for
    another's whole group)."""
    fn = Groups(max_in_flight=4, max_pending=pending)
    outputs, free = run(fn, [("huge", 3000), ("a", 5), ("b", 5)])
    assert sorted(outputs) == sorted([("huge", i) for i in range(3000)]
                                     + [(g, i) for g in "ab" for i in range(5)])
    assert free == 4
    assert fn.peak_pending <= max(4, pending) + 1  # +1: the item being drawn
    assert list(fn.started) == ["huge", "a", "b"]
    assert fn.started["b"] <= 2 * max(4, pending) + 2


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=6),
       slots=st.integers(1, 8), pending=st.integers(1, 40))
def test_property_any_groups_come_out_once_within_the_pending_bound(sizes, slots, pending):
    """Any number of groups of any sizes, any slots and pending bound: every
    item is emitted exactly once, every slot comes back, and no more than
    the bound is ever submitted and not yet emitted."""
    fn = Groups(max_in_flight=slots, max_pending=pending)
    groups = [(f"g{n}", size) for n, size in enumerate(sizes)]
    outputs, free = run(fn, groups)
    assert sorted(outputs) == sorted((name, i) for name, size in groups for i in range(size))
    assert free == slots
    assert fn.peak_pending <= max(slots, pending) + 1
