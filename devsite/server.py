"""A tiny threaded HTTP server on 127.0.0.1 for tests, demos and benchmarks.

Each site runs on its own port, so each is its own "host" for politeness
and for the per-site boilerplate evidence.  A route is a callable that
receives the request handler and writes the response itself, which lets
tests serve anything from a plain page to a slowloris drip.
"""
from __future__ import annotations

import email.utils
import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Route = Callable[[BaseHTTPRequestHandler], None]


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"",
         content_type: str | None = "text/html; charset=utf-8",
         headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def static(body: bytes | str, content_type: str | None = "text/html; charset=utf-8",
           status: int = 200, headers: dict[str, str] | None = None,
           gzip_body: bool = False) -> Route:
    data = body.encode("utf-8") if isinstance(body, str) else body
    extra = dict(headers or {})
    if gzip_body:
        data = gzip.compress(data, mtime=0)
        extra["Content-Encoding"] = "gzip"

    def route(handler: BaseHTTPRequestHandler) -> None:
        send(handler, status, data, content_type, extra)
    return route


def delayed(route: Route, seconds: float) -> Route:
    def slow(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        route(handler)
    return slow


def hang(seconds: float = 30.0) -> Route:
    """Accept the request and say nothing: a page that times out."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not handler.server.stopping.is_set():
            time.sleep(0.05)
    return route


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (the point of several tests) are not errors."""

    def handle_error(self, request, client_address) -> None:
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Site:
    """A set of routes served on one loopback port."""

    routes: dict[str, Route] = field(default_factory=dict)
    latency: float = 0.0
    # Called once the port is known, for routes whose content names the site's URL.
    on_start: Callable[[Site], None] | None = None
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self, port: int = 0) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.requests.append(Request(self.path, dict(self.headers.items()),
                                             time.time()))
                route = site.routes.get(self.path) or site.routes.get(self.path.split("?")[0])
                if site.latency:
                    time.sleep(site.latency)
                if route is None:
                    send(self, 404, b"<html><body>Not found</body></html>")
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_HEAD = do_GET  # noqa: N815 - http.server API

            def log_message(self, *args) -> None:
                pass

        server = _QuietServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        server.stopping = threading.Event()
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        if self.on_start is not None:
            self.on_start(self)
        return self

    @property
    def port(self) -> int:
        """The bound port; still known after ``stop()``, for assertions."""
        assert self._port is not None, "Site.start() was not called"
        return self._port

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stopping.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Site:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
