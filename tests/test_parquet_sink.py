"""The Parquet sink's writer: sorted rows, bounded memory, the same bytes.

Rows are sorted in memory up to a bound, spilled as sorted runs past it,
and merged into row groups of a fixed size, so that a file's bytes depend
only on its rows, never on their arrival order or on whether they spilled.
"""
from __future__ import annotations

import gc
import hashlib
import io
import os
import random
import tracemalloc
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Article, DeadLetter, RemovedLine
from transforms.lib.datasets import ARTICLES, ERRORS
from transforms.sinks import parquet
from transforms.sinks.parquet import FAN_IN, SortedFileWriter, write_atomically, write_run


def article(i: int, text_bytes: int = 200) -> Article:
    return Article(
        id=hashlib.sha256(str(i).encode()).hexdigest()[:32], url=f"https://x.example/{i}",
        feed_url="https://x.example/rss", source="x.example",
        fetched_at=datetime(2026, 11, 25, 12, tzinfo=UTC), text=f"Body {i} " + "w" * text_bytes,
        extraction_method="trafilatura", language="en", language_prob=0.9, word_count=2,
        title=f"Title {i}", authors=("A",), tags=("t",),
        published_at=datetime(2026, 11, 24, i % 24, tzinfo=UTC),
        boilerplate_removed=(RemovedLine("Share", "share:en"),), content_hash="h",
        feed_urls=("https://x.example/rss",))


def file_bytes(records, rows_in_memory: int, row_group_rows: int, dataset=ARTICLES,
               **options) -> bytes:
    writer = SortedFileWriter(dataset, rows_in_memory, row_group_rows, **options)
    try:
        for record in records:
            writer.add(record)
        handle = io.BytesIO()
        writer.write_to(handle)
        return handle.getvalue()
    finally:
        writer.close()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spilled_and_in_memory_files_are_byte_identical_in_any_order(seed):
    records = [article(i) for i in range(47)]
    random.Random(seed).shuffle(records)
    reference = file_bytes(sorted(records, key=lambda a: a.id), 1000, 10)
    assert file_bytes(records, 1000, 10) == reference          # sorted in memory
    assert file_bytes(records, 4, 10) == reference             # 12 spilled runs, merged
    assert file_bytes(records, 4, 10, fan_in=3) == reference   # merged 3 at a time, 3 passes
    table = pq.read_table(io.BytesIO(reference))
    assert table.column("id").to_pylist() == sorted(a.id for a in records)
    assert pq.ParquetFile(io.BytesIO(reference)).metadata.num_row_groups == 5


def test_one_row_group_is_exactly_what_write_table_writes(tmp_path):
    records = [article(i) for i in range(30)]
    write_atomically(ARTICLES.table(sorted(records, key=lambda a: a.id)),
                     str(tmp_path / "old.parquet"))
    assert file_bytes(records, 7, 5000) == (tmp_path / "old.parquet").read_bytes()


def test_dead_letters_that_tie_on_most_fields_still_have_one_order():
    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    letters = [DeadLetter(stage="fetch", url="u", feed_url="f", error_type="http_500",
                          message="HTTP 500", at=at, http_status=500, attempts=n,
                          article_id=f"id{n % 3}") for n in range(9)]
    orders = {file_bytes(random.Random(s).sample(letters, len(letters)), 2, 4, ERRORS)
              for s in range(5)}
    assert len(orders) == 1


def test_memory_is_bounded_by_the_buffer_not_by_the_file():
    """20 MB of rows through a writer that keeps 100 in memory: the Python
    heap peaks far below the data (pyarrow's own buffers are not counted,
    the row dicts that used to be held all at once are)."""
    def peak(rows_in_memory: int) -> int:
        gc.collect()
        tracemalloc.start()
        file_bytes((article(i, 10_000) for i in range(2000)), rows_in_memory, 100)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    bounded, unbounded = peak(100), peak(10_000)
    assert bounded < 8 * 1024 * 1024 < unbounded


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_split_into_runs_merges_to_the_bytes_of_one_sort(tmp_path_factory, data):
    """However the rows are split into sorted runs (by SpillRuns, on any
    number of workers, in any order), the merged file is byte for byte the
    file of one in-memory sort."""
    records = [article(i) for i in range(data.draw(st.integers(0, 40)))]
    order = data.draw(st.permutations(records))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=6)))
    parts = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    directory = tmp_path_factory.mktemp("runs")
    writer = SortedFileWriter(ARTICLES, rows_in_memory=7, row_group_rows=10,
                              fan_in=data.draw(st.integers(2, FAN_IN)))
    try:
        for n, part in enumerate(data.draw(st.permutations(parts))):
            path = str(directory / f"{n}.parquet")
            write_run(ARTICLES, [ARTICLES.row(r) for r in part], path)
            writer.add_run(path, len(part))
        handle = io.BytesIO()
        writer.write_to(handle)
    finally:
        writer.close()
    assert handle.getvalue() == file_bytes(sorted(records, key=lambda a: a.id), 1000, 10)


def test_a_merge_reads_at_most_fan_in_runs_at_once(tmp_path, monkeypatch):
    """60 runs of one file, merged 4 at a time: never more than 4 run readers
    are open (each costs about a megabyte), the file is the one-sort file,
    the intermediate runs are gone, and the given runs are left for the
    caller to delete once the file is committed."""
    records = [article(i) for i in range(180)]
    open_now, most = [0], [0]
    real = parquet._read_run

    def counted(path, batch_rows):
        open_now[0] += 1
        most[0] = max(most[0], open_now[0])
        try:
            yield from real(path, batch_rows)
        finally:
            open_now[0] -= 1
    monkeypatch.setattr(parquet, "_read_run", counted)
    writer = SortedFileWriter(ARTICLES, rows_in_memory=1000, row_group_rows=50, fan_in=4)
    runs = []
    for n in range(60):
        path = str(tmp_path / f"{n:02d}.parquet")
        write_run(ARTICLES, [ARTICLES.row(r) for r in records[n::60]], path)
        writer.add_run(path, 3)
        runs.append(path)
    try:
        handle = io.BytesIO()
        writer.write_to(handle)
        # 60 runs, then 15, then 4, then 1: only the last pass's run is left.
        assert len(os.listdir(writer._spill_dir)) == 1
        spill_dir = writer._spill_dir
    finally:
        writer.close()
    assert not os.path.exists(spill_dir)
    assert most[0] == 4
    assert handle.getvalue() == file_bytes(sorted(records, key=lambda a: a.id), 1000, 50)
    assert all(os.path.exists(path) for path in runs)


def test_long_texts_end_a_row_group_by_bytes_in_any_order():
    """1,200 rows of 5 KB texts (about 6 MB as Arrow): row groups end once
    their batches hold 4 MB, at a batch's end (500 rows), not at 5,000 rows;
    the bytes still do not depend on arrival order or spilling."""
    records = [article(i, 5_000) for i in range(1200)]
    shuffled = random.Random(3).sample(records, len(records))

    data = file_bytes(sorted(records, key=lambda a: a.id), 5000, 5000,
                      row_group_bytes=4 * 1024 * 1024)
    assert file_bytes(shuffled, 300, 5000, row_group_bytes=4 * 1024 * 1024) == data
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [1000, 200]
