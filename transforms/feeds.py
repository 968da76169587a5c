"""Stage 1: read feeds (RSS, Atom, RDF or JSON Feed) into feed entries.

A feed is fetched through the guarded, polite HTTP client (or read from a
path the user named), decoded by fixed rules (``transforms.feed.decode``),
screened for XML entity declarations (``transforms.feed.screen``) and read
by the XML reader (feedparser, ``transforms.feed.xml_feed``) or the JSON Feed
reader (``transforms.feed.json_feed``).  Every kept text field is plain,
sanitized text (``transforms.feed.text``) and every entry link an absolute
http(s) URL (``transforms.feed.links``).  A malformed feed still yields
every entry that could be salvaged, plus one dead letter for the feed
itself; a bad entry is its own dead letter.  Requests are conditional (ETag /
Last-Modified from the previous poll), and a body whose hash has not changed
yields nothing: a feed that did not change costs one request and no further
work.  Each poll also emits the feed's new state.
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Iterable, Mapping

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from schemas import DeadLetter, FeedEntry, FeedState
from transforms.feed.decode import decode_feed
from transforms.feed.json_feed import parse_json_feed
from transforms.feed.locations import is_url, read_capped
from transforms.feed.model import FeedProblem, ParsedFeed
from transforms.feed.screen import screen_xml
from transforms.feed.states import (
    Schedule,
    after_failure,
    after_response,
    body_digest,
    conditional_headers,
    deferred,
)
from transforms.feed.xml_feed import parse_xml_feed
from transforms.http.errors import FetchError
from transforms.http.fetcher import Fetcher
from transforms.http.settings import FetchSettings
from transforms.lib import outcomes, progress
from transforms.lib.async_dofn import AsyncIODoFn, Slot
from transforms.lib.state_dir import StateDir

__all__ = ["FEED_STATES", "FeedPoller", "FeedProblem", "ParsedFeed", "ReadFeedFn", "ReadFeeds",
           "STAGE", "count_poll", "crash_outputs", "parse_feed", "run_time",
           "screen_xml"]

STAGE = "feed"
FEED_STATES = "feed_states"


def parse_feed(body: bytes, feed_url: str, fetched_at: datetime,
               content_type: str | None = None) -> ParsedFeed:
    """Parse a feed document; raise :class:`FeedProblem` if nothing is usable.

    ``content_type`` is the HTTP Content-Type header the body came with
    (its charset is one of the decoding candidates); None for a file.
    """
    try:
        text = decode_feed(body, content_type).text
    except FeedProblem:
        if b"<" not in body and b"{" not in body:
            raise FeedProblem("not_a_feed",
                              "document is not an RSS, Atom, RDF or JSON feed") from None
        raise
    if text.lstrip().startswith("{"):
        return parse_json_feed(text, feed_url, fetched_at)
    return parse_xml_feed(text, feed_url, fetched_at)


def _read_path(location: str, max_bytes: int) -> bytes:
    data = read_capped(location, max_bytes)
    if len(data) > max_bytes:
        raise FetchError("too_large", f"feed file exceeds {max_bytes} bytes")
    return data


def run_time(fetched_at: datetime | None, timestamp: Any) -> datetime:
    """The run's fetch time: given for batch, the element's (poll tick's) in streaming."""
    if fetched_at is not None:
        return fetched_at
    return timestamp.to_utc_datetime(has_tz=True)


class FeedPoller:
    """One poll of one feed, given what the previous poll left behind.

    Shared by the batch reader (states from the state directory) and the
    streaming poller (states in Beam state); it owns no state itself.
    """

    def __init__(self, settings: FetchSettings, schedule: Schedule):
        self.settings = settings
        self.schedule = schedule
        self.fetcher: Fetcher | None = None

    async def open(self) -> FeedPoller:
        self.fetcher = await Fetcher(self.settings).open()
        return self

    async def close(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.close()

    async def _fetch(self, location: str, state: FeedState | None, at: datetime
                     ) -> tuple[int, dict[str, str], bytes, bool]:
        if not is_url(location):
            try:
                body = await asyncio.to_thread(_read_path, location, self.settings.max_bytes)
            except FileNotFoundError:
                raise FetchError("feed_not_found", f"no such feed file: {location}") from None
            except OSError as exc:
                raise FetchError("feed_unreadable", f"cannot read feed file: {exc}") from None
            return 200, {}, body, False
        assert self.fetcher is not None, "FeedPoller used before open()"
        headers = conditional_headers(state, at, self.schedule.revalidate_after)
        response = await self.fetcher.feed(location, headers)
        return response.status, dict(response.headers), response.body, bool(headers)

    async def poll(self, location: str, state: FeedState | None, at: datetime) -> list[Any]:
        """Entries, dead letters and the feed's new state (tagged FEED_STATES)."""
        schedule = self.schedule.as_kwargs()
        if state is not None and state.retry_after_until and state.retry_after_until > at:
            return [outcomes.dead_letter(
                        STAGE, "deferred_retry_after",
                        f"the server asked not to be polled before "
                        f"{state.retry_after_until.isoformat()}", url=location,
                        feed_url=location, at=at),
                    TaggedOutput(FEED_STATES, deferred(state))]
        try:
            status, headers, body, conditional = await self._fetch(location, state, at)
        except FetchError as exc:
            return [outcomes.dead_letter(STAGE, exc.error_type, exc.message, url=location,
                                         feed_url=location, at=at, http_status=exc.http_status,
                                         attempts=exc.attempts),
                    TaggedOutput(FEED_STATES, after_failure(
                        state, location, at, error_type=exc.error_type, message=exc.message,
                        retry_after=exc.retry_after, schedule=schedule))]
        digest = body_digest(body) if status != 304 else None
        if status == 304 or (state is not None and digest == state.body_sha256):
            return [TaggedOutput(FEED_STATES, after_response(
                state, location, at, status=status, headers=headers, digest=digest,
                conditional=conditional, entries=0, schedule=schedule))]
        try:
            parsed = parse_feed(body, location, at, headers.get("content-type"))
        except FeedProblem as exc:
            return [outcomes.dead_letter(STAGE, exc.error_type, str(exc), url=location,
                                         feed_url=location, at=at),
                    TaggedOutput(FEED_STATES, after_failure(
                        state, location, at, error_type=exc.error_type, message=str(exc),
                        retry_after=None, schedule=schedule))]
        outputs: list[Any] = [outcomes.dead_letter(STAGE, kind, message, url=url,
                                                   feed_url=location, at=at)
                              for kind, url, message in parsed.problems]
        outputs.extend(parsed.entries)
        outputs.append(TaggedOutput(FEED_STATES, after_response(
            state, location, at, status=status, headers=headers, digest=digest,
            conditional=conditional, entries=len(parsed.entries), schedule=schedule)))
        return outputs


def count_poll(outputs: list[Any]) -> None:
    """Counters for one poll's outputs (on the DoFn's own thread)."""
    entries = sum(1 for o in outputs if isinstance(o, FeedEntry))
    states = [o.value for o in outputs if isinstance(o, TaggedOutput) and o.tag == FEED_STATES]
    outcomes.count(STAGE, (states[0].last_outcome if states else None) or "failed")
    outcomes.count(STAGE, "entries", entries)


def crash_outputs(location: str, at: datetime, exc: BaseException) -> list[Any]:
    return [outcomes.dead_letter(STAGE, "internal_error", f"{type(exc).__name__}: {exc}",
                                 url=location, feed_url=location, at=at)]


class ReadFeedFn(AsyncIODoFn):
    """Batch: every feed once, with the states earlier runs left."""

    def __init__(self, settings: FetchSettings, fetched_at: datetime | None,
                 states: Mapping[str, FeedState] | None = None,
                 schedule: Schedule = Schedule(), max_in_flight: int = 16,
                 progress_dir: str | None = None):
        super().__init__(max_in_flight, progress_dir)
        self._settings = settings
        self._fetched_at = fetched_at
        self._states = dict(states or {})
        self._schedule = schedule
        self._poller: FeedPoller | None = None

    async def open(self) -> None:
        self._poller = await FeedPoller(self._settings, self._schedule).open()

    async def close(self) -> None:
        if self._poller is not None:
            await self._poller.close()

    async def handle(self, location: str, timestamp: Any, slot: Slot) -> list[Any]:
        # Feeds take their slot when parsed (the default): one per feed.
        assert self._poller is not None
        return await self._poller.poll(location, self._states.get(location),
                                       run_time(self._fetched_at, timestamp))

    def on_crash(self, location: str, timestamp: Any, exc: BaseException) -> list[Any]:
        return crash_outputs(location, run_time(self._fetched_at, timestamp), exc)

    def observe(self, location: str, outputs: list[Any]) -> None:
        count_poll(outputs)
        self.tally.add(progress.FEEDS)


class ReadFeeds(beam.PTransform):
    """Feed locations in; feed entries, dead letters and new feed states out.

    ``progress_dir``: where the feeds read are tallied while the run goes on
    (``transforms/lib/progress.py``), or None."""

    def __init__(self, settings: FetchSettings, fetched_at: datetime | None = None,
                 states: Mapping[str, FeedState] | None = None,
                 schedule: Schedule = Schedule(), max_in_flight: int = 16,
                 progress_dir: str | None = None):
        super().__init__()
        self._fn = ReadFeedFn(settings, fetched_at, states, schedule, max_in_flight,
                              progress_dir)

    def expand(self, locations: beam.PCollection[str]) -> tuple[
            beam.PCollection[FeedEntry], beam.PCollection[DeadLetter],
            beam.PCollection[FeedState]]:
        results = locations | "ParseFeeds" >> beam.ParDo(self._fn).with_outputs(
            outcomes.DEAD_LETTERS, FEED_STATES, main="entries")
        return results.entries, results[outcomes.DEAD_LETTERS], results[FEED_STATES]


class _WritePendingStates(beam.DoFn):
    def __init__(self, state_dir: str, run_tag: str):
        self._state_dir = state_dir
        self._run_tag = run_tag

    def process(self, states: list[FeedState]) -> Iterable[str]:
        yield StateDir(self._state_dir).write_pending_feed_states(states, self._run_tag)


class WriteFeedStates(beam.PTransform):
    """Batch: the feeds' new states in; one pending state file out, which the
    launcher promotes once the run has succeeded.

    A global combine, but on the feed path (one record per feed), never on
    the article path.
    """

    def __init__(self, state_dir: str, run_tag: str):
        super().__init__()
        self._state_dir = state_dir
        self._run_tag = run_tag

    def expand(self, states: beam.PCollection[FeedState]) -> beam.PCollection[str]:
        return (states
                | "AllStates" >> beam.combiners.ToList()
                | "WritePending" >> beam.ParDo(_WritePendingStates(self._state_dir,
                                                                   self._run_tag)))
