"""newsbeam ingest's progress on stderr, end to end: plain lines when stderr is
a pipe, one line redrawn in place on a terminal (a pty), nothing with --quiet."""
from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time

from tests.conftest import FETCHED_AT_FLAG, NETGUARD, REPO, run_cli

# --per-host-interval paces the fetches (28 pages, one host), so that the
# run lasts several progress intervals on any machine.
FLAGS = ["--allow-private-networks", "--fetched-at", FETCHED_AT_FLAG,
         "--per-host-interval", "0.15", "--progress-interval", "0.5"]
PLAIN = re.compile(r"^newsbeam: feeds (\d+)/(\d+), pages (\d+)/(\d+|\?), .*, ETA \S+, "
                   r"elapsed \S+, articles (\d+), dead letters (\d+)$")


def test_plain_progress_lines_on_a_pipe(real_site, tmp_path):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(real_site.url("/feeds/fundus-dev.xml") + "\n")
    result = run_cli("--feeds", str(feeds), "--output", str(tmp_path / "out"), *FLAGS)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("newsbeam: feeds")]
    assert len(lines) >= 3, result.stderr
    assert "\r" not in result.stderr
    rows = []
    for line in lines:
        match = PLAIN.match(line)
        assert match, line
        feeds_read, feeds_total, pages, total, articles, dead = match.groups()
        assert int(feeds_total) == 1 and int(feeds_read) <= 1
        assert total == "?" or int(pages) <= int(total) == 28
        rows.append((int(feeds_read), int(pages), int(articles), int(dead)))
    for column in zip(*rows, strict=True):
        assert list(column) == sorted(column)          # never goes back
    assert max(pages for _, pages, _, _ in rows) > 0   # seen while fetching
    assert not (tmp_path / "out" / "_state" / "progress").exists()


def test_quiet_shows_no_progress(seed_sites, tmp_path):
    quiet = tmp_path / "quiet.txt"
    quiet.write_text(seed_sites[("flat", "sk")].url("/feed/") + "\n")
    result = run_cli("--feeds", str(quiet), "--output", str(tmp_path / "quiet"), *FLAGS,
                     "--quiet")
    assert result.returncode == 0, result.stderr
    assert "newsbeam: feeds" not in result.stderr
    assert "newsbeam: 3 articles" in result.stdout


def test_a_terminal_sees_one_line_redrawn_in_place(real_site, tmp_path):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(real_site.url("/feeds/fundus-dev.xml") + "\n")
    primary, secondary = pty.openpty()
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}", COLUMNS="120")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.ingest", "--feeds", str(feeds),
         "--output", str(tmp_path / "out"), *FLAGS],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=secondary)
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0, seen.decode(errors="replace")
    assert b"newsbeam: " in stdout                     # the summary, on stdout
    # The terminal turns each "\n" into "\r\n": the progress is one such line,
    # redrawn after a carriage return each time, and ended once.
    text = seen.decode("utf-8")
    progress = [line for line in text.split("\r\n") if "newsbeam: feeds" in line]
    assert len(progress) == 1, text
    draws = [d for d in progress[0].split("\r") if d.startswith("newsbeam: feeds")]
    assert len(draws) >= 3, progress
    assert "|" in draws[-1] and "/28 pages [" in draws[-1]
    assert all(len(d.rstrip()) <= 120 for d in draws)
