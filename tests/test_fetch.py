"""Fetching pages: politeness, retries, failures; the DoFn directly and the composite."""
from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import GlobalWindow, IntervalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from devsite import faults
from devsite.server import Site, send, static
from schemas import FeedEntry, Page
from tests.conftest import FETCHED_AT
from tests.harness import drive
from transforms.fetch import FetchPageFn, FetchPages, host_key
from transforms.http.settings import FetchSettings
from transforms.lib.outcomes import DEAD_LETTERS
from transforms.lib.urls import article_id

SETTINGS = FetchSettings(allow_private_networks=True, read_timeout=1, total_timeout=2,
                         retry_budget=3, backoff_base=0.05, backoff_cap=0.2)


def entry(url: str, **fields) -> FeedEntry:
    return FeedEntry(id=article_id(url), url=url, feed_url="https://x.example/rss",
                     fetched_at=FETCHED_AT, **fields)


def grouped(entries, shards: int = SETTINGS.host_shards):
    groups = defaultdict(list)
    for e in entries:
        key, value = host_key(e, shards)
        groups[key].append(value)
    return sorted(groups.items())


def fetch(entries, settings=SETTINGS):
    return drive(FetchPageFn(settings), grouped(entries, settings.host_shards))



class Counter:
    """Concurrency probe for a route."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.starts: list[float] = []

    def route(self, body: bytes, hold: float):
        def handler(h):
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
                self.starts.append(time.monotonic())
            time.sleep(hold)
            with self.lock:
                self.now -= 1
            send(h, 200, body)
        return handler


@pytest.fixture(scope="module")
def site():
    routes = {f"/a{i}": static(f"<html><body><p>Article {i}</p></body></html>")
              for i in range(40)}
    routes["/slow"] = faults.drip(interval=5, seconds=6)
    routes["/pdf"] = static(b"%PDF", content_type="application/pdf")
    routes["/binary"] = static(bytes(range(256)) * 40, content_type="text/html")
    with Site(routes=routes, latency=0.2) as running:
        yield running


def test_fetch_fn_overlaps_requests(site):
    entries = [entry(site.url(f"/a{i}")) for i in range(40)]
    started = time.monotonic()
    pages, tagged = drive(FetchPageFn(SETTINGS, max_in_flight=20), grouped(entries))
    elapsed = time.monotonic() - started
    assert sorted(p.entry.url for p in pages) == sorted(e.url for e in entries)
    assert all(p.html.startswith("<html>") and p.http_status == 200 for p in pages)
    assert tagged == {}
    # 40 requests of 200 ms with 8 per host in flight: about 1 s, not 8 s.
    assert elapsed < 4


def test_a_big_host_group_loads_no_more_pages_than_there_are_slots():
    """Memory does not grow with the batch: while the stages after the fetch
    are slow, at most ``max_in_flight`` pages beyond those already emitted
    are requested (a page is only loaded once it holds a slot), however
    many entries one host's group has."""
    routes = {f"/p{i}": static(f"<html><body><p>Page {i}</p></body></html>")
              for i in range(120)}
    with Site(routes=routes) as local:
        entries = [entry(local.url(f"/p{i}")) for i in range(120)]
        ((key, group),) = grouped(entries, shards=1)
        fn = FetchPageFn(dataclasses.replace(SETTINGS, host_shards=1), max_in_flight=5)
        fn.setup()
        try:
            fn.start_bundle()
            emitted, ahead = 0, []
            outputs = iter(list(fn.process((key, group), GlobalWindow(), Timestamp(0))))
            for _ in outputs:
                emitted += 1
            for _ in fn.finish_bundle():
                emitted += 1
                time.sleep(0.01)  # a slow extraction downstream
                page_requests = sum(r.path.startswith("/p") for r in local.requests)
                ahead.append(page_requests - emitted)
        finally:
            fn.teardown()
    assert emitted == 120
    assert max(ahead) <= 5, max(ahead)


