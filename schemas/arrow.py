"""The Parquet schemas of the two datasets newsbeam writes.

Each record type in :mod:`schemas.records` maps to exactly one schema here,
field for field and in the same order; ``schemas/schemas_test.py`` keeps the
two in step.  Partition columns live only in the directory names (Hive
style), never inside the files: Spark refuses a dataset whose partition
column is also a data column.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("feed_url", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("fetched_at", UTC_MICROS, nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("extraction_method", pa.string(), nullable=False),
        pa.field("final_url", pa.string()),
        pa.field("guid", pa.string()),
        pa.field("sitename", pa.string()),
        pa.field("title", pa.string()),
        pa.field("authors", pa.list_(pa.string()), nullable=False),
        pa.field("published_at", UTC_MICROS),
        pa.field("language", pa.string(), nullable=False),
        pa.field("language_prob", pa.float64(), nullable=False),
        pa.field("word_count", pa.int32(), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False),
        pa.field("categories", pa.list_(pa.string()), nullable=False),
        pa.field("image", pa.string()),
        pa.field("description", pa.string()),
        pa.field(
            "boilerplate_removed",
            pa.list_(pa.struct([pa.field("line", pa.string(), nullable=False),
                                pa.field("reason", pa.string(), nullable=False)])),
            nullable=False,
        ),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
        # New columns go last, so readers that match columns by position
        # still read older files (README, "Reading several schema versions").
        pa.field("feed_urls", pa.list_(pa.string()), nullable=False),
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("version", pa.int16(), nullable=False),
        pa.field("previous_content_hash", pa.string()),
    ],
    metadata={"newsbeam.dataset": "articles"},
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("feed_url", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("at", UTC_MICROS, nullable=False),
        pa.field("http_status", pa.int16()),
        pa.field("article_id", pa.string()),
        pa.field("attempts", pa.int16()),
    ],
    metadata={"newsbeam.dataset": "errors"},
)

# Directory partitions, outermost first.  ``ingest_date`` is the UTC date of
# ``fetched_at`` (resp. ``at``): bounded cardinality, always present and
# monotonic, so scheduled jobs can prune and compact by day.  Articles are
# also split by ``language`` because nearly every consumer filters on it.
ARTICLE_PARTITIONS = ("ingest_date", "language")
DEAD_LETTER_PARTITIONS = ("ingest_date",)


def file_schema(schema: pa.Schema, partitions: Iterable[str]) -> pa.Schema:
    """The schema of one data file: the dataset schema minus partition columns."""
    names = set(partitions)
    return pa.schema([f for f in schema if f.name not in names], metadata=schema.metadata)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def to_arrow_rows(record: Any) -> dict[str, Any]:
    """A record as the plain dict that ``pa.Table.from_pylist`` expects."""
    return _plain(record)
