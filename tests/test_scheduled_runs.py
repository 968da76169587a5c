"""`newsbeam ingest` run on a schedule, into one lake: every story once.

Three hourly runs over two sites whose feeds change between runs
(devsite/scheduled_site.py): items are added, removed and edited; one story
sits at four URLs of its site, one is republished at a new URL, one is
syndicated to a second site.  After each run the lake holds every story
exactly once as a first copy, every other copy marked ``duplicate_of`` it,
the update policy applied, and every paragraph of every copy.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pyarrow.dataset as ds
import pytest

from devsite.scheduled_site import LIBRARY_URLS, ScheduledSites, body
from tests.conftest import NETGUARD, REPO, run_cli

RUN_TIMES = ("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z", "2026-11-30T12:00:00Z")
FLAGS = ["--allow-private-networks", "--read-timeout", "2", "--total-timeout", "4"]
FIRST_COPIES = {1: {"council", "harbour", "library", "flood", "bridge"},
                2: {"museum"}, 3: {"festival"}}


@pytest.fixture()
def sites():
    running = ScheduledSites().start()
    yield running
    running.stop()


def ingest(sites: ScheduledSites, lake, run: int, *extra: str, fetched_at: str | None = None):
    sites.run = run
    feeds = lake.parent / "feeds.txt"
    feeds.write_text("\n".join(sites.feeds()) + "\n")
    result = run_cli("--feeds", str(feeds), "--output", str(lake), *FLAGS,
                     "--fetched-at", fetched_at or RUN_TIMES[run - 1], *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def rows(lake) -> list[dict]:
    path = lake / "articles"
    if not path.exists() or not any(path.rglob("*.parquet")):
        return []
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist()


def story_of(row: dict) -> str:
    """The fixture story a row tells, from its first paragraph."""
    return re.search(r"the (\w+) plan had cleared", row["text"]).group(1)


def check_lake(lake, runs: int) -> list[dict]:
    """The invariants every lake must hold after ``runs`` runs."""
    table = rows(lake)
    ids = [r["id"] for r in table]
    assert len(ids) == len(set(ids)), "an article was written twice"
    firsts = [r for r in table if r["duplicate_of"] is None]
    expected = set().union(*(FIRST_COPIES[n] for n in range(1, runs + 1)))
    assert sorted(story_of(r) for r in firsts) == sorted(expected), "every story once"
    by_id = {r["id"]: r for r in table}
    for row in table:
        assert row["story_id"] == (row["duplicate_of"] or row["id"])
        if row["duplicate_of"]:
            assert by_id[row["duplicate_of"]]["duplicate_of"] is None
            assert story_of(by_id[row["duplicate_of"]]) == story_of(row)
        # No paragraph lost: every paragraph of the story's page is in the row.
        story = story_of(row)
        paragraphs = row["text"].split("\n\n")
        wanted = body(story)[:-1] if "National" in (row["sitename"] or "") else body(story)
        for paragraph in wanted[3:8]:  # the short 4th and 8th included
            if story == "harbour" and "corrected" in row["text"]:
                continue
            assert paragraph in paragraphs, (story, row["url"], paragraph)
    return table


def test_three_scheduled_runs_write_every_story_once(sites, tmp_path):
    lake = tmp_path / "lake"
    ingest(sites, lake, 1)
    first = check_lake(lake, 1)
    library = [r for r in first if story_of(r) == "library"]
    assert sorted(r["url"] for r in library) == sorted(sites.main.url(u) for u in LIBRARY_URLS)
    assert sum(r["duplicate_of"] is None for r in library) == 1
    flood = [r for r in first if story_of(r) == "flood"]
    assert len(flood) == 2 and {r["source"] for r in flood} == {
        f"127.0.0.1:{sites.main.port}", f"127.0.0.1:{sites.wire.port}"}

    ingest(sites, lake, 2)
    second = check_lake(lake, 2)
    new = {r["url"] for r in second} - {r["url"] for r in first}
    assert new == {sites.main.url("/news/bridge-repairs-begin"), sites.main.url("/news/museum")}
    republished = next(r for r in second if r["url"].endswith("bridge-repairs-begin"))
    original = next(r for r in second if r["url"].endswith("/news/bridge"))
    assert republished["duplicate_of"] == original["id"]
    # --on-update skip (the default): the edited harbour story is not written again.
    assert [r["version"] for r in second if story_of(r) == "harbour"] == [1]

    ingest(sites, lake, 3)
    third = check_lake(lake, 3)
    assert {r["url"] for r in third} - {r["url"] for r in second} == {
        sites.main.url("/news/festival")}


def test_version_policy_writes_an_edited_article_as_a_new_version(sites, tmp_path):
    lake = tmp_path / "lake"
    ingest(sites, lake, 1, "--on-update", "version")
    ingest(sites, lake, 2, "--on-update", "version")
    table = rows(lake)
    harbour = sorted((r for r in table if story_of(r) == "harbour"), key=lambda r: r["version"])
    assert [r["version"] for r in harbour] == [1, 2]
    assert harbour[1]["previous_content_hash"] == harbour[0]["content_hash"]
    assert "corrected on Tuesday" in harbour[1]["text"]
    assert harbour[1]["story_id"] == harbour[0]["story_id"] == harbour[0]["id"]
    # Unchanged articles listed again are fetched and dropped: one row each.
    council = [r for r in table if story_of(r) == "council"]
    assert len(council) == 1


def test_a_retry_with_the_same_fetched_at_after_a_feed_change_loses_nothing(sites, tmp_path):
    """An Airflow retry: the same logical time, but the feed moved on."""
    lake = tmp_path / "lake"
    ingest(sites, lake, 1)
    before = {r["id"]: r for r in rows(lake)}
    ingest(sites, lake, 2, fetched_at=RUN_TIMES[0])  # the feed changed, the time did not
    after = {r["id"]: r for r in rows(lake)}
    assert set(before) <= set(after)
    for article_id, row in before.items():
        assert after[article_id]["content_hash"] == row["content_hash"]
    ingest(sites, lake, 2, fetched_at=RUN_TIMES[0])  # and once more: idempotent
    assert {r["id"] for r in rows(lake)} == set(after)


def _start(sites, lake, run: int) -> subprocess.Popen:
    sites.run = run
    feeds = lake.parent / "feeds.txt"
    feeds.write_text("\n".join(sites.feeds()) + "\n")
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.ingest", "--feeds", str(feeds), "--output", str(lake),
         *FLAGS, "--fetched-at", RUN_TIMES[run - 1]], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            return True
        time.sleep(0.02)
    process.wait(30)
    return False


def _files_of(lake, tag: str) -> list:
    return [p for p in (lake / "articles").rglob(f"part-{tag}-*.parquet")]


@pytest.mark.parametrize("moment", ["at-start", "while-fetching", "after-first-commit",
                                    "before-promotion"])
def test_kill_9_then_rerun_neither_loses_nor_duplicates(sites, tmp_path, moment):
    lake = tmp_path / "lake"
    ingest(sites, lake, 1)
    tag = "20261130T110000Z"
    process = _start(sites, lake, 2)
    started = time.monotonic()
    pending = lake / "_state" / "pending" / f"feeds-{tag}.jsonl"
    ready = {
        "at-start": lambda: time.monotonic() - started > 0.3,
        "while-fetching": lambda: any(r.path.startswith("/news/museum")
                                      for r in sites.main.requests),
        "after-first-commit": lambda: bool(_files_of(lake, tag)),
        # The pipeline is done (its feed states are pending), the launcher has
        # not promoted them nor recorded the run's commits.
        "before-promotion": pending.exists,
    }[moment]
    assert _kill_when(process, ready), f"the run ended before {moment}"
    assert not list(lake.rglob(".*.tmp")), "a temporary file is visible"
    ingest(sites, lake, 2)   # the scheduler's next attempt
    check_lake(lake, 2)
    ingest(sites, lake, 3)
    check_lake(lake, 3)


def test_stories_are_the_same_on_one_or_two_workers_and_in_any_order(sites, tmp_path):
    (tmp_path / "one").mkdir()
    ingest(sites, tmp_path / "one" / "lake", 1)
    sites.run = 1
    feeds = tmp_path / "two" / "feeds.txt"
    feeds.parent.mkdir()
    feeds.write_text("\n".join(reversed(sites.feeds())) + "\n")
    result = run_cli("--feeds", str(feeds), "--output", str(tmp_path / "two" / "lake"), *FLAGS,
                     "--fetched-at", RUN_TIMES[0], "--direct_num_workers=2",
                     "--direct_running_mode=multi_processing")
    assert result.returncode == 0, result.stderr[-3000:]

    def stories(lake):
        return sorted((r["url"], r["story_id"], r["duplicate_of"]) for r in rows(lake))
    one, two = stories(tmp_path / "one" / "lake"), stories(tmp_path / "two" / "lake")
    assert one == two
    assert sum(d is not None for _, _, d in one) == 4  # three library copies, one flood copy
