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

**Bounded memory.**  A file's rows can be far more than a worker's memory
(a whole day of one language with ``--num-shards 1``), and a runner may
hand a grouped value to the DoFn as one list (the DirectRunner does).  So
the rows never meet under one key: an external sort does.

1. ``SpillRuns``, where the rows are (fused with the stage before): each
   DoFn instance buffers up to ``rows_in_memory`` rows, sorts them per file
   and writes each file's share as a sorted *run* under
   ``OUTPUT/_runs/<dataset>/``, outside the dataset's directory (a reader's
   ``DATASET/**/*.parquet`` glob never sees one, and Spark and pyarrow skip
   ``_`` names), then emits only a reference to it.
2. ``GroupByFile`` groups the references: a few hundred bytes per run.
3. ``WriteFile`` merges a file's runs (a heap merge, reading each a few
   rows at a time), writes the file in row groups of ``ROW_GROUP_ROWS`` (or
   ``ROW_GROUP_BYTES``, for long texts) as rows come out of the merge, as
   Beam's own ``parquetio`` writes row groups as records arrive, and
   deletes the runs.  A reader of a run costs about a megabyte whatever it
   reads (column readers and decoded pages), so at most ``FAN_IN`` runs are
   read at once: when a file has more, consecutive groups of them are first
   merged into longer runs in a local temporary directory, pass after pass
   (a classic external merge sort); a stable merge of consecutive groups
   orders ties exactly as one merge of all runs would.

Memory stays at about one buffer of rows, ``FAN_IN`` run readers and one
row group, whatever the size of a file.  Row-group boundaries depend only
on the sorted rows, never on how they were split into runs, so files stay
byte-identical; a file of one row group is byte for byte what
``pyarrow.parquet.write_table`` writes.
Runs a failed bundle left behind are swept by the next start (``prepare``)
once they are a day old.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import heapq
import itertools
import logging
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any, BinaryIO, Container, Iterable, Iterator, Sequence
from urllib.parse import quote

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils.windowed_value import WindowedValue

from transforms.lib import outcomes
from transforms.lib.datasets import Dataset
from transforms.lib.state_dir import atomic_write, atomic_write_named, is_local
from transforms.sinks import Commit, CommittedRows, Sink, window_tag

