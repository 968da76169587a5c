"""Stage 1: read feeds (RSS, Atom, RDF or JSON Feed) into feed entries.

A feed is fetched through the guarded, polite HTTP client (or read from a
path the user named), screened for XML entity declarations, and parsed
with feedparser.  A malformed feed still yields every entry feedparser
could salvage, plus one dead letter for the feed itself.  Requests are
conditional (ETag / Last-Modified from the previous poll), and a body whose
hash has not changed yields nothing: a feed that did not change costs one
request and no further work.  Each poll also emits the feed's new state.
"""
from __future__ import annotations

import asyncio
import calendar
import dataclasses
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any, Iterable, Mapping

import apache_beam as beam
import feedparser
from apache_beam.pvalue import TaggedOutput

from schemas import DeadLetter, FeedEntry, FeedState
from transforms import outcomes
from transforms.feed_list import is_url, read_capped
from transforms.feed_state import (
    after_failure,
    after_response,
    body_digest,
    conditional_headers,
    deferred,
)
from transforms.http.async_dofn import AsyncIODoFn
from transforms.http.errors import FetchError
from transforms.http.fetcher import Fetcher
from transforms.http.guard import ALLOWED_SCHEMES
from transforms.http.settings import FetchSettings
from transforms.text import sanitize
from transforms.urls import article_id

STAGE = "feed"
FEED_STATES = "feed_states"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Benign bozo reasons: the document parsed, it only lied about itself.
_BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


class FeedProblem(Exception):
    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


@dataclasses.dataclass
class ParsedFeed:
    title: str | None
    entries: list[FeedEntry]
    # (error_type, url, message) for the feed or for single entries
    problems: list[tuple[str, str, str]]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    cleaned = unicodedata.normalize("NFC", sanitize(str(value))).strip()
    return cleaned or None


