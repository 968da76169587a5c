"""A news site that serves every fault newsbeam must survive, mixed with
good articles.

``EXPECTED`` maps each path to what newsbeam must make of it: ``article``
or the dead letter's ``error_type``.  The main feed supports conditional
GET (ETag and Last-Modified), so a second run can be checked to cost one
304 and no page requests.
"""
from __future__ import annotations

import html
import json

from devsite import faults
from devsite.server import Route, Site, http_date, send, static

GOOD = 8

EXPECTED = {
    **{f"/good/{i}": "article" for i in range(GOOD)},
    "/fault/recovers-503": "article",
    "/fault/recovers-429": "article",
    "/fault/bad-charset": "article",
    "/fault/404": "http_404",
    "/fault/410": "http_410",
    "/fault/500": "http_500",
    "/private/page": "robots_disallowed",
    "/fault/pdf": "unsupported_content_type",
    "/fault/image": "unsupported_content_type",
    "/fault/huge": "too_large",
    "/fault/huge-stream": "too_large",
    "/fault/gzip-bomb": "decompression_bomb",
    "/fault/deflate-bomb": "decompression_bomb",
    "/fault/brotli-bomb": "decompression_bomb",
    "/fault/slowloris": "timeout_total",
    "/fault/slow-headers": "timeout_total",
    "/fault/hang": "timeout_read",
    "/fault/redirect-loop": "redirect_loop",
    "/fault/redirect-chain": "too_many_redirects",
    "/fault/redirect-metadata": "blocked_address",
    "/fault/redirect-file": "blocked_scheme",
    "/fault/reset": "connection_error",
    "/fault/binary": "binary_content",
    "/fault/zstd": "unsupported_encoding",
    "/fault/bad-gzip": "bad_encoding",
    "/fault/status-ff": "http_404",
}

# Pages that fetch fine and fail in extraction.
EXTRACT_EXPECTED = {
    "/fault/too-complex": "too_complex",
}

# A link whose host is a fullwidth spelling of the cloud metadata address:
# refused before any connection, even with --allow-private-networks.
METADATA_LINK = "http://１６９．２５４．１６９．２５４/latest/meta-data/"

# A good feed whose ETag carries a byte that is not UTF-8: its state must
# still be written.
ETAG_FEED = "/feeds/etag-ff.xml"

FEED_FAULTS = {
    "/feeds/billion-laughs.xml": "xml_entities_forbidden",
    "/feeds/xxe.xml": "xml_entities_forbidden",
    "/feeds/quadratic.xml": "xml_entities_forbidden",
    "/feeds/gzip-bomb.xml": "decompression_bomb",
    "/feeds/html-page": "unsupported_content_type",
}

# Declared UTF-8, actually Windows-1252: the most common charset lie.
GERMAN_CP1252 = ("„Größere Änderungen für die Bürger“, sagte der Bürgermeister am Dienstag. Die "
                 "Straße am Fluss wird für zwei Wochen gesperrt, während die Brücke repariert "
                 "wird. Anwohner können über die Nördliche Allee ausweichen – Busse fahren "
                 "häufiger, und für Fußgänger gibt es einen Übergang.")



def article(i: int) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Good story {i}</title>"
            f"</head><body><article><h1>Good story {i}</h1>"
            f"<p>Story number {i} reports that the regional council approved a new budget on "
            f"Monday, after a debate that lasted well into the night and ended with a narrow "
            f"vote of twelve to eleven.</p><p>Officials said the money would go to schools, "
            f"roads and the hospital, and that the details of story {i} would be published "
            f"next week.</p></article></body></html>")


class Flaky:
    def __init__(self, failures: int, status: int, headers: dict[str, str] | None = None):
        self.left, self.status, self.headers = failures, status, headers or {}
        self.body = article(99).encode()

    def __call__(self, handler) -> None:
        if self.left > 0:
            self.left -= 1
            send(handler, self.status, b"try later", "text/plain", self.headers)
        else:
            send(handler, 200, self.body)


def conditional(body: bytes, content_type: str, etag: str, modified: float):
    """A route that answers 304 to a matching If-None-Match / If-Modified-Since."""
    last_modified = http_date(modified)

    def route(handler) -> None:
        match = handler.headers.get("If-None-Match") == etag or \
            handler.headers.get("If-Modified-Since") == last_modified
        headers = {"ETag": etag, "Last-Modified": last_modified,
                   "Cache-Control": "max-age=300"}
        if match:
            send(handler, 304, b"", None, headers)
        else:
            send(handler, 200, body, content_type, headers)
    return route


def rss(base: str, paths) -> str:
    items = "\n".join(
        f"<item><title>{html.escape(path)}</title><link>{base}{path}</link>"
        f"<guid>{base}{path}</guid></item>" for path in paths)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Hostile Times</title><link>{base}/</link>{items}</channel></rss>")


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "ha">'
                  + "".join(f'<!ENTITY a{i} "{(f"&a{i - 1};" if i > 1 else "&a;") * 10}">'

                            for i in range(1, 12))
                  + ']><rss version="2.0"><channel><title>&a11;</title></channel></rss>')
