"""The Parquet writer: layout, atomicity, determinism, and what readers see."""
from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime

import apache_beam as beam
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from schemas import ARTICLE_SCHEMA, Article, DeadLetter, RemovedLine
from tests.conftest import FETCHED_AT
from transforms.lib.datasets import ARTICLES, ERRORS
from transforms.sinks.parquet import (
    RunRef,
    WriteParquet,
    _WriteFileFn,
    runs_root_of,
    sweep_stale_runs,
    to_table,
    write_atomically,
    write_run,
)


def article(i: int, language: str = "en", day: int = 25) -> Article:
    return Article(
        id=hashlib.sha256(str(i).encode()).hexdigest()[:32], url=f"https://x.example/{i}",
        feed_url="https://x.example/rss", source="x.example",
        fetched_at=datetime(2026, 11, day, 12, tzinfo=UTC), text=f"Body {i}.",
        extraction_method="trafilatura", language=language, language_prob=0.9, word_count=2,
        title=f"Title {i}", authors=("A",), tags=("t",),
        boilerplate_removed=(RemovedLine("Share", "share:en"),), content_hash="h")


def dead(i: int) -> DeadLetter:
    return DeadLetter(stage="fetch", url=f"https://x.example/{i}", feed_url="f",
                      error_type="http_404", message="HTTP 404", at=FETCHED_AT, http_status=404)


def raw_files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, names in os.walk(root) for f in names)


def files(root) -> list[str]:
    """File names with the digest of their rows taken out (checked on its own)."""
    return [re.sub(r"-[0-9a-f]{12}\.parquet$", ".parquet", f) for f in raw_files(root)]


def write(records, root, dataset=ARTICLES, shards=1, rows_in_memory=5000):
    with TestPipeline() as p:
        written = (p | beam.Create(records)
                   | WriteParquet(dataset, str(root), "20261125T120000Z", shards,
                                  rows_in_memory))
        assert_that(written | beam.Map(lambda w: w.rows) | beam.CombineGlobally(sum),
                    equal_to([len(records)]))


