"""End to end against a hostile loopback site: every fault ends as a named
dead letter, every good article arrives, the run ends in bounded time, and
a second run over unchanged feeds costs conditional requests only."""
from __future__ import annotations

import os
import time

import pyarrow.dataset as ds
import pytest

from devsite.hostile_site import (
    ETAG_FEED,
    EXPECTED,
    EXTRACT_EXPECTED,
    FEED_FAULTS,
    METADATA_LINK,
    hostile_site,
)
from tests.conftest import run_cli

FLAGS = ["--allow-private-networks", "--read-timeout", "1", "--total-timeout", "3",
         "--retry-budget", "4", "--max-bytes", str(1024 * 1024),
         "--max-decoded-bytes", str(2 * 1024 * 1024)]
BOUND = 90  # seconds for the whole run, faults and retries included


@pytest.fixture(scope="module")
def hostile():
    site = hostile_site().start()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def first_run(hostile, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    feeds = out / "feeds.txt"
    feeds.write_text("\n".join([hostile.url("/feed.xml"), hostile.url("/feed.json"),
                                hostile.url(ETAG_FEED)]
                               + [hostile.url(p) for p in FEED_FAULTS]) + "\n")
    started = time.monotonic()
    result = run_cli("--feeds", str(feeds), "--output", str(out / "lake"), *FLAGS,
                     "--fetched-at", "2026-11-25T12:00:00Z", timeout=BOUND + 60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    requests_before = len(hostile.requests)
    return out, elapsed, requests_before


def table(path):
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist()


def test_finishes_in_bounded_time(first_run):
    _, elapsed, _ = first_run
    assert elapsed < BOUND


def test_every_entry_is_an_article_or_a_named_dead_letter(first_run, hostile):
    out, _, _ = first_run
    articles = {row["url"] for row in table(out / "lake" / "articles")}
    dead = {row["url"]: row for row in table(out / "lake" / "errors") if row["stage"] == "fetch"}
    for path, expected in EXPECTED.items():
        url = hostile.url(path)
        if expected == "article":
            assert url in articles, f"{path} lost"
            assert url not in dead, f"{path} also dead-lettered: {dead.get(url)}"
        else:
            assert url not in articles, f"{path} should not be an article"
            assert dead[url]["error_type"] == expected, (path, dead[url])
            assert dead[url]["message"]


def test_pages_that_fail_extraction_are_named(first_run, hostile):
    out, _, _ = first_run
    dead = {row["url"]: row for row in table(out / "lake" / "errors") if row["stage"] == "extract"}
    for path, expected in EXTRACT_EXPECTED.items():
        assert dead[hostile.url(path)]["error_type"] == expected, path


def test_a_unicode_spelling_of_metadata_is_refused_and_never_requested(first_run):
    out, _, _ = first_run
    (row,) = [r for r in table(out / "lake" / "errors")
              if r["stage"] == "fetch" and "meta-data" in r["url"]]
    assert row["error_type"] == "blocked_address" and "169.254.169.254" in row["message"]
    assert row["url"] == METADATA_LINK


def test_hostile_bytes_never_reach_parquet_state_or_the_summary(first_run, hostile):
    out, _, _ = first_run
    (status,) = [r for r in table(out / "lake" / "errors")
                 if r["url"] == hostile.url("/fault/status-ff")]
    assert status["message"].startswith("HTTP 404") and "\x1b" not in status["message"]
    states = (out / "lake" / "_state" / "feeds.jsonl").read_text(encoding="utf-8")
    assert hostile.url(ETAG_FEED) in states and '"etag": "\\"v' in states
    leftovers = [p for p in (out / "lake").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    summary = (out / "lake" / "run_summary.json").read_text(encoding="utf-8")
    assert "\x1b" not in summary and "\\u001b" not in summary


def test_feed_level_attacks_are_named(first_run, hostile):
    out, _, _ = first_run
    dead = {row["url"]: row["error_type"] for row in table(out / "lake" / "errors")
            if row["stage"] == "feed"}
    for path, expected in FEED_FAULTS.items():
        assert dead[hostile.url(path)] == expected, path


def test_robots_disallowed_page_was_never_requested(first_run, hostile):
    _, _, before = first_run
    assert "/private/page" not in [r.path for r in hostile.requests[:before]]


def test_charset_lie_is_decoded_correctly(first_run, hostile):
    out, _, _ = first_run
    (row,) = [r for r in table(out / "lake" / "articles")
              if r["url"] == hostile.url("/fault/bad-charset")]
    assert "Größere Änderungen für die Bürger" in row["text"] and "\ufffd" not in row["text"]



def test_second_run_is_conditional_and_extracts_nothing(first_run, hostile):
    out, _, before = first_run
    files_before = sorted(os.listdir(out / "lake" / "articles" / "ingest_date=2026-11-25"))
    result = run_cli("--feeds", str(out / "feeds.txt"), "--output", str(out / "lake"), *FLAGS,
                     "--fetched-at", "2026-11-25T13:00:00Z", timeout=BOUND + 60)
    assert result.returncode == 0, result.stderr
    second = hostile.requests[before:]
    feed_requests = [r for r in second if r.path == "/feed.xml"]
    assert len(feed_requests) == 1
    assert feed_requests[0].headers.get("If-None-Match") == '"v1"'
    assert feed_requests[0].headers.get("If-Modified-Since")
    assert not [r for r in second if r.path.startswith(("/good/", "/fault/", "/private/"))]
    assert sorted(os.listdir(out / "lake" / "articles" / "ingest_date=2026-11-25")) == \
        files_before
    assert "not_modified" in result.stdout and "unchanged" in result.stdout