def test_outputs_carry_the_input_window(site):
    fn = FetchPageFn(SETTINGS)
    window = IntervalWindow(Timestamp(100), Timestamp(200))
    fn.setup()
    fn.start_bundle()
    out = list(fn.process(grouped([entry(site.url("/a1"))])[0], window, Timestamp(123)))
    out += list(fn.finish_bundle())
    fn.teardown()
    (value,) = out
    assert isinstance(value, WindowedValue)
    assert value.windows == (window,) and value.timestamp == Timestamp(123)


def test_failures_become_dead_letters_and_rescuable_entries_continue(site):
    entries = [entry(site.url("/missing")), entry(site.url("/pdf"), summary="A PDF report."),
               entry(site.url("/slow"), content="<p>Feed text</p>"), entry(site.url("/binary"))]
    pages, tagged = fetch(entries)
    dead = {d.url.rsplit("/", 1)[1]: d for d in tagged[DEAD_LETTERS]}
    assert {k: (d.stage, d.error_type) for k, d in dead.items()} == {
        "missing": ("fetch", "http_404"), "pdf": ("fetch", "unsupported_content_type"),
        "slow": ("fetch", "timeout_read"), "binary": ("fetch", "binary_content")}
    assert dead["missing"].http_status == 404 and dead["missing"].article_id
    assert dead["missing"].attempts == 1 and dead["slow"].attempts >= 2
    assert sorted((p.entry.url.rsplit("/", 1)[1], p.fetch_error, p.html) for p in pages) == [
        ("pdf", "unsupported_content_type", None), ("slow", "timeout_read", None)]


def test_per_host_concurrency_holds_across_shards():
    probe = Counter()
    routes = {f"/p{i}": probe.route(b"<html><p>x</p></html>", 0.15) for i in range(30)}
    settings = FetchSettings(allow_private_networks=True, per_host_concurrency=3,
                             host_shards=3)
    with Site(routes=routes) as site:
        pages, _ = fetch([entry(site.url(f"/p{i}")) for i in range(30)], settings)
    assert len(pages) == 30
    assert probe.peak <= 3


def test_per_host_interval_and_crawl_delay():
    probe = Counter()
    routes = {f"/p{i}": probe.route(b"<html><p>x</p></html>", 0) for i in range(4)}
    routes["/robots.txt"] = static("User-agent: *\nCrawl-delay: 0.3\n",
                                   content_type="text/plain")
    with Site(routes=routes) as site:
        fetch([entry(site.url(f"/p{i}")) for i in range(4)],
              FetchSettings(allow_private_networks=True, per_host_interval=0.1, host_shards=1))
    gaps = [b - a for a, b in zip(probe.starts, probe.starts[1:], strict=False)]
    assert len(probe.starts) == 4 and min(gaps) >= 0.25


def test_robots_rules_are_obeyed_per_user_agent():
    robots = "User-agent: newsbeam\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n"
    routes = {"/robots.txt": static(robots, content_type="text/plain"),
              "/private/x": static("<html><p>secret</p></html>"),
              "/public/y": static("<html><p>public</p></html>")}
    with Site(routes=routes) as site:
        pages, tagged = fetch([entry(site.url("/private/x")), entry(site.url("/public/y"))])
        assert [p.entry.url for p in pages] == [site.url("/public/y")]
        assert [d.error_type for d in tagged[DEAD_LETTERS]] == ["robots_disallowed"]
        assert [r.path for r in site.requests].count("/robots.txt") == 1
        assert "/private/x" not in [r.path for r in site.requests]


@pytest.mark.parametrize("robots_route,expected", [
    (faults.status(404), "ok"), (faults.status(403), "ok"),
    (faults.status(500), "robots_unreachable"), (faults.reset(), "robots_unreachable"),
])
def test_robots_fetch_outcomes_follow_rfc_9309(robots_route, expected):
    routes = {"/robots.txt": robots_route, "/a": static("<html><p>a</p></html>")}
    with Site(routes=routes) as site:
        pages, tagged = fetch([entry(site.url("/a"))])
    got = "ok" if pages else tagged[DEAD_LETTERS][0].error_type
    assert got == expected