def test_hive_layout_and_readers(tmp_path):
    records = [article(i, "en") for i in range(5)] + [article(i, "de", 26) for i in range(5, 8)]
    write(records, tmp_path / "articles")
    assert files(tmp_path / "articles") == [
        "ingest_date=2026-11-25/language=en/part-20261125T120000Z-00000.parquet",
        "ingest_date=2026-11-26/language=de/part-20261125T120000Z-00000.parquet"]
    table = ds.dataset(tmp_path / "articles", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 8
    assert set(ARTICLE_SCHEMA.names) | {"ingest_date"} == set(table.schema.names)
    con = duckdb.connect()
    rows = con.sql(f"select language, count(*) from read_parquet("
                   f"'{tmp_path}/articles/**/*.parquet', hive_partitioning=true) "
                   "group by 1 order by 1").fetchall()
    assert rows == [("de", 3), ("en", 5)]
    removed = con.sql(f"select boilerplate_removed[1].reason from read_parquet("
                      f"'{tmp_path}/articles/**/*.parquet') limit 1").fetchall()
    assert removed == [("share:en",)]


def test_files_are_zstd_sorted_and_without_partition_columns(tmp_path):
    write([article(i) for i in range(20)], tmp_path)
    (path,) = [os.path.join(tmp_path, f) for f in raw_files(tmp_path)]
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    table = pq.read_table(path)
    assert "language" not in table.schema.names and "ingest_date" not in table.schema.names
    ids = table.column("id").to_pylist()
    assert ids == sorted(ids)


def test_same_input_same_bytes_whatever_the_order(tmp_path):
    records = [article(i, ["en", "de", "sk"][i % 3]) for i in range(30)]
    write(records, tmp_path / "a", shards=3)
    write(list(reversed(records)), tmp_path / "b", shards=3)
    assert raw_files(tmp_path / "a") == raw_files(tmp_path / "b")
    for name in raw_files(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_file_is_named_after_its_rows_so_no_attempt_replaces_another(tmp_path):
    """A retry with the same rows replaces its file byte for byte; a retry whose
    rows differ (the feed changed between attempts) adds a file of its own,
    and the first attempt's rows stay in the lake."""
    first = [article(i) for i in range(4)]
    write(first, tmp_path)
    write(list(reversed(first)), tmp_path)
    assert len(raw_files(tmp_path)) == 1
    changed = first[1:] + [article(9)]
    write(changed, tmp_path)
    names = raw_files(tmp_path)
    assert len(names) == 2 and files(tmp_path)[0] == files(tmp_path)[1]
    ids = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()["id"]
    assert set(ids.to_pylist()) == {a.id for a in first + changed}


def test_dead_letters_dataset(tmp_path):
    write([dead(i) for i in range(3)], tmp_path, ERRORS)
    assert files(tmp_path) == ["ingest_date=2026-11-25/part-20261125T120000Z-00000.parquet"]
    table = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert table.column("error_type").to_pylist() == ["http_404"] * 3


def test_windowed_records_get_one_file_per_window(tmp_path):
    base = int(FETCHED_AT.timestamp())
    with TestPipeline() as p:
        (p | beam.Create([(article(i), base + i * 40) for i in range(6)])
         | beam.Map(lambda pair: TimestampedValue(*pair))
         | beam.WindowInto(FixedWindows(60))
         | WriteParquet(ARTICLES, str(tmp_path), "unused"))
    names = [os.path.basename(f) for f in files(tmp_path)]  # digests taken out
    assert names == ["part-20261125T120000Z-20261125T120100Z-00000.parquet",
                     "part-20261125T120100Z-20261125T120200Z-00000.parquet",
                     "part-20261125T120200Z-20261125T120300Z-00000.parquet",
                     "part-20261125T120300Z-20261125T120400Z-00000.parquet"]


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    table = to_table(ARTICLES, [article(1)])
    target = str(tmp_path / "d" / "part.parquet")

    def explode(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr("transforms.sinks.parquet.pq.write_table", explode)
    with pytest.raises(OSError):
        write_atomically(table, target)
    assert files(tmp_path) == []


def test_atomic_write_replaces_in_one_step(tmp_path):
    target = str(tmp_path / "part.parquet")
    write_atomically(to_table(ARTICLES, [article(1)]), target)
    write_atomically(to_table(ARTICLES, [article(1), article(2)]), target)
    assert pq.read_table(target).num_rows == 2
    assert files(tmp_path) == ["part.parquet"]


def test_spilled_runs_give_the_same_files_and_are_removed(tmp_path):
    """A partition far bigger than the rows a worker holds: written through
    sorted runs of 3 rows, byte for byte the files of one in-memory sort,
    and no run is left behind (nor was any under the dataset, where a
    reader's glob would find it)."""
    records = [article(i, "en" if i % 3 else "de") for i in range(40)]
    write(records, tmp_path / "small" / "articles", rows_in_memory=3)
    write(records, tmp_path / "big" / "articles", rows_in_memory=10_000)
    assert raw_files(tmp_path / "small" / "articles") == raw_files(tmp_path / "big" / "articles")
    for name in raw_files(tmp_path / "small" / "articles"):
        assert ((tmp_path / "small" / "articles" / name).read_bytes()
                == (tmp_path / "big" / "articles" / name).read_bytes())
    assert not (tmp_path / "small" / "_runs" / "articles" / "20261125T120000Z").exists()
    assert [p.name for p in tmp_path.rglob(".*")] == []  # no temporary left anywhere


def test_a_retried_merge_finds_the_file_its_first_attempt_committed(tmp_path):
    from apache_beam.transforms.window import GlobalWindow
    root = str(tmp_path / "articles")
    runs = []
    for part, ids in enumerate([range(0, 5), range(5, 9)]):
        path = f"{runs_root_of(root)}/run/{part}.parquet"
        write_run(ARTICLES, [ARTICLES.row(article(i)) for i in ids], path)
        runs.append(RunRef(path, len(ids)))
    fn = _WriteFileFn(ARTICLES, root, "20261125T120000Z", 5000)
    key = ("2026-11-25", "en", "00000")
    (first,) = fn.process((key, runs), GlobalWindow(), None)
    assert not any(os.path.exists(ref.path) for ref in runs)
    (again,) = fn.process((key, list(reversed(runs))), GlobalWindow(), None)
    assert again == first and first.rows == 9
    assert pq.read_table(first.location).num_rows == 9
    with pytest.raises(FileNotFoundError):  # rows that are nowhere: fail, never lose them
        list(fn.process((key, [RunRef(runs[0].path, 4)]), GlobalWindow(), None))


def test_stale_runs_are_swept_and_live_ones_kept(tmp_path):
    runs = runs_root_of(str(tmp_path / "articles"))
    for name in ("old", "new"):
        write_run(ARTICLES, [ARTICLES.row(article(1))], f"{runs}/tag/{name}.parquet")
    old = tmp_path / "_runs" / "articles" / "tag" / "old.parquet"
    os.utime(old, (1, 1))
    assert sweep_stale_runs(runs) == 1
    assert sorted(os.listdir(tmp_path / "_runs" / "articles" / "tag")) == ["new.parquet"]