_LOG = logging.getLogger(__name__)
ROW_GROUP_ROWS = 5000
# ... or fewer: a row group ends once its Arrow batches hold this much (about
# 2,500 articles; 5,000 took 30 MB as Arrow and 50 MB to write).
ROW_GROUP_BYTES = 16 * 1024 * 1024
# Rows a worker sorts in memory before it spills them as a run: about 20 MB
# of article rows (row dicts take about 19 KB per article).
ROWS_IN_MEMORY = 1000
BATCH_ROWS = 500  # rows converted to one Arrow batch at a time
COMPRESSION = "zstd"
DIGEST_CHARS = 12
RUNS_DIR = "_runs"
STALE_RUN_SECONDS = 24 * 3600.0
RUN_READ_BUFFER = 64 * 1024
# Runs read at once by a merge (more are merged in passes), and the rows of
# a run's row groups: a reader decodes one row group's pages at a time.
FAN_IN = 16
RUN_GROUP_ROWS = 100
MERGE_READ_ROWS = 256  # rows decoded at once across the runs of a merge


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
                 row_group_rows: int = ROW_GROUP_ROWS, fan_in: int = FAN_IN,
                 row_group_bytes: int = ROW_GROUP_BYTES):
        self._dataset = dataset
        self._schema = dataset.file_schema
        self._limit = max(1, rows_in_memory)
        self._group = max(1, row_group_rows)
        self._group_bytes = max(1, row_group_bytes)
        self._fan_in = max(2, fan_in)
        self._buffer: list[dict[str, Any]] = []
        self._spills: list[str] = []
        self._spill_dir: str | None = None
        self._runs: list[str] = []  # sorted runs written elsewhere (SpillRuns)
        self.rows = 0
        self.digest = ""

    def add_run(self, path: str, rows: int) -> None:
        """Merge a sorted run another worker wrote (``write_run``)."""
        self._runs.append(path)
        self.rows += rows

    def add(self, record: Any) -> None:
        self._buffer.append(self._dataset.row(record))
        self.rows += 1
        if len(self._buffer) >= self._limit:
            self._spill()

    def _spill(self) -> None:
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="newsbeam-sort-")
        path = os.path.join(self._spill_dir, f"run-{len(self._spills):05d}.parquet")
        write_run(self._dataset, self._buffer, path)
        self._spills.append(path)
        self._buffer = []

    def _sorted_rows(self) -> Iterator[dict[str, Any]]:
        self._buffer.sort(key=self._dataset.sort_key)
        paths = self._spills + self._runs
        if not paths:
            yield from self._buffer
            return
        # One reader for the in-memory buffer's rows, the rest for runs.
        while len(paths) > self._fan_in - 1:
            paths = [self._merge_into_run(paths[i:i + self._fan_in])
                     for i in range(0, len(paths), self._fan_in)]
        yield from heapq.merge(*self._readers(paths), iter(self._buffer),
                               key=self._dataset.sort_key)

    def _readers(self, paths: list[str]) -> list[Iterator[dict[str, Any]]]:
        # Each run is read a few rows at a time: all runs together hold about
        # MERGE_READ_ROWS decoded rows (row dicts take about 19 KB an article).
        batch = max(8, min(self._limit, MERGE_READ_ROWS) // len(paths))
        return [_read_run(path, batch) for path in paths]

    def _merge_into_run(self, paths: list[str]) -> str:
        """One pass of the external merge: ``paths`` (consecutive runs)
        merged into one local run, written a batch at a time."""
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="newsbeam-sort-")
        path = os.path.join(self._spill_dir, f"merged-{uuid.uuid4().hex}.parquet")
        merged = heapq.merge(*self._readers(paths), key=self._dataset.sort_key)
        with pq.ParquetWriter(path, self._schema, compression="none") as writer:
            while rows := list(itertools.islice(merged, RUN_GROUP_ROWS)):
                writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=self._schema))
        for done in paths:  # an intermediate run is read once
            if done.startswith(self._spill_dir):
                os.remove(done)
        return path

    def write_to(self, handle: BinaryIO) -> None:
        """Write the file: row groups of ``row_group_rows`` sorted rows.
        ``digest`` names the rows written, once this returns."""
        digest = hashlib.sha256()
        with pq.ParquetWriter(handle, self._schema, compression=COMPRESSION) as writer:
            # A row group is gathered as Arrow batches (columnar, a third
            # of the size of row dicts), never as one list of rows.
            # A group ends at ``row_group_rows`` rows or, at a batch's end,
            # once its batches hold ``row_group_bytes``: both depend only on
            # the sorted rows, so the file's bytes do too.
            batches: list[pa.RecordBatch] = []
            rows: list[dict[str, Any]] = []
            gathered = gathered_bytes = 0
            for row in self._sorted_rows():
                digest.update(repr(self._dataset.sort_key(row)).encode("utf-8"))
                digest.update(repr(self._dataset.digest_key(row)).encode("utf-8"))
                rows.append(row)
                gathered += 1
                if len(rows) >= BATCH_ROWS or gathered >= self._group:
                    batch = pa.RecordBatch.from_pylist(rows, schema=self._schema)
                    batches.append(batch)
                    gathered_bytes += batch.nbytes
                    rows = []
                    if gathered >= self._group or gathered_bytes >= self._group_bytes:
                        writer.write_table(pa.Table.from_batches(batches, schema=self._schema),
                                           row_group_size=self._group)
                        batches, gathered, gathered_bytes = [], 0, 0
            if rows:
                batches.append(pa.RecordBatch.from_pylist(rows, schema=self._schema))
            if batches or self.rows == 0:
                writer.write_table(pa.Table.from_batches(batches, schema=self._schema),
                                   row_group_size=self._group)
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
    # Buffered reads: a run's column chunks are decoded page by page, never
    # loaded whole; local runs are read natively, others through Beam.
    if is_local(path):
        yield from _rows(pq.ParquetFile(path, buffer_size=RUN_READ_BUFFER), batch_rows)
        return
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        yield from _rows(pq.ParquetFile(handle, buffer_size=RUN_READ_BUFFER), batch_rows)


def _rows(run: pq.ParquetFile, batch_rows: int) -> Iterator[dict[str, Any]]:
    for batch in run.iter_batches(batch_size=batch_rows):
        yield from batch.to_pylist()


@dataclasses.dataclass(frozen=True)
class RunRef:
    """A sorted run of one file's rows, written by ``SpillRuns``."""

    path: str
    rows: int


def write_run(dataset: Dataset, rows: list[dict[str, Any]], path: str) -> None:
    """``rows`` sorted in the dataset's order, as an uncompressed run file."""
    rows.sort(key=dataset.sort_key)
    table = pa.Table.from_pylist(rows, schema=dataset.file_schema)
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        pq.write_table(table, handle, compression="none", row_group_size=RUN_GROUP_ROWS)


class _SpillRunsFn(beam.DoFn):
    """Rows in; references to sorted runs, one per (window, file) and spill, out.

    At most ``rows_in_memory`` rows are held, across all the files and
    windows of a bundle; a spill writes them all and the buffer starts over.
    """

    def __init__(self, dataset: Dataset, runs_root: str, run_tag: str, num_shards: int,
                 rows_in_memory: int):
        self._dataset = dataset
        self._runs_root = runs_root
        self._run_tag = run_tag
        self._num_shards = num_shards
        self._limit = max(1, rows_in_memory)
        self._buffers: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
        self._held = 0

    def start_bundle(self) -> None:
        self._buffers, self._held = {}, 0

    def process(self, record: Any, window=beam.DoFn.WindowParam) -> Iterator[WindowedValue]:
        shard = shard_of(self._dataset.shard_key(record), self._num_shards)
        key = self._dataset.partition_values(record) + (f"{shard:05d}",)
        self._buffers.setdefault((window, key), []).append(self._dataset.row(record))
        self._held += 1
        if self._held >= self._limit:
            yield from self._spill()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        yield from self._spill()

    def _spill(self) -> Iterator[WindowedValue]:
        buffers, self._buffers, self._held = self._buffers, {}, 0
        for (window, key), rows in buffers.items():
            directory = FileSystems.join(self._runs_root, window_tag(window, self._run_tag))
            path = FileSystems.join(directory, f"{uuid.uuid4().hex}.parquet")
            write_run(self._dataset, rows, path)
            outcomes.count("parquet", f"{self._dataset.name}.runs")
            yield WindowedValue((key, RunRef(path, len(rows))), window.max_timestamp(),
                                (window,))