def _utc(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _author_name(author: Any) -> str | None:
    if isinstance(author, dict):
        name = author.get("name") or author.get("email")
    else:
        name = author
    name = _text(name)
    if name and "(" in name and name.endswith(")") and "@" in name.split("(", 1)[0]:
        name = name.split("(", 1)[1][:-1].strip()  # "jane@x.org (Jane Doe)"
    return name or None


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def screen_xml(body: bytes) -> None:
    """Refuse documents that declare entities, like defusedxml does.

    Expat caps entity amplification, but a feed never needs its own
    entities, and a declaration is the signature of billion-laughs,
    quadratic-blowup and external-entity attacks.
    """
    doctype = _DOCTYPE.search(body[:8192])
    if doctype is None:
        return
    end = body.find(b"]>", doctype.start())
    subset = body[doctype.start():end if end >= 0 else len(body)]
    if _ENTITY_DECL.search(subset):
        raise FeedProblem("xml_entities_forbidden",
                          "feed declares XML entities (billion laughs / XXE guard)")


def _link_problem(link: str) -> str | None:
    scheme = link.split(":", 1)[0].lower() if ":" in link else ""
    if scheme not in ALLOWED_SCHEMES:
        return f"entry link {link[:200]!r} is not an http(s) URL"
    return None


def _entry(feed_url: str, fetched_at: datetime, feed_title: str | None, link: str,
           **fields: Any) -> FeedEntry:
    return FeedEntry(id=article_id(link), url=link, feed_url=feed_url, fetched_at=fetched_at,
                     feed_title=feed_title, **fields)


def _parse_json_feed(body: bytes, feed_url: str, fetched_at: datetime) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except ValueError as exc:
        raise FeedProblem("malformed_feed", f"invalid JSON Feed: {exc}") from None
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        raise FeedProblem("not_a_feed", "JSON document is not a JSON Feed")
    title = _text(doc.get("title"))
    entries, problems = [], []
    for item in doc.get("items") or []:
        if not isinstance(item, dict):
            problems.append(("malformed_entry", feed_url, "JSON Feed item is not an object"))
            continue
        link = _text(item.get("url") or item.get("external_url"))
        if not link:
            problems.append(("entry_without_link", feed_url,
                             f"item {item.get('id')!r} has no url"))
            continue
        authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
        entries.append(_entry(
            feed_url, fetched_at, title, link,
            guid=_text(item.get("id")), title=_text(item.get("title")),
            summary=_text(item.get("summary")),
            content=_text(item.get("content_html") or item.get("content_text")),
            published_at=_iso(item.get("date_published") or item.get("date_modified")),
            authors=_unique(_author_name(a) for a in authors if isinstance(a, (dict, str))),
            tags=_unique(_text(t) for t in item.get("tags") or [])))
    return ParsedFeed(title, entries, problems)


def parse_feed(body: bytes, feed_url: str, fetched_at: datetime) -> ParsedFeed:
    """Parse a feed document; raise :class:`FeedProblem` if nothing is usable."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return _parse_json_feed(body, feed_url, fetched_at)
    screen_xml(body)
    base = feed_url if is_url(feed_url) else "http://invalid.localhost/"
    parsed = feedparser.parse(body, response_headers={"content-location": base},
                              sanitize_html=True, resolve_relative_uris=True)
    problems = []
    exc = parsed.get("bozo_exception")
    if parsed.bozo and not isinstance(exc, _BENIGN_BOZO):
        if not parsed.entries and not parsed.get("version"):
            raise FeedProblem("not_a_feed" if not parsed.feed else "malformed_feed",
                              f"unparseable feed: {exc}")
        problems.append(("malformed_feed", feed_url,
                         f"malformed feed, {len(parsed.entries)} entries salvaged: {exc}"))
    elif not parsed.get("version") and not parsed.entries:
        raise FeedProblem("not_a_feed", "document is not an RSS, Atom, RDF or JSON feed")
    title = _text(parsed.feed.get("title"))
    entries = []
    for raw in parsed.entries:
        link = _text(raw.get("link"))
        guid = _text(raw.get("id"))
        if not link:
            problems.append(("entry_without_link", feed_url,
                             f"entry {guid or _text(raw.get('title'))!r} has no link"))
            continue
        if link.startswith("http://invalid.localhost/"):
            problems.append(("unsupported_link", feed_url,
                             f"relative entry link in a local feed: {link[25:200]!r}"))
            continue
        bad = _link_problem(link)
        if bad:
            problems.append(("unsupported_link", link, bad))
            continue
        content = next((c.get("value") for c in raw.get("content") or []
                        if "html" in (c.get("type") or "") or "text" in (c.get("type") or "")),
                       None)
        authors = raw.get("authors") or ([raw.get("author")] if raw.get("author") else [])
        entries.append(_entry(
            feed_url, fetched_at, title, link, guid=guid, title=_text(raw.get("title")),
            summary=_text(raw.get("summary")), content=_text(content),
            published_at=_utc(raw.get("published_parsed") or raw.get("updated_parsed")),
            authors=_unique(_author_name(a) for a in authors),
            tags=_unique(_text(t.get("term") or t.get("label")) for t in raw.get("tags") or [])))
    return ParsedFeed(title, entries, problems)


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


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How often a feed may and must be polled, and when to distrust validators."""

    min_interval: timedelta = timedelta(0)
    max_interval: timedelta = timedelta(hours=24)
    revalidate_after: timedelta = timedelta(hours=24)

    def as_kwargs(self) -> dict[str, timedelta]:
        return {"min_interval": self.min_interval, "max_interval": self.max_interval}


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
            parsed = parse_feed(body, location, at)
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
                 schedule: Schedule = Schedule(), max_in_flight: int = 16):
        super().__init__(max_in_flight)
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

    async def handle(self, location: str, timestamp: Any) -> list[Any]:
        assert self._poller is not None
        return await self._poller.poll(location, self._states.get(location),
                                       run_time(self._fetched_at, timestamp))

    def on_crash(self, location: str, timestamp: Any, exc: BaseException) -> list[Any]:
        return crash_outputs(location, run_time(self._fetched_at, timestamp), exc)

    def observe(self, location: str, outputs: list[Any]) -> None:
        count_poll(outputs)


class ReadFeeds(beam.PTransform):
    """Feed locations in; feed entries, dead letters and new feed states out."""

    def __init__(self, settings: FetchSettings, fetched_at: datetime | None = None,
                 states: Mapping[str, FeedState] | None = None,
                 schedule: Schedule = Schedule(), max_in_flight: int = 16):
        super().__init__()
        self._fn = ReadFeedFn(settings, fetched_at, states, schedule, max_in_flight)

    def expand(self, locations: beam.PCollection[str]) -> tuple[
            beam.PCollection[FeedEntry], beam.PCollection[DeadLetter],
            beam.PCollection[FeedState]]:
        results = locations | "ParseFeeds" >> beam.ParDo(self._fn).with_outputs(
            outcomes.DEAD_LETTERS, FEED_STATES, main="entries")
        return results.entries, results[outcomes.DEAD_LETTERS], results[FEED_STATES]
