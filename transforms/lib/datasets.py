"""The two datasets newsbeam writes, described once for every sink.

A :class:`Dataset` says how a record type is laid out (its Arrow schema,
its partition columns and values), in which order its rows go (a total
order, so files are the same whatever the arrival order), how rows spread
over shards, which counters each row feeds, and which article id it
carries.  Sinks, the row counters and the commit step all read it from
here; no module names a dataset by a string literal.
"""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, Callable, Iterable

import pyarrow as pa

import schemas
from schemas.arrow import file_schema


@dataclasses.dataclass(frozen=True)
class Dataset:
    """How one record type is laid out, ordered, sharded and counted."""

    name: str
    schema: pa.Schema
    partitions: tuple[str, ...]
    partition_values: Callable[[Any], tuple[str, ...]]
    sort_key: Callable[[dict[str, Any]], Any]  # on a row (see ``rows``), a total order
    # What, besides the sort key, tells two rows apart for a file's name
    # digest (a row's content, when the sort key is only its id).
    digest_key: Callable[[dict[str, Any]], Any]
    shard_key: Callable[[Any], str]
    metric_labels: Callable[[Any], Iterable[str]]
    record_id: Callable[[Any], str | None]

    @property
    def file_schema(self) -> pa.Schema:
        """The schema inside one data file: partition columns live in paths."""
        return file_schema(self.schema, self.partitions)

    def row(self, record: Any) -> dict[str, Any]:
        """A record as the plain dict ``pa.Table.from_pylist`` expects, without
        the partition columns."""
        names = set(self.file_schema.names)
        return {k: v for k, v in schemas.to_arrow_rows(record).items() if k in names}

    def rows(self, records: Iterable[Any]) -> list[dict[str, Any]]:
        return [self.row(r) for r in records]

    def table(self, records: Iterable[Any]) -> pa.Table:
        return pa.Table.from_pylist(self.rows(records), schema=self.file_schema)


def day(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def _article_partitions(article: schemas.Article) -> tuple[str, ...]:
    return (day(article.fetched_at), article.language)


def _article_sort(row: dict[str, Any]) -> Any:
    return row["id"]


def _article_digest(row: dict[str, Any]) -> Any:
    return (row["content_hash"], row["version"])


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
    return (day(dead.at),)


def _error_sort(row: dict[str, Any]) -> Any:
    # Every field, so two dead letters that differ anywhere have one order.
    return (row["stage"], row["url"], row["error_type"], row["feed_url"], row["message"],
            row["article_id"] or "", -1 if row["http_status"] is None else row["http_status"],
            -1 if row["attempts"] is None else row["attempts"], row["at"])


def _error_digest(row: dict[str, Any]) -> Any:
    return ()  # the sort key holds every field already


def _error_shard(dead: schemas.DeadLetter) -> str:
    return f"{dead.stage}\n{dead.url}"


def _error_labels(dead: schemas.DeadLetter) -> Iterable[str]:
    return (f"reason.{dead.stage}.{dead.error_type}",)


ARTICLES = Dataset("articles", schemas.ARTICLE_SCHEMA, schemas.ARTICLE_PARTITIONS,
                   _article_partitions, _article_sort, _article_digest, _article_shard,
                   _article_labels, _article_id)
ERRORS = Dataset("errors", schemas.DEAD_LETTER_SCHEMA, schemas.DEAD_LETTER_PARTITIONS,
                 _error_partitions, _error_sort, _error_digest, _error_shard, _error_labels,
                 _error_article_id)
DATASETS = (ARTICLES, ERRORS)
