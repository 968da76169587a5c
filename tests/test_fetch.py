"""Fetching pages: the DoFn directly and the composite, on loopback."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.timestamp import Timestamp

from schemas import FeedEntry, Page
from tests.conftest import FETCHED_AT
from tests.harness import drive
from tests.site import faults
from tests.site.server import Site, static
from transforms.fetch import FetchPageFn, FetchPages
from transforms.http.settings import FetchSettings
from transforms.outcomes import DEAD_LETTERS
from transforms.urls import article_id

SETTINGS = FetchSettings(allow_private_networks=True, read_timeout=1, total_timeout=2)


@pytest.fixture(scope="module")
def site():
    routes = {f"/a{i}": static(f"<html><body><p>Article {i}</p></body></html>")
              for i in range(40)}
    routes["/slow"] = faults.drip(interval=5, seconds=6)
    routes["/pdf"] = static(b"%PDF", content_type="application/pdf")
    with Site(routes=routes, latency=0.2) as running:
        yield running


def entry(url: str, **fields) -> FeedEntry:
    return FeedEntry(id=article_id(url), url=url, feed_url="https://x.example/rss",
                     fetched_at=FETCHED_AT, **fields)


def test_fetch_fn_overlaps_requests_and_keeps_windows(site):
    window = IntervalWindow(Timestamp(100), Timestamp(200))
    entries = [entry(site.url(f"/a{i}")) for i in range(40)]
    import time
    started = time.monotonic()
    pages, tagged = drive(FetchPageFn(SETTINGS, max_in_flight=20), entries, window=window,
                          timestamp=Timestamp(150))
    elapsed = time.monotonic() - started
    assert sorted(p.entry.url for p in pages) == sorted(e.url for e in entries)
    assert all(p.html.startswith("<html>") and p.http_status == 200 for p in pages)
    assert tagged == {}
    # 40 requests at 200 ms each, 20 at a time: about 0.4 s, not 8 s.
    assert elapsed < 4


def test_outputs_carry_the_input_window(site):
    from apache_beam.utils.windowed_value import WindowedValue
    fn = FetchPageFn(SETTINGS)
    window = IntervalWindow(Timestamp(100), Timestamp(200))
    fn.setup()
    fn.start_bundle()
    out = list(fn.process(entry(site.url("/a1")), window, Timestamp(123)))
    out += list(fn.finish_bundle())
    fn.teardown()
    (value,) = out
    assert isinstance(value, WindowedValue)
    assert value.windows == (window,) and value.timestamp == Timestamp(123)


def test_failures_become_dead_letters_and_rescuable_entries_continue(site):
    entries = [entry(site.url("/missing")), entry(site.url("/pdf"), summary="A PDF report."),
               entry(site.url("/slow"), content="<p>Feed text</p>")]
    pages, tagged = drive(FetchPageFn(SETTINGS), entries)
    dead = {d.url.rsplit("/", 1)[1]: d for d in tagged[DEAD_LETTERS]}
    assert {k: (d.stage, d.error_type) for k, d in dead.items()} == {
        "missing": ("fetch", "http_404"), "pdf": ("fetch", "unsupported_content_type"),
        "slow": ("fetch", "timeout_read")}
    assert dead["missing"].http_status == 404 and dead["missing"].article_id
    assert sorted((p.entry.url.rsplit("/", 1)[1], p.fetch_error, p.html) for p in pages) == [
        ("pdf", "unsupported_content_type", None), ("slow", "timeout_read", None)]


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
        pages, _ = drive(FetchPageFn(SETTINGS), [entry(site.url("/old"))])
    assert isinstance(pages[0], Page) and pages[0].final_url == site.url("/new")
