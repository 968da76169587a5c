"""`newsbeam ingest` over thousands of feeds accounts for every feed and entry.

feedparser's own test suite (2,248 documents, tests/fixtures/feedparser-suite)
is unpacked four times under four folders, and the whole lot (8,992 feeds, as
local files) goes through one real run.  An outside run of this kind once
lost feeds without any record, when finished fetches fell between two
scans of the async DoFn.  Here every feed must have a state, every feed
outcome must be counted, and every entry parse_feed finds in a document
must end as an article or a dead letter, merged copies included.
"""
from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.conftest import FETCHED_AT, FETCHED_AT_FLAG, run_cli
from transforms.feeds import FeedProblem, parse_feed

SUITE = Path(__file__).parent / "fixtures" / "feedparser-suite" / "suite.tar.xz"
COPIES = 4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    locations = []
    with tarfile.open(SUITE, "r:xz") as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        for copy in range(COPIES):
            for member in members:
                path = root / f"copy{copy}" / member.name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.extractfile(member).read())
                locations.append(str(path))
    (root / "feeds.txt").write_text("\n".join(locations) + "\n")
    started = time.monotonic()
    result = run_cli("--feeds", str(root / "feeds.txt"), "--output", str(root / "lake"),
                     "--fetched-at", FETCHED_AT_FLAG, "--connect-timeout", "1",
                     "--total-timeout", "2", "--max-attempts", "1", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, sorted(locations), result, time.monotonic() - started


def rows(path: Path) -> list[dict]:
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist()


def test_every_feed_has_a_state_and_a_counted_outcome(run):
    root, locations, _, seconds = run
    states = [json.loads(line) for line in
              (root / "lake" / "_state" / "feeds.jsonl").read_text().splitlines()]
    assert sorted(s["url"] for s in states) == locations
    assert all(s["last_outcome"] in ("fetched", "failed") for s in states)
    summary = json.loads((root / "lake" / "run_summary.json").read_text())
    assert summary["feeds"] == len(locations)
    assert sum(summary["feeds_by_outcome"].values()) == len(locations)
    assert seconds < 300


def test_every_feed_that_failed_has_a_dead_letter(run):
    root, _, _, _ = run
    states = [json.loads(line) for line in
              (root / "lake" / "_state" / "feeds.jsonl").read_text().splitlines()]
    failed = {s["url"] for s in states if s["last_outcome"] == "failed"}
    dead = {r["url"] for r in rows(root / "lake" / "errors") if r["stage"] == "feed"}
    assert failed <= dead


def test_every_entry_ends_as_an_article_or_a_dead_letter(run):
    root, locations, _, _ = run
    expected: dict[str, set[str]] = {}
    for location in locations:
        try:
            parsed = parse_feed(Path(location).read_bytes(), location, FETCHED_AT)
        except FeedProblem:
            continue
        for entry in parsed.entries:
            expected.setdefault(entry.id, set()).add(location)
    articles = rows(root / "lake" / "articles")
    errors = rows(root / "lake" / "errors")
    ended = {a["id"] for a in articles} | {e["article_id"] for e in errors if e["article_id"]}
    assert set(expected) <= ended
    assert len({a["id"] for a in articles}) == len(articles)  # merged, not duplicated
    for article in articles:
        assert set(article["feed_urls"]) == expected[article["id"]]
    assert len(expected) > 30
