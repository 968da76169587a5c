"""The CPU budget interrupts runaway Python code, and only ever inside its block."""
from __future__ import annotations

import time

import pytest

from transforms.lib.budget import BudgetExceeded, Watchdog


@pytest.fixture
def watchdog():
    dog = Watchdog()
    yield dog
    dog.stop()


def spin(seconds: float) -> int:
    deadline = time.thread_time() + seconds
    n = 0
    while time.thread_time() < deadline:
        n += 1
    return n


def test_a_runaway_block_is_stopped_near_its_budget(watchdog):
    started = time.thread_time()
    with pytest.raises(BudgetExceeded):
        with watchdog.budget(0.2):
            spin(10)
    assert 0.15 < time.thread_time() - started < 1.5


def test_sleeping_does_not_spend_cpu_budget(watchdog):
    with watchdog.budget(0.1):
        time.sleep(0.3)  # wall time, not CPU time


def test_blocks_within_budget_never_see_a_late_exception(watchdog):
    """Thousands of blocks that end right at their budget: an exception is
    either raised inside the block or not at all, never after it."""
    late = 0
    for _ in range(300):
        try:
            with watchdog.budget(0.002):
                spin(0.002)
        except BudgetExceeded:
            pass
        try:
            spin(0.001)  # code after the block
        except BudgetExceeded:
            late += 1
    assert late == 0


def test_no_budget_means_no_watch(watchdog):
    with watchdog.budget(0):
        spin(0.05)
