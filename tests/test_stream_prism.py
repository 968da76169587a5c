"""`newsbeam stream` live on Prism against a site that keeps publishing.

Checks that windows are committed while the stream runs, that articles
land within two windows of publication, that SIGTERM commits and stops,
and that a restart on the same output neither loses nor duplicates.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow.dataset as ds
import pytest

from pipelines.stream import prism_binary
from tests.conftest import NETGUARD, REPO
from tests.site.live_site import LiveSite, title_item

POLL, WINDOW = 1.0, 4.0
pytestmark = pytest.mark.skipif(prism_binary() is None, reason="Prism not built: make prism")


class Stream:
    """A `newsbeam stream` subprocess whose output lines are collected."""

    def __init__(self, feeds, output):
        env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.stream", "--feeds", str(feeds), "--output",
             str(output), "--allow-private-networks", "--poll-interval", str(POLL),
             "--window", str(WINDOW)], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in output:\n" + "\n".join(self.lines[-40:]))

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.reader.join(5)
        return code


def rows(output):
    path = output / "articles"
    if not path.exists() or not any(path.rglob("*.parquet")):
        return []
    return ds.dataset(path, format="parquet", partitioning="hive").to_table(
        columns=["id", "title", "url"]).to_pylist()


def parquet_mtimes(output):
    return {p: p.stat().st_mtime for p in (output / "articles").rglob("*.parquet")}


@pytest.fixture(scope="module")
def live():
    site = LiveSite(period=1.5, keep=40)
    site.start_site()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def session(live, tmp_path_factory):
    out = tmp_path_factory.mktemp("stream")
    feeds = out / "feeds.txt"
    feeds.write_text(live.site.url("/feed.xml") + "\n")
    lake = out / "lake"
    first = Stream(feeds, lake)
    first.wait_for("committed window", 90)
    time.sleep(2 * WINDOW + 2)
    running_files = parquet_mtimes(lake)
    alive = first.process.poll() is None
    first_rows = rows(lake)
    first_code = first.stop()
    stopped_at = time.time()
    time.sleep(3)  # items keep appearing while the stream is down
    second = Stream(feeds, lake)
    second.wait_for("committed window", 90)
    time.sleep(WINDOW + 2)
    second_code = second.stop()
    return {"live": live, "lake": lake, "first": first, "second": second,
            "running_files": running_files, "alive": alive, "first_rows": first_rows,
            "codes": (first_code, second_code), "stopped_at": stopped_at}


def test_files_appear_while_the_stream_runs(session):
    assert session["alive"], "\n".join(session["first"].lines)
    assert len(session["running_files"]) >= 2
    assert session["first_rows"]


def test_sigterm_commits_and_exits_cleanly(session):
    assert session["codes"] == (0, 0), "\n".join(session["first"].lines + session["second"].lines)
    assert any("windows committed this run" in line for line in session["first"].lines)
    leftovers = [p for p in session["lake"].rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_articles_land_within_two_windows_of_publication(session):
    live = session["live"]
    lake = session["lake"]
    latest = {}
    for path, mtime in parquet_mtimes(lake).items():
        for row in ds.dataset(path, format="parquet").to_table(columns=["title"]).to_pylist():
            latest[title_item(row["title"])] = mtime
    delays = [mtime - live.published_at(k) for k, mtime in latest.items()
              if live.published_at(k) > live.start + WINDOW]
    assert delays, "no item published after the first window was committed"
    assert max(delays) <= 2 * WINDOW + POLL + 3, sorted(delays)[-5:]


def test_restart_loses_nothing_and_duplicates_nothing(session):
    live = session["live"]
    all_rows = rows(session["lake"])
    ids = [r["id"] for r in all_rows]
    assert len(ids) == len(set(ids)), "duplicate articles after restart"
    items = sorted(title_item(r["title"]) for r in all_rows)
    # Everything published up to shortly before the second stop made it in.
    last = max(items)
    assert items == list(range(0, last + 1)), f"missing items: {set(range(last + 1)) - set(items)}"
    assert last >= live.published(session["stopped_at"]) - 1
