"""The Parquet sink: Hive-partitioned, zstd, atomic, byte-identical on rerun.

Records are grouped per window, partition and shard, and each group
becomes one file named after the window (the run, in batch) and a digest
of its rows, which are sorted by the dataset's total order: the same input
always produces byte-identical files under the same names, so a retried
bundle or a rerun replaces a file instead of adding a duplicate, and a run
whose rows differ (the feed changed between two attempts) writes a file of
its own instead of replacing one another attempt committed.  A file is
written under a dot-prefixed temporary name that no reader lists, then
renamed into place.

**Bounded memory.**  A group can be larger than a worker's memory (a whole
day of one language with ``--num-shards 1``).  Rows are written in row
groups of ``ROW_GROUP_ROWS`` as they come out of a sort, as Beam's own
``parquetio`` writes row groups as records arrive.  Up to
``rows_in_memory`` rows are sorted in memory; past that, sorted runs are
spilled to local temporary files and merged, so memory stays at about one
buffer of rows plus one row group.  Row-group boundaries depend only
on the sorted rows, never on arrival, so files stay byte-identical; a file
of one row group is byte for byte what ``pyarrow.parquet.write_table``
writes.
"""
from __future__ import annotations

import hashlib
import heapq
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from typing import Any, BinaryIO, Container, Iterable, Iterator, Sequence
from urllib.parse import quote

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.lib import outcomes
from transforms.lib.datasets import Dataset
from transforms.lib.state_dir import atomic_write, atomic_write_named
from transforms.sinks import Commit, CommittedRows, Sink, window_tag

_LOG = logging.getLogger(__name__)
ROW_GROUP_ROWS = 5000
ROWS_IN_MEMORY = 5000
COMPRESSION = "zstd"
DIGEST_CHARS = 12


def shard_of(key: str, num_shards: int) -> int:
    if num_shards <= 1:
        return 0
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def partition_dir(root: str, dataset: Dataset, values: tuple[str, ...]) -> str:
    parts = [f"{name}={quote(value, safe='')}"
             for name, value in zip(dataset.partitions, values, strict=True)]
    return FileSystems.join(root, *parts) if parts else root


def to_table(dataset: Dataset, records: list[Any]) -> pa.Table:
    return dataset.table(records)


def write_atomically(table: pa.Table, path: str) -> None:
    atomic_write(path, lambda handle: pq.write_table(table, handle, compression=COMPRESSION))