class _WriteFileFn(beam.DoFn):
    """One file's runs in; the file, merged from them, committed."""

    def __init__(self, dataset: Dataset, root: str, run_tag: str, rows_in_memory: int):
        self._dataset = dataset
        self._root = root
        self._run_tag = run_tag
        self._rows_in_memory = rows_in_memory

    def process(self, element: tuple[tuple[str, ...], Iterable[RunRef]],
                window=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam) -> Iterator[Commit]:
        key, refs = element
        *values, shard = key
        # Sorted: the merge's ties (rows equal in sort and digest key) must
        # not depend on the order the runner delivered the runs in.
        runs = sorted(refs, key=lambda ref: ref.path)
        directory = partition_dir(self._root, self._dataset, tuple(values))
        tag = window_tag(window, self._run_tag)
        # A window fires once on time; any later pane gets a name of its own.
        suffix = f"-p{pane.index}" if pane is not None and pane.index else ""
        prefix = f"part-{tag}-{shard}{suffix}-"
        rows = sum(ref.rows for ref in runs)
        if not any(FileSystems.exists(ref.path) for ref in runs):
            # A retry of a merge that committed and removed its runs.
            path = _committed_file(directory, prefix, rows)
        else:
            writer = SortedFileWriter(self._dataset, self._rows_in_memory)
            try:
                for ref in runs:
                    writer.add_run(ref.path, ref.rows)
                path = atomic_write_named(directory, writer.write_to,
                                          lambda: f"{prefix}{writer.digest}.parquet")
            finally:
                writer.close()
            FileSystems.delete([ref.path for ref in runs])
            _remove_if_empty({ref.path.rpartition("/")[0] for ref in runs})
        outcomes.count("parquet", f"{self._dataset.name}.files")
        _LOG.info("committed %d %s rows to %s", rows, self._dataset.name, path)
        yield Commit(self._dataset.name, path, rows, tag)


def _remove_if_empty(directories: set[str]) -> None:
    """A window's run directory, once its last file's merge removed the last
    run (local paths; object stores have no directories)."""
    for directory in sorted(directories):
        if is_local(directory):
            with contextlib.suppress(OSError):  # not empty yet, or already gone
                os.rmdir(directory)


def _committed_file(directory: str, prefix: str, rows: int) -> str:
    """The file an earlier attempt of this merge committed (its runs are
    gone); an error if there is none, since then rows would be lost."""
    matched = FileSystems.match([FileSystems.join(directory, f"{prefix}*.parquet")])[0]
    for meta in sorted(matched.metadata_list, key=lambda m: m.path):
        with FileSystems.open(meta.path) as handle:
            if pq.ParquetFile(handle).metadata.num_rows == rows:
                return meta.path
    raise FileNotFoundError(f"the runs of {directory}/{prefix}* are gone and no "
                            f"committed file holds their {rows} rows")


def runs_root_of(root: str) -> str:
    """Where the sort runs of the dataset at ``root`` go: ``_runs/<dataset>``
    beside it."""
    parent, _, name = root.rstrip("/").rpartition("/")
    return FileSystems.join(parent or ".", RUNS_DIR, name)


def sweep_stale_runs(runs_root: str, max_age: float = STALE_RUN_SECONDS,
                     now: float | None = None) -> int:
    """Remove runs older than ``max_age`` (left by failed bundles or killed
    runs; a live run's runs are younger).  Returns how many went."""
    now = time.time() if now is None else now
    pattern = FileSystems.join(runs_root, "*", "*.parquet")
    stale = [meta.path for meta in FileSystems.match([pattern])[0].metadata_list
             if now - (meta.last_updated_in_seconds or now) > max_age]
    if stale:
        FileSystems.delete(stale)
    return len(stale)


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
                | "SpillRuns" >> beam.ParDo(_SpillRunsFn(
                    self._dataset, runs_root_of(self._root), self._run_tag, self._num_shards,
                    self._rows_in_memory))
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
            swept = sweep_stale_runs(runs_root_of(self.location(dataset)))
            if swept:
                _LOG.info("removed %d stale sort runs of %s", swept, dataset.name)

    def write(self, dataset: Dataset, run_tag: str) -> beam.PTransform:
        return WriteParquet(dataset, self.location(dataset), run_tag, self.num_shards,
                            self.rows_in_memory)
