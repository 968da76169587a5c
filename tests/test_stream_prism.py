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

POLL, WINDOW = 1.0, 6.0
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

    def close(self) -> None:
        """Whatever happened, leave no stream or Prism process behind."""
        family = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


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
    running = []  # (from, to) while a stream was up and polling
    first = Stream(feeds, lake)
    second = None
    try:
        first.wait_for("committed window", 90)
        up = time.time()
        time.sleep(2 * WINDOW + 2)
        running_files = parquet_mtimes(lake)
        alive = first.process.poll() is None
        first_rows = rows(lake)
        # Steady state only: what is published just before a SIGTERM is
        # committed by the shutdown, however long that takes.
        running.append((up, time.time() - WINDOW))
        first_code = first.stop()
        stopped_at = time.time()
        time.sleep(3)  # items keep appearing while the stream is down
        second = Stream(feeds, lake)
        second.wait_for("committed window", 90)
        up = time.time()
        time.sleep(2 * WINDOW)
        running.append((up, time.time() - WINDOW))
        second_code = second.stop()
    finally:
        first.close()
        if second is not None:
            second.close()
    return {"live": live, "lake": lake, "first": first, "second": second,
            "running_files": running_files, "alive": alive, "first_rows": first_rows,
            "codes": (first_code, second_code), "stopped_at": stopped_at,
            "running": running}


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
    """For items published while a stream was up, the delay from publication
    to the commit of the file holding them is at most two windows."""
    live = session["live"]
    committed = {}
    for path, mtime in parquet_mtimes(session["lake"]).items():
        for row in ds.dataset(path, format="parquet").to_table(columns=["title"]).to_pylist():
            committed[title_item(row["title"])] = mtime
    delays = [committed[k] - live.published_at(k) for k in committed
              if any(a <= live.published_at(k) <= b for a, b in session["running"])]
    assert delays, "no item was published while a stream was running"
    assert max(delays) <= 2 * WINDOW, sorted(delays)[-5:]


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