XXE = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       '<rss version="2.0"><channel><title>&x;</title></channel></rss>')
QUADRATIC = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY q "' + "x" * 50_000 + '">]>'
             '<rss version="2.0"><channel><title>' + "&q;" * 50_000 + "</title></channel></rss>")


def raw(head: bytes, body: bytes = b"") -> Route:
    """A response written byte for byte, for what http.server cannot send."""
    def route(handler) -> None:
        handler.wfile.write(head + b"\r\nContent-Length: " + str(len(body)).encode()
                            + b"\r\n\r\n" + body)
        handler.close_connection = True
    return route


def hostile_site() -> Site:
    def routes(site: Site) -> None:
        base = f"http://127.0.0.1:{site.port}"
        feed = rss(base, sorted([*EXPECTED, *EXTRACT_EXPECTED])).replace(
            "</channel>", f"<item><title>metadata</title><link>{METADATA_LINK}</link></item>"
            "</channel>").encode()
        json_feed = json.dumps({"version": "https://jsonfeed.org/version/1.1",
                                "title": "Hostile JSON",
                                "items": [{"id": "j1", "url": f"{base}/good/0",
                                           "title": "Good story 0 (JSON)"}]}).encode()
        site.routes.update({
            **{f"/good/{i}": static(article(i)) for i in range(GOOD)},
            "/robots.txt": static("User-agent: *\nDisallow: /private/\n",
                                  content_type="text/plain"),
            "/private/page": static(article(77)),
            "/feed.xml": conditional(feed, "application/rss+xml", '"v1"', 1_700_000_000),
            "/feed.json": static(json_feed, content_type="application/feed+json"),
            "/feeds/billion-laughs.xml": static(BILLION_LAUGHS, "application/rss+xml"),
            "/feeds/xxe.xml": static(XXE, "application/rss+xml"),
            "/feeds/quadratic.xml": static(QUADRATIC, "application/rss+xml"),
            "/feeds/gzip-bomb.xml": faults.gzip_bomb(),
            "/feeds/html-page": static(article(5)),
            "/fault/recovers-503": Flaky(2, 503),
            "/fault/recovers-429": Flaky(1, 429, {"Retry-After": "1"}),
            "/fault/bad-charset": static(
                b"<html><body><p>" + GERMAN_CP1252.encode("cp1252") + b"</p></body></html>",

                content_type="text/html; charset=utf-8"),
            "/fault/404": faults.status(404),
            "/fault/410": faults.status(410),
            "/fault/500": faults.status(500),
            "/fault/pdf": static(b"%PDF-1.7\n", content_type="application/pdf"),
            "/fault/image": static(b"\x89PNG\r\n\x1a\n", content_type="image/png"),
            "/fault/huge": static(b"<html>" + b"x" * (3 * 1024 * 1024)),
            "/fault/huge-stream": faults.endless_body(seconds=20),
            "/fault/gzip-bomb": faults.gzip_bomb(),
            "/fault/deflate-bomb": faults.deflate_bomb(),
            "/fault/brotli-bomb": faults.brotli_bomb(),
            "/fault/slowloris": faults.drip(interval=0.5, seconds=20),
            "/fault/slow-headers": faults.header_drip(interval=0.5, seconds=20),
            "/fault/hang": faults.drip(interval=30, seconds=30),
            "/fault/redirect-loop": faults.redirect("/fault/redirect-loop-2"),
            "/fault/redirect-loop-2": faults.redirect("/fault/redirect-loop"),
            "/fault/redirect-chain": faults.redirect("/hop/1"),
            **{f"/hop/{i}": faults.redirect(f"/hop/{i + 1}") for i in range(1, 20)},
            "/fault/redirect-metadata": faults.redirect("http://169.254.169.254/latest/"),
            "/fault/redirect-file": faults.redirect("file:///etc/passwd"),
            "/fault/reset": faults.reset(),
            "/fault/binary": static(bytes(range(256)) * 64, content_type="text/html"),
            "/fault/zstd": static(b"\x28\xb5\x2f\xfd\x00", headers={"Content-Encoding": "zstd"}),
            "/fault/bad-gzip": static(b"not gzip at all",
                                      headers={"Content-Encoding": "gzip"}),
            "/fault/status-ff": raw(b"HTTP/1.1 404 Not \xff\x01\x1b[2JFound"),
            "/fault/too-complex": static("<html><body><article>" + "<p>x</p>" * 60_000
                                         + "</article></body></html>"),
            ETAG_FEED: raw(b'HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n'
                           b'ETag: "v\xff\x01"', rss(base, ["/good/1"]).encode()),
        })

    return Site(on_start=routes)
