"""Calling DoFns directly, the way a runner would, for unit tests.

The driver itself is the one the benchmarks' tight loop uses
(:func:`transforms.lib.stage.drive`), so tests call DoFns exactly as the
benchmarks measure them.
"""
from __future__ import annotations

from typing import Any, Iterable

from apache_beam.utils.timestamp import Timestamp

from transforms.lib.stage import drive as _drive


def drive(fn: Any, elements: Iterable[Any], *, window: Any = None,
          timestamp: Timestamp = Timestamp(0), with_window: bool = True
          ) -> tuple[list[Any], dict[str, list[Any]]]:
    """setup, one bundle over ``elements``, teardown; returns (main, tagged).

    ``with_window`` is kept for old call sites: whether a DoFn gets the
    window and timestamp follows its ``process`` signature.
    """
    return _drive(fn, elements, window=window, timestamp=timestamp)
