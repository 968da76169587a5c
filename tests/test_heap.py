"""Heap hygiene (transforms/lib/heap.py): arenas capped, free pages returned."""
from __future__ import annotations

import os

import pytest

from transforms.lib import heap


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_tune_malloc_sets_the_environment_for_workers_and_keeps_a_users_value(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    heap.tune_malloc()
    assert os.environ["MALLOC_ARENA_MAX"] == str(heap.ARENAS)
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == str(heap.MMAP_THRESHOLD)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(heap.MMAP_THRESHOLD))
    heap.tune_malloc()
    assert os.environ["MALLOC_ARENA_MAX"] == "4"


def test_big_blocks_go_back_to_the_system_when_freed(monkeypatch):
    """After a big block is freed, glibc's own threshold would put the next
    ones on the heap, where survivors between them pin the pages; with the
    threshold fixed each is a mapping of its own, gone when freed, without
    any trim."""
    if heap.HeapTrimmer()._libc is None:
        pytest.skip("not glibc")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    heap.tune_malloc()
    warm = b"x" * (16 << 20)  # freed: would raise glibc's threshold to 16 MiB
    del warm
    big, survivors = [], []
    for i in range(120):
        big.append(b"x" * (1 << 20))
        survivors.append(b"y" * 3000 + i.to_bytes(4, "big"))
    held = rss_mib()
    del big
    assert rss_mib() < held - 90
    assert len(survivors) == 120


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