class SortedFileWriter:
    """Rows in any order in; one Parquet file with the rows in the dataset's
    order out, in bounded memory (see the module docstring)."""

    def __init__(self, dataset: Dataset, rows_in_memory: int = ROWS_IN_MEMORY,
                 row_group_rows: int = ROW_GROUP_ROWS):
        self._dataset = dataset
        self._schema = dataset.file_schema
        self._limit = max(1, rows_in_memory)
        self._group = max(1, row_group_rows)
        self._buffer: list[dict[str, Any]] = []
        self._spills: list[str] = []
        self._spill_dir: str | None = None
        self.rows = 0
        self.digest = ""

    def add(self, record: Any) -> None:
        self._buffer.append(self._dataset.row(record))
        self.rows += 1
        if len(self._buffer) >= self._limit:
            self._spill()

    def _spill(self) -> None:
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="newsbeam-sort-")
        path = os.path.join(self._spill_dir, f"run-{len(self._spills):05d}.parquet")
        self._buffer.sort(key=self._dataset.sort_key)
        pq.write_table(pa.Table.from_pylist(self._buffer, schema=self._schema), path,
                       compression="none")
        self._spills.append(path)
        self._buffer = []

    def _sorted_rows(self) -> Iterator[dict[str, Any]]:
        self._buffer.sort(key=self._dataset.sort_key)
        if not self._spills:
            yield from self._buffer
            return
        # Each run is read a few rows at a time, so all runs together hold
        # about as many rows as the in-memory buffer did.
        batch = max(8, self._limit // len(self._spills))
        runs = [_read_run(path, batch) for path in self._spills]
        yield from heapq.merge(*runs, iter(self._buffer), key=self._dataset.sort_key)

    def write_to(self, handle: BinaryIO) -> None:
        """Write the file: row groups of ``row_group_rows`` sorted rows.
        ``digest`` names the rows written, once this returns."""
        digest = hashlib.sha256()
        with pq.ParquetWriter(handle, self._schema, compression=COMPRESSION) as writer:
            group: list[dict[str, Any]] = []
            for row in self._sorted_rows():
                digest.update(repr(self._dataset.sort_key(row)).encode("utf-8"))
                digest.update(repr(self._dataset.digest_key(row)).encode("utf-8"))
                group.append(row)
                if len(group) >= self._group:
                    writer.write_table(pa.Table.from_pylist(group, schema=self._schema))
                    group = []
            if group or self.rows == 0:
                writer.write_table(pa.Table.from_pylist(group, schema=self._schema))
        self.digest = digest.hexdigest()[:DIGEST_CHARS]

    def close(self) -> None:
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None
        self._buffer = []


def _partition(path: str, root: str) -> str:
    """The first partition directory of a file under ``root``."""
    return path[len(root):].lstrip("/").split("/", 1)[0]


def _read_run(path: str, batch_rows: int) -> Iterator[dict[str, Any]]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield from batch.to_pylist()


class _KeyByFile(beam.DoFn):
    def __init__(self, dataset: Dataset, num_shards: int):
        self._dataset = dataset
        self._num_shards = num_shards

    def process(self, record: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
        shard = shard_of(self._dataset.shard_key(record), self._num_shards)
        yield (self._dataset.partition_values(record) + (f"{shard:05d}",), record)


class _WriteFileFn(beam.DoFn):
    def __init__(self, dataset: Dataset, root: str, run_tag: str, rows_in_memory: int):
        self._dataset = dataset
        self._root = root
        self._run_tag = run_tag
        self._rows_in_memory = rows_in_memory

    def process(self, element: tuple[tuple[str, ...], Iterable[Any]],
                window=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam) -> Iterator[Commit]:
        key, records = element
        *values, shard = key
        directory = partition_dir(self._root, self._dataset, tuple(values))
        tag = window_tag(window, self._run_tag)
        # A window fires once on time; any later pane gets a name of its own.
        suffix = f"-p{pane.index}" if pane is not None and pane.index else ""
        writer = SortedFileWriter(self._dataset, self._rows_in_memory)
        try:
            for record in records:
                writer.add(record)
            path = atomic_write_named(
                directory, writer.write_to,
                lambda: f"part-{tag}-{shard}{suffix}-{writer.digest}.parquet")
        finally:
            writer.close()
        outcomes.count("parquet", f"{self._dataset.name}.files")
        _LOG.info("committed %d %s rows to %s", writer.rows, self._dataset.name, path)
        yield Commit(self._dataset.name, path, writer.rows, tag)


class WriteParquet(beam.PTransform):
    """Records in, one committed file per (window, partition, shard) out."""

    def __init__(self, dataset: Dataset, root: str, run_tag: str, num_shards: int = 1,
                 rows_in_memory: int = ROWS_IN_MEMORY):
        super().__init__()
        self._dataset = dataset
        self._root = root
        self._run_tag = run_tag
        self._num_shards = num_shards
        self._rows_in_memory = rows_in_memory

    def expand(self, records: beam.PCollection[Any]) -> beam.PCollection[Commit]:
        return (records
                | "KeyByFile" >> beam.ParDo(_KeyByFile(self._dataset, self._num_shards))
                | "GroupByFile" >> beam.GroupByKey()
                | "WriteFile" >> beam.ParDo(_WriteFileFn(self._dataset, self._root,
                                                         self._run_tag, self._rows_in_memory)))


class ParquetSink(Sink):
    """Each dataset under ``OUTPUT/<dataset>/``, Hive-partitioned."""

    def __init__(self, output: str, num_shards: int = 1, rows_in_memory: int = ROWS_IN_MEMORY):
        self.output = output
        self.num_shards = num_shards
        self.rows_in_memory = rows_in_memory

    def location(self, dataset: Dataset) -> str:
        return FileSystems.join(self.output, dataset.name)

    def committed(self, dataset: Dataset, since: datetime, columns: Sequence[str],
                  skip: Container[str] = ()) -> Iterator[CommittedRows]:
        """Files of ``dataset`` in partitions of ``since``'s day or later."""
        root = self.location(dataset)
        pattern = FileSystems.join(root, *(["*"] * len(dataset.partitions)), "part-*.parquet")
        day = f"{dataset.partitions[0]}={since.astimezone(UTC).strftime('%Y-%m-%d')}" \
            if dataset.partitions and dataset.partitions[0] == "ingest_date" else ""
        matched = FileSystems.match([pattern])[0].metadata_list
        for meta in sorted(matched, key=lambda m: m.path):
            name = meta.path[len(root):].lstrip("/")
            if name in skip or (day and _partition(meta.path, root) < day):
                continue
            with FileSystems.open(meta.path) as handle:
                table = pq.read_table(handle)
            present = [c for c in columns if c in table.schema.names]
            yield CommittedRows(name, table.select(present).to_pylist())

    def prepare(self, datasets: Iterable[Dataset]) -> None:
        # Present even when a run writes no file to one of them, so that
        # ``pyarrow.dataset(DIR/errors)`` reads an empty dataset, not an error.
        for dataset in datasets:
            if not FileSystems.exists(self.location(dataset)):
                FileSystems.mkdirs(self.location(dataset))

    def write(self, dataset: Dataset, run_tag: str) -> beam.PTransform:
        return WriteParquet(dataset, self.location(dataset), run_tag, self.num_shards,
                            self.rows_in_memory)
