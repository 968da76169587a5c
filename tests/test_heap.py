"""Heap hygiene (transforms/lib/heap.py): arenas capped, free pages returned."""
from __future__ import annotations

import os

import pytest

from transforms.lib import heap


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_limit_arenas_sets_the_environment_for_workers_and_keeps_a_users_value(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    heap.limit_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == str(heap.ARENAS)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    heap.limit_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == "4"


def test_the_trimmer_trims_on_every_nth_tick():
    trimmer = heap.HeapTrimmer(every=3)
    if trimmer._libc is None:
        pytest.skip("not glibc")
    for _ in range(10):
        trimmer.tick()
    assert trimmer.trims == 3


def test_a_trim_returns_fragmented_free_heap_to_the_system():
    """What RSS keeps after a page is parsed and freed: chunks too big for
    Python's own allocator, freed around survivors.  malloc_trim gives the
    free pages between them back."""
    trimmer = heap.HeapTrimmer()
    if trimmer._libc is None:
        pytest.skip("not glibc")
    trimmer.trim()
    chunks = [bytes(4000) + i.to_bytes(4, "big") for i in range(40_000)]  # ~160 MB
    survivors = chunks[::50]
    del chunks
    held = rss_mib()
    trimmer.trim()
    assert rss_mib() < held - 80
    assert len(survivors) == 800
