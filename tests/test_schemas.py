"""Keeps the record dataclasses and the Parquet schemas in step."""
from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime

import pyarrow as pa
import pytest

from schemas import (
    ARTICLE_PARTITIONS,
    ARTICLE_SCHEMA,
    DEAD_LETTER_PARTITIONS,
    DEAD_LETTER_SCHEMA,
    Article,
    DeadLetter,
    RemovedLine,
    to_arrow_rows,
)
from schemas import records as records_module

PAIRS = [(Article, ARTICLE_SCHEMA, ARTICLE_PARTITIONS),
         (DeadLetter, DEAD_LETTER_SCHEMA, DEAD_LETTER_PARTITIONS)]


def arrow_type(hint) -> pa.DataType:
    """The Arrow type a record field's annotation must map to."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if inner is RemovedLine:
            return pa.list_(pa.struct([pa.field("line", pa.string(), nullable=False),
                                       pa.field("reason", pa.string(), nullable=False)]))
        return pa.list_(arrow_type(inner))
    return {str: pa.string(), float: pa.float64(), datetime: pa.timestamp("us", tz="UTC")}[hint]


@pytest.mark.parametrize("record,schema,partitions", PAIRS)
def test_fields_match_in_name_and_order(record, schema, partitions):
    assert [f.name for f in dataclasses.fields(record)] == schema.names
    assert set(partitions) - {"ingest_date"} <= set(schema.names)


@pytest.mark.parametrize("record,schema,partitions", PAIRS)
def test_types_and_nullability_match(record, schema, partitions):
    hints = typing.get_type_hints(record, vars(records_module))
    for field in dataclasses.fields(record):
        arrow = schema.field(field.name)
        hint = hints[field.name]
        nullable = type(None) in typing.get_args(hint)
        assert arrow.nullable == nullable, field.name
        if hint is int or (nullable and int in typing.get_args(hint)):
            assert pa.types.is_integer(arrow.type), field.name
        else:
            assert arrow.type.equals(arrow_type(hint)), field.name


def test_a_full_record_converts_without_loss():
    from datetime import UTC
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    article = Article(id="a", url="u", feed_url="f", source="s", fetched_at=when, text="t",
                      extraction_method="trafilatura", authors=("x", "y"),
                      boilerplate_removed=(RemovedLine("Share", "share:en"),),
                      published_at=when, language="en", language_prob=0.99)
    table = pa.Table.from_pylist([to_arrow_rows(article)], schema=ARTICLE_SCHEMA)
    row = table.to_pylist()[0]
    assert row["authors"] == ["x", "y"]
    assert row["boilerplate_removed"] == [{"line": "Share", "reason": "share:en"}]
    assert row["published_at"] == when
