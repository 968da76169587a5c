"""Stage 6: write records to Hive-partitioned Parquet, atomically.

Records are grouped per window, partition and shard, and each group
becomes one zstd-compressed file, sorted by a stable key and named after
the window: the same input always produces byte-identical files under the
same names, so a retried bundle or a rerun replaces a file instead of
adding a duplicate.  A file is written under a dot-prefixed temporary name
that no reader lists, then renamed into place, so readers see either the
whole file or nothing.  Grouping per window is what lets the same writer
commit one set of files per window in streaming.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow, IntervalWindow

import schemas
from schemas.arrow import file_schema
from transforms import outcomes
from transforms.state_dir import atomic_write

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """How one record type is laid out on disk and counted."""

    name: str
    schema: pa.Schema
    partitions: tuple[str, ...]
    partition_values: Callable[[Any], tuple[str, ...]]
    sort_key: Callable[[Any], Any]
    shard_key: Callable[[Any], str]
    metric_labels: Callable[[Any], Iterable[str]]
    record_id: Callable[[Any], str | None]


@dataclasses.dataclass(frozen=True)
class WrittenFile:
    dataset: str
    path: str
    rows: int
    window: str = ""


def _day(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def _article_partitions(article: schemas.Article) -> tuple[str, ...]:
    return (_day(article.fetched_at), article.language)


def _article_sort(article: schemas.Article) -> Any:
    return article.id


def _article_shard(article: schemas.Article) -> str:
    return article.id


def _article_labels(article: schemas.Article) -> Iterable[str]:
    return (f"language.{article.language}", f"source.{article.source}",
            f"method.{article.extraction_method}")


def _article_id(article: schemas.Article) -> str | None:
    return article.id


def _error_article_id(dead: schemas.DeadLetter) -> str | None:
    return dead.article_id


def _error_partitions(dead: schemas.DeadLetter) -> tuple[str, ...]:
    return (_day(dead.at),)


def _error_sort(dead: schemas.DeadLetter) -> Any:
    return (dead.stage, dead.url, dead.error_type, dead.feed_url, dead.message)


def _error_shard(dead: schemas.DeadLetter) -> str:
    return f"{dead.stage}\n{dead.url}"


def _error_labels(dead: schemas.DeadLetter) -> Iterable[str]:
    return (f"reason.{dead.stage}.{dead.error_type}",)


ARTICLES = Dataset("articles", schemas.ARTICLE_SCHEMA, schemas.ARTICLE_PARTITIONS,
                   _article_partitions, _article_sort, _article_shard, _article_labels,
                   _article_id)
ERRORS = Dataset("errors", schemas.DEAD_LETTER_SCHEMA, schemas.DEAD_LETTER_PARTITIONS,
                 _error_partitions, _error_sort, _error_shard, _error_labels,
                 _error_article_id)


def window_tag(window: Any, run_tag: str) -> str:
    """A file-name part identifying the window (the run, for batch)."""
    if isinstance(window, IntervalWindow):
        start = window.start.to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")
        end = window.end.to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")
        return f"{start}-{end}"
    if isinstance(window, GlobalWindow) or window is None:
        return run_tag
    return hashlib.sha256(repr(window).encode()).hexdigest()[:16]


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
    schema = file_schema(dataset.schema, dataset.partitions)
    names = set(schema.names)
    rows = [{k: v for k, v in schemas.to_arrow_rows(r).items() if k in names} for r in records]
    return pa.Table.from_pylist(rows, schema=schema)


def write_atomically(table: pa.Table, path: str) -> None:
    atomic_write(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


class _KeyByFile(beam.DoFn):
    def __init__(self, dataset: Dataset, num_shards: int):
        self._dataset = dataset
        self._num_shards = num_shards

    def process(self, record: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
        shard = shard_of(self._dataset.shard_key(record), self._num_shards)
        yield (self._dataset.partition_values(record) + (f"{shard:05d}",), record)


def write_ids(ids: list[str], path: str) -> None:
    """The article ids a committed file holds, for the streaming seen store."""
    atomic_write(path, json.dumps(sorted(set(ids))).encode("utf-8"))


class _WriteFileFn(beam.DoFn):
    def __init__(self, dataset: Dataset, root: str, run_tag: str, ids_dir: str | None):
        self._dataset = dataset
        self._root = root
        self._run_tag = run_tag
        self._ids_dir = ids_dir

    def process(self, element: tuple[tuple[str, ...], Iterable[Any]],
                window=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam) -> Iterator[WrittenFile]:
        key, records = element
        *values, shard = key
        ordered = sorted(records, key=self._dataset.sort_key)
        directory = partition_dir(self._root, self._dataset, tuple(values))
        tag = window_tag(window, self._run_tag)
        # A window fires once on time; any later pane gets a name of its own.
        suffix = f"-p{pane.index}" if pane is not None and pane.index else ""
        name = f"part-{tag}-{shard}{suffix}.parquet"
        path = FileSystems.join(directory, name)
        write_atomically(to_table(self._dataset, ordered), path)
        if self._ids_dir:
            ids = [i for i in map(self._dataset.record_id, ordered) if i]
            label = "-".join([self._dataset.name, *values, name[:-len(".parquet")]])
            write_ids(ids, FileSystems.join(self._ids_dir, f"{label}.json"))
        for record in ordered:
            for label in self._dataset.metric_labels(record):
                outcomes.count(self._dataset.name, label)
        outcomes.count("write", f"{self._dataset.name}.rows", len(ordered))
        outcomes.count("write", f"{self._dataset.name}.files")
        _LOG.info("committed %d %s rows to %s", len(ordered), self._dataset.name, path)
        yield WrittenFile(self._dataset.name, path, len(ordered), tag)


class WriteParquet(beam.PTransform):
    """Records in, one committed file per (window, partition, shard) out.

    With ``ids_dir``, the ids of each file's records are written next to it
    once the file is committed: the streaming job's seen store, which tells
    a restarted job exactly what is already in the lake.
    """

    def __init__(self, dataset: Dataset, root: str, run_tag: str, num_shards: int = 1,
                 ids_dir: str | None = None):
        super().__init__()
        self._dataset = dataset
        self._root = root
        self._run_tag = run_tag
        self._num_shards = num_shards
        self._ids_dir = ids_dir

    def expand(self, records: beam.PCollection[Any]) -> beam.PCollection[WrittenFile]:
        return (records
                | "KeyByFile" >> beam.ParDo(_KeyByFile(self._dataset, self._num_shards))
                | "GroupByFile" >> beam.GroupByKey()
                | "WriteFile" >> beam.ParDo(_WriteFileFn(self._dataset, self._root,
                                                         self._run_tag, self._ids_dir)))
