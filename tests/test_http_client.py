"""The HTTP client against a loopback server that misbehaves on purpose."""
from __future__ import annotations

import asyncio
import time

import pytest

from devsite import faults
from devsite.server import Site, static
from transforms.http.client import FEED, PAGE, HttpClient, parse_retry_after
from transforms.http.errors import FetchError
from transforms.http.settings import FetchSettings

PAGE_HTML = "<!DOCTYPE html><html><body><p>Hello world, this is a page.</p></body></html>"
SETTINGS = FetchSettings(allow_private_networks=True, connect_timeout=2, read_timeout=1.0,
                         total_timeout=3.0, max_bytes=2 * 1024 * 1024,
                         max_decoded_bytes=4 * 1024 * 1024, max_redirects=3)


@pytest.fixture(scope="module")
def site():
    routes = {
        "/page": static(PAGE_HTML),
        "/gz": faults.encoded(PAGE_HTML.encode(), "gzip"),
        "/deflate": faults.encoded(PAGE_HTML.encode(), "deflate"),
        "/br": faults.encoded(PAGE_HTML.encode(), "br"),
        "/gzip-bomb": faults.gzip_bomb(),
        "/deflate-bomb": faults.deflate_bomb(),
        "/raw-deflate-bomb": faults.deflate_bomb(raw=True),
        "/brotli-bomb": faults.brotli_bomb(),
        "/huge-declared": static("x" * (3 * 1024 * 1024)),
        "/huge-stream": faults.endless_body(seconds=10),
        "/drip": faults.drip(interval=0.3, seconds=10),
        "/header-drip": faults.header_drip(interval=0.3, seconds=10),
        "/hang": faults.drip(interval=5, seconds=10),
        "/pdf": static(b"%PDF-1.7", content_type="application/pdf"),
        "/image": static(b"\x89PNG\r\n", content_type="image/png"),
        "/octet-html": static(PAGE_HTML, content_type="application/octet-stream"),
        "/octet-binary": static(b"\x00\x01\x02\x03" * 200, content_type="application/octet-stream"),
        "/no-type": static(PAGE_HTML, content_type=None),
        "/feed-as-html": static('<?xml version="1.0"?><rss version="2.0"></rss>',
                                content_type="text/html"),
        "/loop-a": faults.redirect("/loop-b"), "/loop-b": faults.redirect("/loop-a"),
        "/r1": faults.redirect("/r2"), "/r2": faults.redirect("/r3", 301),
        "/r3": faults.redirect("/r4", 307), "/r4": faults.redirect("/r5", 308),
        "/r5": faults.redirect("/page"),
        "/short-chain": faults.redirect("/r4"),
        "/gone": faults.status(410), "/busy": faults.status(503, {"Retry-After": "7"}),
        "/limited": faults.status(429, {"Retry-After": "120"}),
        "/reset": faults.reset(), "/garbage": faults.garbage(),
        "/bad-gzip": static(b"this is not gzip", headers={"Content-Encoding": "gzip"}),
        "/zstd": static(b"\x28\xb5\x2f\xfd", headers={"Content-Encoding": "zstd"}),
    }
    with Site(routes=routes) as running:
        yield running


def fetch(site: Site, path: str, policy=PAGE, settings: FetchSettings = SETTINGS):
    async def go():
        async with HttpClient(settings) as client:
            return await client.get(site.url(path), policy)
    return asyncio.run(go())


def failure(site: Site, path: str, policy=PAGE, settings: FetchSettings = SETTINGS):
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch(site, path, policy, settings)
    return err.value, time.monotonic() - started


@pytest.mark.parametrize("path", ["/page", "/gz", "/deflate", "/br", "/octet-html", "/no-type",
                                  "/short-chain"])
def test_good_pages_arrive_decoded(site, path):
    response = fetch(site, path)
    assert response.status == 200
    assert response.body == PAGE_HTML.encode()


def test_redirects_are_followed_and_recorded(site):
    response = fetch(site, "/short-chain")
    assert response.final_url == site.url("/page")
    assert response.redirects == (site.url("/r4"), site.url("/r5"), site.url("/page"))


@pytest.mark.parametrize("path,error_type,transient,status", [
    ("/missing", "http_404", False, 404),
    ("/gone", "http_410", False, 410),
    ("/busy", "http_503", True, 503),
    ("/limited", "http_429", True, 429),
    ("/pdf", "unsupported_content_type", False, 200),
    ("/image", "unsupported_content_type", False, 200),
    ("/octet-binary", "unsupported_content_type", False, 200),
    ("/loop-a", "redirect_loop", False, 302),
    ("/r1", "too_many_redirects", False, 308),
    ("/gzip-bomb", "decompression_bomb", False, None),
    ("/deflate-bomb", "decompression_bomb", False, None),
    ("/raw-deflate-bomb", "decompression_bomb", False, None),
    ("/brotli-bomb", "decompression_bomb", False, None),
    ("/huge-declared", "too_large", False, 200),
    ("/huge-stream", "too_large", False, 200),
    ("/bad-gzip", "bad_encoding", False, None),
    ("/zstd", "unsupported_encoding", False, None),
    ("/reset", "connection_error", True, None),
])
def test_faults_become_named_errors(site, path, error_type, transient, status):
    error, _ = failure(site, path)
    assert error.error_type == error_type
    assert error.transient is transient
    if status is not None:
        assert error.http_status == status


def test_retry_after_is_parsed(site):
    error, _ = failure(site, "/busy")
    assert error.retry_after == 7


@pytest.mark.parametrize("path,error_type", [("/hang", "timeout_read"),
                                             ("/drip", "timeout_total"),
                                             ("/header-drip", "timeout_total")])
def test_slow_servers_end_within_the_total_timeout(site, path, error_type):
    error, elapsed = failure(site, path)
    assert error.error_type == error_type
    assert elapsed < SETTINGS.total_timeout + 1.0


def test_garbage_response_is_a_named_error(site):
    error, _ = failure(site, "/garbage")
    assert error.error_type in ("bad_response", "connection_error")


def test_feed_policy_sniffs_feeds_served_as_html(site):
    assert fetch(site, "/feed-as-html", FEED).status == 200
    error, _ = failure(site, "/page", FEED)
    assert error.error_type == "unsupported_content_type"


def test_unreachable_port_is_a_transient_connection_error():
    with Site() as site:
        port = site.port
    error = None
    try:
        asyncio.run(_get_url(f"http://127.0.0.1:{port}/"))
    except FetchError as exc:
        error = exc
    assert error is not None and error.error_type == "connection_error" and error.transient


async def _get_url(url: str):
    async with HttpClient(SETTINGS) as client:
        return await client.get(url, PAGE)


def test_parse_retry_after_accepts_seconds_and_dates():
    assert parse_retry_after("120", 0) == 120
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(None, 0) is None
