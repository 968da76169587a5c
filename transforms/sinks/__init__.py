"""Sinks: where a dataset's rows become durable.

Every sink implements :class:`Sink`: given a dataset (``transforms.lib.
datasets``) it returns a transform from that dataset's rows, in their
windows, to :class:`Commit` records, one per unit it made durable (a file,
a table snapshot).  Everything around a sink is shared and never copied
into one: the rows are checked (``transforms.rows``) and counted
(``transforms.write``) before it, and what it committed is recorded after it
(the launcher's promotion in batch, ``transforms.commits`` per window in
streaming).  A sink must write each window's rows atomically and
idempotently: a rerun or a retried bundle replaces, never adds; and it must
never replace a unit with different rows (units are named after what they
hold), so nothing committed is ever lost.

The Parquet sink (``transforms.sinks.parquet``) is the first one; a table
format (Iceberg, say) is a second module here and one option in
``pipelines/options.py``.
"""
from __future__ import annotations

import abc
import dataclasses
import hashlib
from datetime import datetime
from typing import Any, Container, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow, IntervalWindow

from transforms.lib.datasets import Dataset


@dataclasses.dataclass(frozen=True)
class CommittedRows:
    """Rows a sink holds, read back from one unit it committed."""

    # The unit's name within its dataset (a relative file path, a snapshot
    # id): the same for the same data wherever the lake is, so the state
    # that records it can be compared and moved with the lake.
    location: str
    rows: list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Commit:
    """One unit a sink made durable."""

    dataset: str   # Dataset.name
    location: str  # a file path, a snapshot id ...
    rows: int
    window: str    # window_tag(): the window, or the run in batch


class Sink(abc.ABC):
    """Where datasets go (see the module docstring)."""

    @abc.abstractmethod
    def write(self, dataset: Dataset, run_tag: str) -> beam.PTransform:
        """A transform: ``dataset``'s records in, :class:`Commit` records out.

        ``run_tag`` names what a batch run (the global window) writes, so a
        rerun with the same ``--fetched-at`` replaces it.
        """

    @abc.abstractmethod
    def location(self, dataset: Dataset) -> str:
        """Where readers find ``dataset`` (for the run summary)."""

    @abc.abstractmethod
    def committed(self, dataset: Dataset, since: datetime, columns: Sequence[str],
                  skip: Container[str] = ()) -> Iterator[CommittedRows]:
        """What the sink committed for ``dataset`` since ``since``, unit by
        unit, leaving out the units in ``skip``: the lake is the commit log
        that the seen store is reconciled with (``transforms/seen.py``)."""

    def prepare(self, datasets: Iterable[Dataset]) -> None:  # noqa: B027 - optional hook
        """Run once by the launcher, before the pipeline: create what readers
        need even when a run writes nothing (an empty dataset, a table)."""


def window_tag(window: Any, run_tag: str) -> str:
    """A name part identifying the window (the run, for batch)."""
    if isinstance(window, IntervalWindow):
        start = window.start.to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")
        end = window.end.to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")
        return f"{start}-{end}"
    if isinstance(window, GlobalWindow) or window is None:
        return run_tag
    return hashlib.sha256(repr(window).encode()).hexdigest()[:16]
