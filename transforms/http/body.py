"""Content-Encoding decoding that refuses to expand past a cap.

A 10 kB gzip or brotli body can inflate to gigabytes.  Decompressors here
are asked for at most ``limit + 1`` bytes (brotli in 64 KiB steps, since it
may overshoot a step), so a bomb is detected after about the cap's worth
of work and memory.
"""
from __future__ import annotations

import zlib

import brotli

from transforms.http.errors import FetchError

SUPPORTED_ENCODINGS = ("gzip", "x-gzip", "deflate", "br", "identity")
ACCEPT_ENCODING = "gzip, deflate, br"


class _Identity:
    def feed(self, data: bytes, room: int) -> bytes:
        return data

    def flush(self, room: int) -> bytes:
        return b""


class _Zlib:
    def __init__(self, wbits: int):
        self._d = zlib.decompressobj(wbits)
        self._deflate_probe = wbits == zlib.MAX_WBITS
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        if self._deflate_probe and not self._started:
            # "deflate" is zlib-wrapped by the RFC but raw in some servers.
            self._started = True
            try:
                return self._drain(self._d.decompress(data, room + 1), room)
            except zlib.error:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._drain(self._d.decompress(data, room + 1), room)

    def _drain(self, out: bytes, room: int) -> bytes:
        chunks, size = [out], len(out)
        while self._d.unconsumed_tail and size <= room:
            more = self._d.decompress(self._d.unconsumed_tail, room + 1 - size)
            if not more:
                break
            chunks.append(more)
            size += len(more)
        return b"".join(chunks)

    def flush(self, room: int) -> bytes:
        # flush() consumes pending input too, so it is bounded like decompress().
        out = self._drain(b"", room)
        if len(out) > room:
            return out
        return out + self._d.flush(room + 1 - len(out))


class _Brotli:
    def __init__(self):
        self._d = brotli.Decompressor()

    # brotli may overshoot output_buffer_limit by up to one internal buffer,
    # so ask for small steps.
    STEP = 65536

    def feed(self, data: bytes, room: int) -> bytes:
        chunks = [self._d.process(data, output_buffer_limit=min(room + 1, self.STEP))]
        size = len(chunks[0])
        while not self._d.can_accept_more_data() and size <= room:
            more = self._d.process(b"", output_buffer_limit=min(room + 1 - size, self.STEP))
            if not more:
                break
            chunks.append(more)
            size += len(more)
        return b"".join(chunks)

    def flush(self, room: int) -> bytes:
        return b""


class BoundedDecoder:
    """Decodes one response body incrementally, failing past ``limit`` bytes."""

    def __init__(self, content_encoding: str | None, limit: int):
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1:
            raise FetchError("unsupported_encoding",
                             f"stacked content encodings {content_encoding!r} are not decoded")
        coding = codings[0] if codings else "identity"
        if coding not in SUPPORTED_ENCODINGS:
            raise FetchError("unsupported_encoding",
                             f"content encoding {coding!r} is not supported")
        self.limit = limit
        self.size = 0
        self._coding = coding
        if coding in ("gzip", "x-gzip"):
            self._impl = _Zlib(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._impl = _Zlib(zlib.MAX_WBITS)
        elif coding == "br":
            self._impl = _Brotli()
        else:
            self._impl = _Identity()

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._impl.feed(data, self.limit - self.size)
        except (zlib.error, brotli.error) as exc:
            raise FetchError("bad_encoding", f"corrupt {self._coding} body: {exc}") from None
        return self._account(out)

    def flush(self) -> bytes:
        try:
            out = self._impl.flush(self.limit - self.size)
        except (zlib.error, brotli.error) as exc:
            raise FetchError("bad_encoding", f"corrupt {self._coding} body: {exc}") from None
        return self._account(out)

    def _account(self, out: bytes) -> bytes:
        self.size += len(out)
        if self.size > self.limit:
            if self._coding == "identity":
                raise FetchError("too_large", f"body exceeds {self.limit} bytes")
            raise FetchError("decompression_bomb",
                             f"{self._coding} body inflates beyond {self.limit} bytes")
        return out
