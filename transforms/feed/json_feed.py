"""JSON Feed (https://jsonfeed.org), read field by field.

A JSON document can put any value anywhere.  The old reader trusted the
spec, so one date that overflowed or one field of the wrong type (``tags:
5``, ``title: {}``) raised, and the whole feed became one internal_error.
Here every field is type-checked: a bad optional field reads as absent, a
bad item is that item's own dead letter, and only a document that is not a
JSON Feed, or whose ``items`` is not a list, fails as a whole.

Item links pass the same check as RSS links (``transforms.feed.links``).
Relative ones resolve against ``home_page_url`` (itself resolved against
the feed's URL) or the feed's URL; a local file has no base.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from transforms.feed.links import base_url, entry_link
from transforms.feed.model import (
    ENTRY_ERRORS,
    FeedProblem,
    ParsedFeed,
    Problem,
    entry_failure,
    new_entry,
    unique,
)
from transforms.feed.text import author_name, fragment, line

_MAX_DATE = 64


def parse_json_feed(text: str, feed_url: str, fetched_at: datetime) -> ParsedFeed:
    """Parse a decoded JSON Feed document."""
    doc = _load(text)
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or "jsonfeed.org" not in version:
        raise FeedProblem("not_a_feed", "JSON document is not a JSON Feed")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedProblem("malformed_feed",
                          f"JSON Feed items is {_kind(items)}, not a list")
    title = line(doc.get("title"))
    base = base_url(feed_url, doc.get("home_page_url"))
    entries, problems = [], []
    for item in items:
        try:
            entry, problem = _item(item, feed_url, fetched_at, title, base)
        except ENTRY_ERRORS as exc:
            entry, problem = None, entry_failure(feed_url, exc)
        if entry is not None:
            entries.append(entry)
        if problem is not None:
            problems.append(problem)
    return ParsedFeed(title, entries, problems)


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FeedProblem("malformed_feed", f"invalid JSON Feed: {exc}") from None


def _item(item: object, feed_url: str, fetched_at: datetime, feed_title: str | None,
          base: str | None) -> tuple[Any, Problem | None]:
    if not isinstance(item, dict):
        return None, ("malformed_entry", feed_url, f"JSON Feed item is {_kind(item)}, "
                                                   "not an object")
    raw_link = item.get("url")
    if raw_link is None or raw_link == "":
        raw_link = item.get("external_url")
    link, problem = entry_link(raw_link, base, feed_url)
    guid = _id(item.get("id"))
    if problem is not None:
        return None, problem
    if link is None:
        return None, ("entry_without_link", feed_url, f"item {guid!r} has no url")
    return new_entry(
        feed_url, fetched_at, feed_title, link, guid=guid, title=line(item.get("title")),
        summary=fragment(item.get("summary"), markup=False),
        content=(fragment(item.get("content_html"))
                 or fragment(item.get("content_text"), markup=False)),
        published_at=_iso(item.get("date_published")) or _iso(item.get("date_modified")),
        authors=unique(author_name(name) for name in _author_names(item)),
        tags=unique(line(tag) for tag in _list(item.get("tags")))), None


def _id(value: object) -> str | None:
    """JSON Feed ids are strings; numbers are common and kept as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return line(value)


def _author_names(item: dict) -> list[object]:
    authors = _list(item.get("authors")) or [item.get("author")]
    return [a.get("name") if isinstance(a, dict) else a for a in authors]


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > _MAX_DATE:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _kind(value: object) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"