def test_ignore_robots_skips_it():
    routes = {"/robots.txt": static("User-agent: *\nDisallow: /\n", content_type="text/plain"),
              "/a": static("<html><p>a</p></html>")}
    with Site(routes=routes) as site:
        pages, _ = fetch([entry(site.url("/a"))],
                         FetchSettings(allow_private_networks=True, respect_robots=False))
        assert len(pages) == 1 and "/robots.txt" not in [r.path for r in site.requests]


class Flaky:
    """Fails ``failures`` times with ``status`` (and headers), then serves the page."""

    def __init__(self, failures: int, status: int, headers=None):
        self.left, self.status, self.headers = failures, status, headers or {}

    def __call__(self, h):
        if self.left > 0:
            self.left -= 1
            send(h, self.status, b"busy", "text/plain", self.headers)
        else:
            send(h, 200, b"<html><body><p>finally</p></body></html>")


def test_transient_failures_are_retried_until_success():
    routes = {"/503": Flaky(2, 503), "/429": Flaky(1, 429, {"Retry-After": "1"}),
              "/500": Flaky(9, 500)}
    with Site(routes=routes) as site:
        started = time.monotonic()
        pages, tagged = fetch([entry(site.url(p)) for p in ("/503", "/429", "/500")])
        elapsed = time.monotonic() - started
        paths = [r.path for r in site.requests if r.path != "/robots.txt"]
    assert sorted(p.entry.url.rsplit("/", 1)[1] for p in pages) == ["429", "503"]
    (dead,) = tagged[DEAD_LETTERS]
    assert (dead.error_type, dead.http_status, dead.attempts) == ("http_500", 500, 3)
    assert "after 3 attempts" in dead.message
    assert paths.count("/503") == 3 and paths.count("/429") == 2 and paths.count("/500") == 3
    assert 1.0 <= elapsed < SETTINGS.retry_budget + SETTINGS.total_timeout + 1


def test_time_queued_behind_the_host_does_not_spend_the_retry_budget():
    # One slot for the host, slow pages holding it longer than the whole
    # retry budget: the 503 that recovers on its third attempt must still
    # arrive, because waiting for the slot is not this URL's cost.
    def hold(h):
        time.sleep(0.8)
        send(h, 200, b"<html><body><p>slow</p></body></html>")

    routes = {"/503": Flaky(2, 503), **{f"/hold{i}": hold for i in range(3)}}
    settings = FetchSettings(allow_private_networks=True, read_timeout=2, total_timeout=3,
                             retry_budget=1, backoff_base=0.05, backoff_cap=0.1,
                             per_host_concurrency=1, host_shards=1, respect_robots=False)
    with Site(routes=routes) as site:
        urls = [site.url("/503")] + [site.url(f"/hold{i}") for i in range(3)]
        pages, tagged = fetch([entry(u) for u in urls], settings)
        paths = [r.path for r in site.requests]
    assert not tagged.get(DEAD_LETTERS)
    assert sorted(p.entry.url for p in pages) == sorted(urls)
    assert paths.count("/503") == 3


def test_retry_after_beyond_the_budget_fails_at_once():
    with Site(routes={"/x": Flaky(5, 429, {"Retry-After": "3600"})}) as site:
        started = time.monotonic()
        _, tagged = fetch([entry(site.url("/x"))])
    (dead,) = tagged[DEAD_LETTERS]
    assert dead.error_type == "http_429" and "Retry-After 3600s" in dead.message
    assert time.monotonic() - started < 2


def test_composite(site):
    with TestPipeline() as p:
        pages, dead = (p | beam.Create([entry(site.url("/a1")), entry(site.url("/nope"))])
                       | FetchPages(SETTINGS))
        assert_that(pages | beam.Map(lambda page: (page.entry.url, page.http_status)),
                    equal_to([(site.url("/a1"), 200)]), label="pages")
        assert_that(dead | beam.Map(lambda d: d.error_type), equal_to(["http_404"]),
                    label="dead")


def test_page_records_final_url_after_redirect():
    routes = {"/old": faults.redirect("/new", 301),
              "/new": static("<html><body><p>moved here</p></body></html>")}
    with Site(routes=routes) as site:
        pages, _ = fetch([entry(site.url("/old"))])
    assert isinstance(pages[0], Page) and pages[0].final_url == site.url("/new")
