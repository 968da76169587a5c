"""Stage 2: fetch every entry's article page, politely.

Entries are grouped by (host, shard) before fetching, so each shard of a
host is fetched by one worker at a time and the per-host limits hold for
the whole job, not per worker; the shards still let one big site use
several workers.  A failed fetch always leaves a dead letter naming the
fault.  When the feed itself carries the article's text
(``content:encoded`` or a summary) the entry also continues, without HTML,
so extraction can fall back to it.
"""
from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam

from schemas import DeadLetter, FeedEntry, Page
from transforms.http.charset import decode, looks_binary
from transforms.http.errors import FetchError
from transforms.http.fetcher import Fetcher
from transforms.http.politeness import origin_of
from transforms.http.settings import FetchSettings
from transforms.lib import outcomes, progress
from transforms.lib.async_dofn import AsyncIODoFn, Slot
from transforms.lib.stage import ApplyStage, Stage

STAGE = "fetch"
HostKey = tuple[str, int]


def host_key(entry: FeedEntry, shards: int) -> tuple[HostKey, FeedEntry]:
    """(origin, shard) for an entry; the shard follows the article id, so
    the same article always lands on the same shard."""
    return (origin_of(entry.url), int(entry.id[:8], 16) % max(1, shards)), entry


def failed_fetch(entry: FeedEntry, exc: FetchError) -> list[Any]:
    """The dead letter for a failed fetch, plus the entry if it can be rescued."""
    outputs: list[Any] = [outcomes.dead_letter(
        STAGE, exc.error_type, exc.message, url=entry.url, feed_url=entry.feed_url,
        at=entry.fetched_at, http_status=exc.http_status, article_id=entry.id,
        attempts=exc.attempts)]
    if entry.fallback_html:
        outputs.append(Page(entry=entry, http_status=exc.http_status,
                            fetch_error=exc.error_type))
    return outputs


class FetchPageFn(AsyncIODoFn):
    stage = STAGE

    def __init__(self, settings: FetchSettings, max_in_flight: int = 32,
                 progress_dir: str | None = None):
        super().__init__(max_in_flight, progress_dir)
        self._settings = settings
        self._fetcher: Fetcher | None = None

    async def open(self) -> None:
        self._fetcher = await Fetcher(self._settings).open()

    async def close(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.close()

    def work(self, element: tuple[HostKey, Iterable[FeedEntry]]
             ) -> Iterable[tuple[int, FeedEntry]]:
        (_, shard), entries = element
        # Drawn lazily: a host's group may be thousands of entries
        # (transforms/lib/async_dofn.py submits a bounded number at a time).
        return ((shard, entry) for entry in entries)

    async def handle(self, item: tuple[int, FeedEntry], timestamp: Any,
                     slot: Slot) -> list[Any]:
        shard, entry = item
        assert self._fetcher is not None
        try:
            # The slot is taken once the host's gate lets the request go:
            # a whole host shard queued here holds no memory.
            response = await self._fetcher.page(entry.url, shard, admit=slot.take)
            if looks_binary(response.body):
                raise FetchError("binary_content",
                                 f"{response.media_type or 'untyped'} body is binary, not HTML",
                                 http_status=response.status)
        except FetchError as exc:
            return failed_fetch(entry, exc)
        html, _ = decode(response.body, response.charset)
        return [Page(entry=entry, final_url=response.final_url, html=html,
                     http_status=response.status)]

    def on_crash(self, item: tuple[int, FeedEntry], timestamp: Any,
                 exc: BaseException) -> list[Any]:
        return failed_fetch(item[1], FetchError("internal_error",
                                                f"{type(exc).__name__}: {exc}"))

    def observe(self, item: tuple[int, FeedEntry], outputs: list[Any]) -> None:
        fetched = any(isinstance(o, Page) and o.html is not None for o in outputs)
        outcomes.count(STAGE, "ok" if fetched else "failed")
        if not fetched and any(isinstance(o, Page) for o in outputs):
            outcomes.count(STAGE, "failed_with_feed_fallback")
        self.tally.add(progress.PAGES)


class ByHost:
    """The grouping key of the fetch stage: (origin, shard) of an entry."""

    def __init__(self, shards: int):
        self.shards = shards

    def __call__(self, entry: FeedEntry) -> HostKey:
        return host_key(entry, self.shards)[0]


def stage(settings: FetchSettings, max_in_flight: int = 32,
          progress_dir: str | None = None) -> Stage:
    """Entries grouped by (host, shard), per window, then fetched politely;
    with ``progress_dir``, finished pages are tallied there as they go."""
    return Stage("FetchPages", FetchPageFn(settings, max_in_flight, progress_dir),
                 key=ByHost(settings.host_shards))


class FetchPages(beam.PTransform):
    """Feed entries in, pages (or rescuable failures) and dead letters out.

    In streaming, window the entries first: the grouping by host fires per
    window.
    """

    def __init__(self, settings: FetchSettings, max_in_flight: int = 32):
        super().__init__()
        self._settings = settings
        self._max_in_flight = max_in_flight

    def expand(self, entries: beam.PCollection[FeedEntry]
               ) -> tuple[beam.PCollection[Page], beam.PCollection[DeadLetter]]:
        return entries | ApplyStage(stage(self._settings, self._max_in_flight))
