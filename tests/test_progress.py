"""Progress of a batch run: the DoFns' tallies, their sums, the rate, the lines."""
from __future__ import annotations

import io
import json
import re
import time

from devsite.server import Site, static
from pipelines.options import NewsbeamOptions
from pipelines.progress import (
    ProgressDisplay,
    RateMeter,
    RunProgress,
    Snapshot,
    render,
    snapshot,
    terminal_line,
)
from schemas import FeedEntry
from tests.conftest import FETCHED_AT
from tests.harness import drive
from transforms.feeds import ReadFeedFn
from transforms.fetch import FetchPageFn, host_key
from transforms.http.settings import FetchSettings
from transforms.lib import progress
from transforms.lib.datasets import ERRORS
from transforms.lib.progress import ProgressTally
from transforms.lib.state_dir import StateDir, seen_shard_of
from transforms.lib.urls import article_id
from transforms.seen import SkipSeenFn
from transforms.sinks import Commit
from transforms.write import _CountCommitsFn

SETTINGS = FetchSettings(allow_private_networks=True, read_timeout=1, total_timeout=2,
                         retry_budget=0, max_attempts=1)
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>a</title><link>https://news.example/a</link></item>
<item><title>b</title><link>https://news.example/b</link></item>
</channel></rss>"""


class Clock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def entry(url: str) -> FeedEntry:
    return FeedEntry(id=article_id(url), url=url, feed_url="https://x.example/rss",
                     fetched_at=FETCHED_AT)


def tally_files(directory) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


# The tally (worker side) ------------------------------------------------------

def test_a_tally_writes_at_most_once_a_second_and_on_flush(tmp_path):
    clock = Clock()
    tally = ProgressTally(str(tmp_path), clock=clock)
    tally.add(progress.PAGES)              # the first count is written at once
    assert tally_files(tmp_path) == [{"pages": 1}]
    clock.now += 0.5
    tally.add(progress.PAGES, 2)           # within the second: kept in memory
    assert tally_files(tmp_path) == [{"pages": 1}]
    clock.now += 0.6
    tally.add(progress.FEEDS)              # a second later: written, cumulative
    assert tally_files(tmp_path) == [{"pages": 3, "feeds": 1}]
    tally.add(progress.FEEDS)
    tally.flush()                          # a bundle's end writes the rest
    assert tally_files(tmp_path) == [{"pages": 3, "feeds": 2}]
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_a_tally_without_a_directory_does_nothing_and_never_recreates_one(tmp_path):
    ProgressTally(None).add(progress.PAGES)
    gone = tmp_path / "progress" / "run"
    tally = ProgressTally(str(gone))
    tally.add(progress.PAGES)              # the launcher removed it: the run ended
    tally.close()
    assert not gone.exists()


def test_tallies_sum_over_instances_and_leftovers_are_cleared(tmp_path):
    state = StateDir(str(tmp_path))
    (tmp_path / "progress" / "killed-run").mkdir(parents=True)
    (tmp_path / "progress" / "killed-run" / "x.json").write_text('{"pages": 7}')
    directory = state.start_progress("run")
    assert not (tmp_path / "progress" / "killed-run").exists()
    for pages in (2, 5):
        tally = ProgressTally(directory)
        tally.add(progress.PAGES, pages)
        tally.add(progress.FEEDS)
        tally.flush()
    (tmp_path / "progress" / "run" / "torn.json").write_text('{"pages": ')  # unreadable
    assert state.progress_counts("run") == {"pages": 7, "feeds": 2}
    state.clear_progress()
    assert not (tmp_path / "progress").exists()
    assert state.progress_counts("run") == {}


# The DoFns that tally -----------------------------------------------------------

def test_read_feeds_tallies_every_feed_read(tmp_path):
    local = tmp_path / "feed.xml"
    local.write_bytes(RSS)
    tallies = tmp_path / "progress"
    tallies.mkdir()
    fn = ReadFeedFn(SETTINGS, FETCHED_AT, progress_dir=str(tallies))
    entries, _ = drive(fn, [str(local), str(tmp_path / "missing.xml")])
    assert len(entries) == 2
    assert tally_files(tallies) == [{"feeds": 2}]


def test_skip_seen_tallies_the_entries_left_to_fetch(tmp_path):
    state = StateDir(str(tmp_path / "state"))
    old, new = entry("https://news.example/old"), entry("https://news.example/new")
    state.update_seen([(old.id, FETCHED_AT.timestamp(), "h", 1)], [],
                      FETCHED_AT.timestamp(), 3600, 10_000)
    tallies = tmp_path / "progress"
    tallies.mkdir()
    fn = SkipSeenFn(state.root, "run", progress_dir=str(tallies))
    fn.setup()
    kept = [out for e in (old, new) for out in fn.process((seen_shard_of(e.id), [e]))]
    fn.finish_bundle()
    fn.teardown()
    assert kept == [new]
    assert tally_files(tallies) == [{"entries": 1}]


def test_fetch_tallies_finished_pages_ok_or_failed(tmp_path):
    tallies = tmp_path / "progress"
    tallies.mkdir()
    routes = {"/a": static(b"<html><body><p>a</p></body></html>"),
              "/gone": static(b"gone", status=404)}
    with Site(routes=routes) as site:
        entries = [entry(site.url("/a")), entry(site.url("/gone"))]
        groups: dict = {}
        for e in entries:
            key, value = host_key(e, 1)
            groups.setdefault(key, []).append(value)
        fn = FetchPageFn(SETTINGS, progress_dir=str(tallies))
        pages, tagged = drive(fn, sorted(groups.items()))
    assert len(pages) == 1 and len(tagged["dead_letters"]) == 1
    assert tally_files(tallies) == [{"pages": 2}]


def test_write_tallies_the_rows_of_each_commit(tmp_path):
    tallies = tmp_path / "progress"
    tallies.mkdir()
    fn = _CountCommitsFn(ERRORS, str(tallies))
    commits = [Commit("errors", "a.parquet", 3, "run"), Commit("errors", "b.parquet", 4, "run")]
    out, _ = drive(fn, commits)
    assert out == commits
    assert tally_files(tallies) == [{"written.errors": 7}]


# The launcher side: rate, ETA, lines ------------------------------------------------

def test_the_rate_ignores_the_feed_phase_and_looks_back_a_window():
    meter = RateMeter(window=30)
    assert meter.add(0, 0) is None
    assert meter.add(10, 0) is None          # feeds still being read
    assert meter.add(11, 0) is None
    assert meter.add(12, 10) == 10.0         # from the last look with no page
    assert meter.add(14, 30) == 10.0
    for t in range(15, 60):
        meter.add(t, 30 + (t - 14))          # then one page a second
    assert meter.add(60, 76) == 1.0


def test_snapshot_and_eta():
    counts = {"feeds": 3, "entries": 40, "pages": 10, "written.articles": 5,
              "written.errors": 2}
    snap = snapshot(counts, feeds_total=4, elapsed=12.0, rate=2.0)
    assert (snap.feeds, snap.entries, snap.pages, snap.articles, snap.dead_letters) == \
        (3, 40, 10, 5, 2)
    assert snap.eta == 15.0
    assert Snapshot(entries=40, pages=10).eta is None     # no rate yet
    assert Snapshot(rate=2.0).eta is None                 # pages to fetch not known yet


def test_the_plain_line_names_every_figure():
    snap = Snapshot(feeds=3, feeds_total=4, entries=40, pages=10, articles=5,
                    dead_letters=2, elapsed=75, rate=2.0)
    assert render(snap) == ("newsbeam: feeds 3/4, pages 10/40,  2.00page/s, ETA 00:15, "
                            "elapsed 01:15, articles 5, dead letters 2")
    early = render(Snapshot(feeds=1, feeds_total=4, elapsed=3))
    assert early == ("newsbeam: feeds 1/4, pages 0/?, ?page/s, ETA ?, elapsed 00:03, "
                     "articles 0, dead letters 0")
    running = render(Snapshot(feeds_total=4, elapsed=3, state="RUNNING"))
    assert running.startswith("newsbeam: feeds 0/4 (job RUNNING), ")
    assert "(job" not in render(Snapshot(feeds_total=4, state="DONE"))


def test_the_terminal_line_has_a_bar_and_fits_the_width():
    snap = Snapshot(feeds=8, feeds_total=8, entries=87, pages=20, articles=85, dead_letters=6,
                    elapsed=10, rate=2.0)
    line = terminal_line(snap, 119)
    assert line.startswith("newsbeam: feeds 8/8 |") and "| 20/87 pages [00:10<00:33" in line
    assert line.endswith("articles 85, dead letters 6]") and len(line) == 119
    narrow = terminal_line(snap, 79)                 # 80 columns: every figure, no bar
    assert narrow == ("feeds 8/8, pages 20/87,  2.00page/s, ETA 00:33, articles 85, "
                      "dead letters 6")


class FakeTallies:
    def __init__(self, *steps: dict):
        self.steps = list(steps)

    def __call__(self) -> dict:
        return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]


def test_plain_lines_every_interval_with_growing_counts():
    stream = io.StringIO()
    read = FakeTallies({"feeds": 1}, {"feeds": 2, "entries": 9}, {"feeds": 2, "entries": 9,
                                                                  "pages": 4})
    display = ProgressDisplay(read, 2, stream, interval=0.2, tty=False, tick=0.05).start()
    try:
        deadline = time.monotonic() + 5
        while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        display.stop()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3 and "\r" not in stream.getvalue()
    feeds = [int(re.search(r"feeds (\d+)/2", line).group(1)) for line in lines]
    assert feeds == sorted(feeds) and feeds[-1] == 2
    assert "pages 4/9" in lines[-1]


def test_quiet_runs_no_display(tmp_path):
    options = NewsbeamOptions(["--quiet"])
    run = RunProgress(options, StateDir(str(tmp_path)), "run", 3)
    assert run.directory is None and run.display is None
    run.stop()
    assert not (tmp_path / "progress").exists()


def test_a_terminal_gets_one_line_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    read = FakeTallies({"feeds": 1}, {"feeds": 2, "entries": 9, "pages": 3})
    display = ProgressDisplay(read, 2, stream, interval=10, tick=0.05).start()
    try:
        deadline = time.monotonic() + 5
        while stream.getvalue().count("\r") < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "\n" not in stream.getvalue()
    finally:
        display.stop()
    out = stream.getvalue()
    assert out.endswith("\n") and out.count("\n") == 1      # one line, ended once
    assert out.count("\r") >= 4 and "pages 3/9" in out.rsplit("\r", 1)[-1]
