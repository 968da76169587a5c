"""The tight loop: newsbeam's own stage functions in a plain Python loop.

No Beam, no concurrency: fetch each feed and page in turn, extract, clean
per site, detect the language, write one Parquet table.  It is the floor
of newsbeam's own cost, and it times each stage, which is where the
per-stage breakdown comes from.
"""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import Page
from transforms.boilerplate.rules import load_default_rules
from transforms.clean import clean_corpus
from transforms.extract import extract
from transforms.feeds import parse_feed
from transforms.http.charset import decode
from transforms.http.errors import FetchError
from transforms.http.fetcher import Fetcher
from transforms.http.settings import FetchSettings
from transforms.language import DEFAULT_SAMPLE_CHARS, detect, new_factory
from transforms.parquet import ARTICLES, to_table


class Timers:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def time(self, stage: str):
        timers = self

        class _Span:
            def __enter__(self):
                self.started = time.perf_counter()

            def __exit__(self, *exc):
                timers.seconds[stage] += time.perf_counter() - self.started
        return _Span()


async def _fetch_all(feeds: list[str], fetched_at: datetime, timers: Timers) -> list[Page]:
    fetcher = await Fetcher(FetchSettings(allow_private_networks=True)).open()
    pages, seen = [], set()
    try:
        for feed in feeds:
            with timers.time("fetch"):
                body = (await fetcher.feed(feed)).body
            with timers.time("feeds"):
                entries = parse_feed(body, feed, fetched_at).entries
            for entry in entries:
                if entry.id in seen:
                    continue
                seen.add(entry.id)
                with timers.time("fetch"):
                    try:
                        response = await fetcher.page(entry.url)
                    except FetchError:
                        continue
                    html, _ = decode(response.body, response.charset)
                pages.append(Page(entry=entry, final_url=response.final_url, html=html,
                                  http_status=response.status))
    finally:
        await fetcher.close()
    return pages


def run(feeds: list[str], fetched_at: datetime, out: Path,
        sample_chars: int = DEFAULT_SAMPLE_CHARS) -> dict:
    timers = Timers()
    pages = asyncio.run(_fetch_all(feeds, fetched_at, timers))
    articles = []
    for page in pages:
        with timers.time("extract"):
            article, _ = extract(page)
        if article is not None:
            articles.append(article)
    with timers.time("clean"):
        rules = load_default_rules()
        cleaned = [a for a in clean_corpus(articles, rules) if a.text]
    with timers.time("language"):
        factory = new_factory()
        import dataclasses
        tagged = []
        for article in cleaned:
            language, prob = detect(factory, article.text, sample_chars)
            tagged.append(dataclasses.replace(article, language=language, language_prob=prob))
    with timers.time("write"):
        out.mkdir(parents=True, exist_ok=True)
        table: pa.Table = to_table(ARTICLES, sorted(tagged, key=lambda a: a.id))
        pq.write_table(table, out / "articles.parquet", compression="zstd")
    return {"articles": len(tagged), "pages": len(pages),
            "stage_seconds": {k: round(v, 3) for k, v in sorted(timers.seconds.items())}}
