"""End to end with a poisoned element at every stage: the run completes and
every good article still lands.

The whole batch graph (``pipelines.ingest.build``) runs on a TestPipeline
against a loopback site.  Real hostile input poisons the stages it can
reach from outside (a malformed feed, an entity bomb, a refused address, a
hostile status line, a page over its element cap).  The stages that
outside input cannot break any more are poisoned from inside: the code of
dedup, extract, clean, language and the row check is patched to fail on
one chosen article each, the way a bug would.
"""
from __future__ import annotations

import dataclasses

import apache_beam as beam
import pyarrow.dataset as ds
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from devsite.hostile_site import article as good_page
from devsite.server import Site, static
from pipelines import ingest
from tests.conftest import FETCHED_AT
from transforms import clean, dedup, extract, language

POISON = ("dedup", "extract", "clean", "language", "write")
GOOD = [f"/good/{i}" for i in range(6)]
METADATA_FULLWIDTH = "http://１６９．２５４．１６９．２５４/latest/meta-data/"


def raw_status(line: bytes):
    def route(handler) -> None:
        handler.wfile.write(line + b"\r\nContent-Length: 0\r\n\r\n")
        handler.close_connection = True
    return route


def rss(base: str, links: list[str]) -> str:
    items = "".join(f"<item><title>Item {i}</title><link>{link}</link></item>"
                    for i, link in enumerate(links))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Poisoned</title><link>{base}/</link>{items}</channel></rss>")


@pytest.fixture(scope="module")
def site():
    def routes(s: Site) -> None:
        base = f"http://127.0.0.1:{s.port}"
        links = ([base + p for p in GOOD] + [f"{base}/poison/{stage}" for stage in POISON]
                 + [METADATA_FULLWIDTH, f"{base}/fault/status", f"{base}/fault/complex"])
        s.routes.update({
            "/feed.xml": static(rss(base, links), "application/rss+xml"),
            # The same items again in a second feed: dedup merges each pair.
            "/feed2.xml": static(rss(base, links), "application/rss+xml"),
            "/feeds/malformed.xml": static("<rss><channel><item><title>x</ti", "text/xml"),
            "/feeds/utf16-bomb.xml": static(
                ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE rss [<!ENTITY a "'
                 + "x" * 1000 + '">]><rss version="2.0"><channel><title>&a;&a;&a;</title>'
                 "</channel></rss>").encode("utf-16"), "application/rss+xml"),
            "/fault/status": raw_status(b"HTTP/1.1 404 Not \xff\x01\x1b[2JFound"),
            "/fault/complex": static("<html><body><article>" + "<p>x</p>" * 3000
                                     + "</article></body></html>"),
            **{p: static(good_page(i)) for i, p in enumerate(GOOD)},
            **{f"/poison/{stage}": static(good_page(100 + i))
               for i, stage in enumerate(POISON)},
        })
    with Site(on_start=routes) as running:
        yield running


def poisoned(url: str | None, stage: str) -> bool:
    return bool(url) and url.endswith(f"/poison/{stage}")


@pytest.fixture(scope="module")
def run(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("poisoned")
    patch = pytest.MonkeyPatch()
    real_merge, real_build = dedup.merge_copies, extract.build_article
    real_clean, real_detect, real_finish = clean.clean_article, language.detect, clean.finish

    def merge_copies(copies):
        copies = list(copies)
        if poisoned(copies[0].url, "dedup"):
            raise RuntimeError("dedup bug")
        return real_merge(copies)

    def build_article(page, *args):
        if poisoned(page.entry.url, "extract"):
            raise KeyError("extract bug")
        return real_build(page, *args)

    def clean_article(article, *args):
        if poisoned(article.url, "clean"):
            raise ValueError("clean bug")
        return real_clean(article, *args)

    def detect(factory, text, max_chars=600):
        if "story 103" in text:  # the page behind /poison/language
            raise ZeroDivisionError("language bug")
        return real_detect(factory, text, max_chars)

    def finish(article, lines, removed):
        done = real_finish(article, lines, removed)
        if poisoned(article.url, "write"):  # a lone surrogate no sanitizer caught
            return dataclasses.replace(done, title="broken \ud800 title")
        return done

    patch.setattr(dedup, "merge_copies", merge_copies)
    patch.setattr(extract, "build_article", build_article)
    patch.setattr(clean, "clean_article", clean_article)
    patch.setattr(language, "detect", detect)
    patch.setattr(clean, "finish", finish)
    feeds = [site.url("/feed.xml"), site.url("/feed2.xml"), site.url("/feeds/malformed.xml"),
             site.url("/feeds/utf16-bomb.xml")]
    options = PipelineOptions([
        f"--output={out}", "--allow-private-networks", "--read-timeout=2",
        "--total-timeout=4", "--max-page-elements=2000"])
    try:
        with TestPipeline(options=options) as p:
            ingest.build(p, options, feeds, FETCHED_AT, {})
    finally:
        patch.undo()
    read = lambda name: ds.dataset(out / name, format="parquet",  # noqa: E731
                                   partitioning="hive").to_table().to_pylist()
    return read("articles"), read("errors")


def test_every_good_article_lands_once(run, site):
    articles, _ = run
    urls = sorted(a["url"] for a in articles)
    assert urls == sorted(site.url(p) for p in GOOD)
    for row in articles:
        assert row["feed_urls"] == sorted([site.url("/feed.xml"), site.url("/feed2.xml")])


@pytest.mark.parametrize("stage", POISON)
def test_each_poisoned_stage_left_a_named_dead_letter(run, site, stage):
    _, errors = run
    url = site.url(f"/poison/{stage}")
    mine = [e for e in errors if e["url"] == url]
    expected_type = "unwritable_row" if stage == "write" else "internal_error"
    # Dedup fails on a group: each copy, one per feed, gets its own dead letter.
    copies = 2 if stage == "dedup" else 1
    assert [(e["stage"], e["error_type"]) for e in mine] == [(stage, expected_type)] * copies
    assert all(e["message"] for e in mine)
    if stage == "dedup":
        assert sorted(e["feed_url"] for e in mine) == [site.url("/feed.xml"),
                                                       site.url("/feed2.xml")]


def test_outside_poison_is_named_too(run, site):
    _, errors = run
    by_url = {(e["stage"], e["url"]): e for e in errors}
    assert by_url[("feed", site.url("/feeds/malformed.xml"))]["error_type"] in (
        "malformed_feed", "not_a_feed")
    assert by_url[("feed", site.url("/feeds/utf16-bomb.xml"))]["error_type"] == \
        "xml_entities_forbidden"
    status = by_url[("fetch", site.url("/fault/status"))]
    assert status["error_type"] == "http_404"
    assert "\x1b" not in status["message"] and "\ufffd" not in status["message"]
    assert by_url[("extract", site.url("/fault/complex"))]["error_type"] == "too_complex"
    refused = [e for e in errors if e["stage"] == "fetch" and e["error_type"] == "blocked_address"]
    assert len(refused) == 1 and "169.254.169.254" in refused[0]["message"]


def test_the_refused_address_was_never_requested_and_nothing_was_lost(run, site):
    articles, errors = run
    assert not [r for r in site.requests if "meta-data" in r.path]
    seen = {a["url"] for a in articles} | {e["url"] for e in errors}
    for path in [*GOOD, *(f"/poison/{s}" for s in POISON), "/fault/status", "/fault/complex"]:
        assert site.url(path) in seen, path
    assert beam  # the graph above ran on Beam's own runner
