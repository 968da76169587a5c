"""Last stage: count a dataset's rows, then hand them to the sink.

The counters the run summary reads (rows per dataset, articles per
language, source and method, dead letters per reason) are counted here,
before any sink, so every sink gets them without copying a line.  The sink
returns its commit records, which go on to the commit step; with a progress
directory the rows they hold are tallied there as well, for the launcher's
progress line (``transforms/lib/progress.py``).
"""
from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam

from transforms.lib import outcomes, progress
from transforms.lib.datasets import Dataset
from transforms.sinks import Commit, Sink

STAGE = "write"


class _CountRowsFn(beam.DoFn):
    def __init__(self, dataset: Dataset):
        self._dataset = dataset

    def process(self, record: Any) -> Iterator[Any]:
        for label in self._dataset.metric_labels(record):
            outcomes.count(self._dataset.name, label)
        outcomes.count(STAGE, f"{self._dataset.name}.rows")
        yield record


class _CountCommitsFn(beam.DoFn):
    def __init__(self, dataset: Dataset, progress_dir: str | None = None):
        self._dataset = dataset
        self._progress_dir = progress_dir
        self._tally = progress.ProgressTally(None)

    def setup(self) -> None:
        self._tally = progress.ProgressTally(self._progress_dir)

    def process(self, commit: Commit) -> Iterator[Commit]:
        outcomes.count(STAGE, f"{self._dataset.name}.commits")
        self._tally.add(progress.WRITTEN + self._dataset.name, commit.rows)
        yield commit

    def finish_bundle(self) -> None:
        self._tally.flush()

    def teardown(self) -> None:
        self._tally.close()


class WriteDataset(beam.PTransform):
    """One dataset's records in; the sink's commit records out."""

    def __init__(self, sink: Sink, dataset: Dataset, run_tag: str,
                 progress_dir: str | None = None):
        super().__init__()
        self._sink = sink
        self._dataset = dataset
        self._run_tag = run_tag
        self._progress_dir = progress_dir

    def expand(self, records: beam.PCollection[Any]) -> beam.PCollection[Commit]:
        return (records
                | "CountRows" >> beam.ParDo(_CountRowsFn(self._dataset))
                | "Sink" >> self._sink.write(self._dataset, self._run_tag)
                | "CountCommits" >> beam.ParDo(_CountCommitsFn(self._dataset, self._progress_dir)))
