"""Status lines and header bytes a hostile server controls never reach a
record unsanitized, and never raise anything but a FetchError.

A reason phrase such as ``404 Not \\xff\\x01Found`` once ended a whole batch
in ``UnicodeEncodeError`` (no Parquet at all), and an ETag with the same
byte broke the feed-state file.  The server here writes raw bytes.
"""
from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devsite.server import Site
from transforms.http.client import FEED, PAGE, HttpClient
from transforms.http.errors import FetchError
from transforms.http.settings import FetchSettings

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
PAGE_BODY = b"<!DOCTYPE html><html><body><p>hello</p></body></html>"


class RawResponses:
    """A route that answers each request with the next queued raw response."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []

    def __call__(self, handler) -> None:
        handler.wfile.write(self.queue.pop(0) if self.queue else b"HTTP/1.1 500 X\r\n\r\n")
        handler.close_connection = True


@pytest.fixture(scope="module")
def raw():
    responses = RawResponses()
    with Site(routes={"/raw": responses}) as site:
        yield site, responses


def fetch(site: Site, responses: RawResponses, payload: bytes, policy=PAGE):
    responses.queue.append(payload)

    async def go():
        async with HttpClient(FetchSettings(allow_private_networks=True, read_timeout=2,
                                            total_timeout=4)) as client:
            return await client.get(site.url("/raw"), policy)
    return asyncio.run(go())


def assert_clean(value: str) -> None:
    assert not UNSAFE.search(value), repr(value)
    value.encode("utf-8")  # no lone surrogates: pyarrow and json can write it


@pytest.mark.parametrize("reason", [b"Not \xff\x01Found", b"\x1b[31mred\x1b[0m",
                                    b"\xc2\x9b2J clear", b"ok\x00nul", b"\xed\xa0\x80"])
def test_hostile_reason_phrase_becomes_a_clean_message(raw, reason):
    site, responses = raw
    payload = b"HTTP/1.1 404 " + reason + b"\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(FetchError) as err:
        fetch(site, responses, payload)
    assert err.value.error_type in ("http_404", "bad_response")
    assert_clean(err.value.message)


def test_hostile_header_values_are_sanitized(raw):
    site, responses = raw
    payload = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=\"utf-8\xff\"\r\n"
               b"ETag: \"v\xff\x01\x1b[2J\"\r\nLast-Modified: Mon\xfe, 01 Jan 2024\r\n"
               b"Content-Length: " + str(len(PAGE_BODY)).encode() + b"\r\n\r\n" + PAGE_BODY)
    response = fetch(site, responses, payload)
    for name, value in response.headers.items():
        assert_clean(name)
        assert_clean(value)
    assert response.headers["etag"].startswith('"v')


HEADER_BYTES = st.binary(min_size=0, max_size=40).filter(lambda b: b"\r" not in b
                                                         and b"\n" not in b)


@settings(max_examples=40)
@given(status=st.integers(100, 999), reason=HEADER_BYTES, etag=HEADER_BYTES,
       content_type=HEADER_BYTES)
def test_property_any_status_line_and_header_bytes(raw, status, reason, etag, content_type):
    site, responses = raw
    payload = (b"HTTP/1.1 " + str(status).encode() + b" " + reason + b"\r\n"
               + b"ETag: " + etag + b"\r\nContent-Type: " + content_type + b"\r\n"
               + b"Content-Length: " + str(len(PAGE_BODY)).encode() + b"\r\n\r\n" + PAGE_BODY)
    try:
        response = fetch(site, responses, payload, policy=FEED if status % 2 else PAGE)
    except FetchError as exc:
        assert_clean(exc.message)
        assert_clean(exc.error_type)
        return
    for name, value in response.headers.items():
        assert_clean(name)
        assert_clean(value)
    if response.charset is not None:
        assert_clean(response.charset)
