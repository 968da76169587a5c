"""Stage 2: fetch every entry's article page.

A failed fetch always leaves a dead letter naming the fault.  When the
feed itself carries the article's text (``content:encoded`` or a summary)
the entry also continues, without HTML, so extraction can fall back to it.
"""
from __future__ import annotations

from typing import Any

import apache_beam as beam

from schemas import DeadLetter, FeedEntry, Page
from transforms import outcomes
from transforms.http.async_dofn import AsyncIODoFn
from transforms.http.charset import decode
from transforms.http.client import PAGE, HttpClient
from transforms.http.errors import FetchError
from transforms.http.settings import FetchSettings

STAGE = "fetch"


def failed_fetch(entry: FeedEntry, exc: FetchError) -> list[Any]:
    """The dead letter for a failed fetch, plus the entry if it can be rescued."""
    outputs: list[Any] = [outcomes.dead_letter(
        STAGE, exc.error_type, exc.message, url=entry.url, feed_url=entry.feed_url,
        at=entry.fetched_at, http_status=exc.http_status, article_id=entry.id)]
    if entry.fallback_html:
        outputs.append(Page(entry=entry, http_status=exc.http_status,
                            fetch_error=exc.error_type))
    return outputs


class FetchPageFn(AsyncIODoFn):
    def __init__(self, settings: FetchSettings, max_in_flight: int = 32):
        super().__init__(max_in_flight)
        self._settings = settings
        self._client: HttpClient | None = None

    async def open(self) -> None:
        self._client = await HttpClient(self._settings).open()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def handle(self, entry: FeedEntry, timestamp: Any) -> list[Any]:
        assert self._client is not None
        try:
            response = await self._client.get(entry.url, PAGE)
        except FetchError as exc:
            return failed_fetch(entry, exc)
        html, _ = decode(response.body, response.charset)
        return [Page(entry=entry, final_url=response.final_url, html=html,
                     http_status=response.status)]

    def on_crash(self, entry: FeedEntry, timestamp: Any, exc: BaseException) -> list[Any]:
        return failed_fetch(entry, FetchError("internal_error", f"{type(exc).__name__}: {exc}"))

    def observe(self, entry: FeedEntry, outputs: list[Any]) -> None:
        fetched = any(isinstance(o, Page) and o.html is not None for o in outputs)
        outcomes.count(STAGE, "ok" if fetched else "failed")
        if not fetched and any(isinstance(o, Page) for o in outputs):
            outcomes.count(STAGE, "failed_with_feed_fallback")


class FetchPages(beam.PTransform):
    """Feed entries in, pages (or rescuable failures) and dead letters out."""

    def __init__(self, settings: FetchSettings, max_in_flight: int = 32):
        super().__init__()
        self._fn = FetchPageFn(settings, max_in_flight)

    def expand(self, entries: beam.PCollection[FeedEntry]
               ) -> tuple[beam.PCollection[Page], beam.PCollection[DeadLetter]]:
        results = entries | "Fetch" >> beam.ParDo(self._fn).with_outputs(
            outcomes.DEAD_LETTERS, main="pages")
        return results.pages, results[outcomes.DEAD_LETTERS]
