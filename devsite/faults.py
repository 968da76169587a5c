"""Routes that misbehave on purpose: the hostile half of the fixture server."""
from __future__ import annotations

import gzip
import time
import zlib

import brotli

from devsite.server import Route, send


def redirect(location: str, status: int = 302) -> Route:
    def route(handler) -> None:
        send(handler, status, b"", None, {"Location": location})
    return route


def endless_body(chunk: bytes = b"<p>" + b"x" * 65536 + b"</p>", seconds: float = 30.0,
                 content_type: str = "text/html") -> Route:
    """Streams data with no Content-Length until the client gives up."""
    def route(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(b"<html><body>")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            handler.wfile.write(chunk)
        handler.close_connection = True
    return route


def drip(interval: float = 0.5, seconds: float = 30.0) -> Route:
    """Slowloris: a byte every ``interval`` seconds, never finishing."""
    def route(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Connection", "close")
        handler.end_headers()
        _trickle(handler, b" ", interval, seconds)
    return route


def header_drip(interval: float = 0.5, seconds: float = 30.0) -> Route:
    """Slowloris on the status line and headers: never completes them."""
    def route(handler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        _trickle(handler, b"X-Drip: y\r\n", interval, seconds)
    return route


def _trickle(handler, piece: bytes, interval: float, seconds: float) -> None:
    """Send ``piece`` every ``interval`` seconds until ``seconds`` pass or the
    site stops, so a client only escapes by its own total timeout."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not handler.server.stopping.is_set():
        handler.wfile.write(piece)
        handler.wfile.flush()
        time.sleep(interval)
    handler.close_connection = True


def _bomb(size: int) -> bytes:
    return b"<html><body>" + b"A" * size + b"</body></html>"


def gzip_bomb(size: int = 200 * 1024 * 1024) -> Route:
    body = gzip.compress(_bomb(size), compresslevel=9, mtime=0)

    def route(handler) -> None:
        send(handler, 200, body, "text/html", {"Content-Encoding": "gzip"})
    return route


def deflate_bomb(size: int = 200 * 1024 * 1024, raw: bool = False) -> Route:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    body = compressor.compress(_bomb(size)) + compressor.flush()

    def route(handler) -> None:
        send(handler, 200, body, "text/html", {"Content-Encoding": "deflate"})
    return route


def brotli_bomb(size: int = 200 * 1024 * 1024) -> Route:
    body = brotli.compress(_bomb(size), quality=5)

    def route(handler) -> None:
        send(handler, 200, body, "text/html", {"Content-Encoding": "br"})
    return route


def encoded(body: bytes, encoding: str, content_type: str = "text/html") -> Route:
    if encoding == "gzip":
        data = gzip.compress(body, mtime=0)
    elif encoding == "deflate":
        data = zlib.compress(body)
    elif encoding == "br":
        data = brotli.compress(body)
    else:
        data = body

    def route(handler) -> None:
        send(handler, 200, data, content_type, {"Content-Encoding": encoding})
    return route


def status(code: int, headers: dict[str, str] | None = None) -> Route:
    def route(handler) -> None:
        send(handler, code, f"<html><body>status {code}</body></html>".encode(),
             "text/html", headers)
    return route


def reset() -> Route:
    """Close the connection without answering."""
    def route(handler) -> None:
        handler.close_connection = True
        handler.connection.close()
    return route


def garbage() -> Route:
    """Not HTTP at all."""
    def route(handler) -> None:
        handler.wfile.write(b"\x00\x01\x02 this is not http \xff\xfe\r\n\r\n")
        handler.close_connection = True
    return route
