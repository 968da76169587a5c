"""A news site that keeps publishing: item k appears in the feed at
``start + k * period`` seconds.  For the streaming tests and the soak run.

The feed lists the newest ``keep`` items (older ones drop out, as on real
sites), supports conditional GET, and each item's page is a short article
whose text names the item, so tests can map rows back to items.
"""
from __future__ import annotations

import email.utils
import hashlib
import html
import time
from dataclasses import dataclass, field

from devsite.server import Site, send

TOPICS = ("harbour", "council", "library", "railway", "festival", "hospital", "school",
          "bridge", "museum", "market")


def article(k: int) -> str:
    topic = TOPICS[k % len(TOPICS)]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Item {k}: "
            f"{topic} news</title></head><body><article><h1>Item {k}: {topic} news</h1>"
            f"<p>Item {k} reports that the {topic} committee met on Tuesday evening and agreed "
            f"on a plan for the coming year, after a debate that lasted more than three hours "
            f"and drew a large crowd of residents.</p><p>The plan for item {k} will be "
            f"published in full next week, officials said, and a public consultation on the "
            f"{topic} proposals will follow in the spring.</p>"
            f"<p>Share this article</p></article></body></html>")


@dataclass
class LiveSite:
    period: float = 2.0
    keep: int = 20
    start: float = field(default_factory=time.time)
    site: Site | None = None

    def published(self, now: float | None = None) -> int:
        """How many items are out by ``now``."""
        return max(0, int(((now or time.time()) - self.start) // self.period) + 1)

    def published_at(self, k: int) -> float:
        return self.start + k * self.period

    def path(self, k: int) -> str:
        return f"/news/item-{k}"

    def _feed(self, handler) -> None:
        count = self.published()
        items = range(max(0, count - self.keep), count)
        base = f"http://127.0.0.1:{self.site.port}"
        body = ("<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel>"
                f"<title>Live Gazette</title><link>{base}/</link>" + "".join(
                    f"<item><title>Item {k}: {TOPICS[k % len(TOPICS)]} news</title>"
                    f"<link>{base}{self.path(k)}</link><guid>{base}{self.path(k)}</guid>"
                    f"<pubDate>{email.utils.formatdate(self.published_at(k), usegmt=True)}"
                    "</pubDate></item>" for k in reversed(items)) + "</channel></rss>").encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if handler.headers.get("If-None-Match") == etag:
            send(handler, 304, b"", None, {"ETag": etag})
        else:
            send(handler, 200, body, "application/rss+xml", {"ETag": etag})

    def _page(self, handler) -> None:
        try:
            k = int(handler.path.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            send(handler, 404, b"no such item")
            return
        if k >= self.published():
            send(handler, 404, b"not yet")
            return
        send(handler, 200, article(k).encode())

    def start_site(self) -> Site:
        live = self

        class Routes(dict):
            def get(self, path, default=None):
                if path == "/feed.xml":
                    return live._feed
                if path.startswith("/news/item-"):
                    return live._page
                if path == "/robots.txt":
                    return None
                return default

        self.site = Site(routes=Routes()).start()
        return self.site

    def stop(self) -> None:
        if self.site is not None:
            self.site.stop()


def title_item(title: str) -> int:
    """Item number from a row's title ("Item 12: ...")."""
    return int(html.unescape(title).split(":", 1)[0].split()[1])
