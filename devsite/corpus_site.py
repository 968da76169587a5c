"""Serve the fixture corpora (real news pages) as one loopback news site.

Pages are served as the raw bytes that were captured, with no charset in
the Content-Type, so newsbeam has to find the encoding itself.  Each corpus
gets an RSS feed listing its pages, titled from the page's own metadata.
"""
from __future__ import annotations

import gzip
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from devsite.server import Site, static

CORPORA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus"
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_OG_TITLE = re.compile(rb"""<meta[^>]+property=["']og:title["'][^>]+content=["']([^"']+)""",
                       re.IGNORECASE)


@dataclass(frozen=True)
class CorpusPage:
    corpus: str
    id: str
    html: bytes
    truth: str | None
    language: str | None
    original_url: str

    @property
    def path(self) -> str:
        return f"/{self.corpus}/{self.id}.html"

    @property
    def title(self) -> str:
        match = _OG_TITLE.search(self.html) or _TITLE.search(self.html)
        raw = match.group(1) if match else self.id.encode()
        text = html.unescape(raw.decode("utf-8", "replace"))
        return " ".join(text.split())[:300] or self.id


def load_corpus(name: str, root: Path = CORPORA) -> list[CorpusPage]:
    folder = root / name
    pages = []
    for line in open(folder / "docs.jsonl", encoding="utf-8"):
        doc = json.loads(line)
        raw = gzip.decompress((folder / "html" / f"{doc['id']}.html.gz").read_bytes())
        pages.append(CorpusPage(name, doc["id"], raw, doc.get("body"), doc.get("language"),
                                doc["url"]))
    return pages


def rss(base: str, title: str, pages: list[CorpusPage]) -> str:
    items = "\n".join(
        f"<item><title>{html.escape(p.title)}</title><link>{base}{p.path}</link>"
        f"<guid isPermaLink=\"false\">{p.corpus}:{p.id}</guid>"
        f"<pubDate>Mon, 24 Nov 2025 {index % 24:02d}:00:00 +0000</pubDate></item>"
        for index, p in enumerate(pages))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{html.escape(title)}</title><link>{base}/</link>"
            f"<description>Fixture corpus</description>\n{items}\n</channel></rss>")


def corpus_site(names: tuple[str, ...] = ("zyte", "fundus-dev", "trafilatura-eval"),
                latency: float = 0.0, root: Path = CORPORA) -> Site:
    """One site serving every page of ``names`` plus ``/feeds/<name>.xml``."""
    corpora = {name: load_corpus(name, root) for name in names}


    def routes(site: Site) -> None:
        base = f"http://127.0.0.1:{site.port}"
        for name, pages in corpora.items():
            for page in pages:
                site.routes[page.path] = static(page.html, content_type="text/html")
            site.routes[f"/feeds/{name}.xml"] = static(
                rss(base, f"Fixture corpus {name}", pages),
                content_type="application/rss+xml; charset=utf-8")

    return Site(on_start=routes, latency=latency)
