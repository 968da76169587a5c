"""Bounded Content-Encoding decoding."""
from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from transforms.http.body import BoundedDecoder
from transforms.http.errors import FetchError

DATA = b"<html>" + b"news " * 2000 + b"</html>"


def decode_all(data: bytes, encoding: str | None, limit: int, chunk: int = 1000) -> bytes:
    decoder = BoundedDecoder(encoding, limit)
    out = [decoder.feed(data[i:i + chunk]) for i in range(0, len(data), chunk)]
    out.append(decoder.flush())
    return b"".join(out)


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", lambda d: gzip.compress(d)),
    ("x-gzip", lambda d: gzip.compress(d)),
    ("deflate", zlib.compress),
    ("deflate", lambda d: zlib.compressobj(6, zlib.DEFLATED, -15).compress(d)
     + zlib.compressobj(6, zlib.DEFLATED, -15).flush()),
    ("br", brotli.compress),
    (None, lambda d: d),
    ("identity", lambda d: d),
])
def test_round_trip(encoding, compress):
    data = compress(DATA)
    if encoding == "deflate" and data[:1] != b"x":  # raw deflate built in two parts
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = c.compress(DATA) + c.flush()
    assert decode_all(data, encoding, len(DATA)) == DATA


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", lambda d: gzip.compress(d, 9)),
    ("deflate", lambda d: zlib.compress(d, 9)),
    ("br", lambda d: brotli.compress(d, quality=5)),
])
def test_bombs_stop_at_the_cap_without_inflating(encoding, compress):
    bomb = compress(b"A" * (50 * 1024 * 1024))
    decoder = BoundedDecoder(encoding, 1024 * 1024)
    with pytest.raises(FetchError) as err:
        for i in range(0, len(bomb), 4096):
            chunk = decoder.feed(bomb[i:i + 4096])
            assert len(chunk) <= 1024 * 1024 + 1
        decoder.flush()
    assert err.value.error_type == "decompression_bomb"
    assert decoder.size <= 1024 * 1024 + 2 * 65536


def test_identity_over_the_cap_is_too_large():
    with pytest.raises(FetchError) as err:
        decode_all(DATA, None, 100)
    assert err.value.error_type == "too_large"


@pytest.mark.parametrize("encoding", ["zstd", "compress", "gzip, br"])
def test_unsupported_encodings_are_refused(encoding):
    with pytest.raises(FetchError) as err:
        BoundedDecoder(encoding, 100)
    assert err.value.error_type == "unsupported_encoding"
