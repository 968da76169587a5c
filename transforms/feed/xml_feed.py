"""RSS, Atom and RDF feeds, read with feedparser from text we decoded.

feedparser gets the document as UTF-8 with a declaration that says so
(``transforms.feed.decode``), after the entity screen
(``transforms.feed.screen``) has judged the very bytes its parser reads.
A feed fetched over http(s) gets its URL as the base for relative links; a
feed read from a file gets none, so relative links stay relative and end as
``unsupported_link`` instead of pointing at an invented host.

A malformed feed still yields every entry feedparser salvaged, plus one
``malformed_feed`` problem.  One odd entry never costs the others: every
value is type-checked, and an entry that still fails is its own problem.
"""
from __future__ import annotations

import calendar
import io
import re
from datetime import UTC, datetime
from typing import Any, Mapping

import feedparser

from transforms.feed.decode import utf8_xml
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
from transforms.feed.screen import screen_xml
from transforms.feed.text import author_name, fragment, is_markup, line

# Benign bozo reasons: the document parsed, it only lied about itself.
_BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
# Our bytes are UTF-8 and say so; this header keeps feedparser from
# second-guessing that (it assumes iso-8859-1 for a response without one).
_CONTENT_TYPE = "application/xml; charset=utf-8"
_NUMERIC_REFERENCE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")


def feedparser_headers(feed_url: str) -> dict[str, str]:
    """The response headers feedparser is given (and the screen judges with)."""
    headers = {"content-type": _CONTENT_TYPE}
    base = base_url(feed_url)
    if base is not None:
        headers["content-location"] = base
    return headers


def parse_xml_feed(text: str, feed_url: str, fetched_at: datetime) -> ParsedFeed:
    """Parse a decoded RSS, Atom or RDF document."""
    document = feedparser_document(text)
    headers = feedparser_headers(feed_url)
    screen_xml(document, headers)
    parsed = _feedparser(document, headers)
    problems = _feed_problems(parsed, feed_url)
    # The loose parser, which runs when the strict one failed, leaves
    # entity references in the fields it has no type for (authors, tags, guids).
    loose = bool(problems)
    title = _title(parsed.feed)
    base = base_url(feed_url)
    entries = []
    for raw in parsed.entries:
        try:
            entry, problem = _entry(raw, feed_url, fetched_at, title, base, loose)
        except ENTRY_ERRORS as error:
            entry, problem = None, entry_failure(feed_url, error)
        if entry is not None:
            entries.append(entry)
        if problem is not None:
            problems.append(problem)
    return ParsedFeed(title, entries, problems)


def _feed_problems(parsed: Any, feed_url: str) -> list[Problem]:
    """[malformed_feed] if the strict parser failed and the loose one
    salvaged something; raises if nothing feed-like is left."""
    exc = parsed.get("bozo_exception")
    if parsed.bozo and not isinstance(exc, _BENIGN_BOZO):
        if not parsed.entries and not parsed.get("version"):
            raise FeedProblem("not_a_feed" if not parsed.feed else "malformed_feed",
                              f"unparseable feed: {exc}")
        return [("malformed_feed", feed_url,
                 f"malformed feed, {len(parsed.entries)} entries salvaged: {exc}")]
    if not parsed.get("version") and not parsed.entries:
        raise FeedProblem("not_a_feed", "document is not an RSS, Atom, RDF or JSON feed")
    return []


def feedparser_document(text: str) -> bytes:
    """The bytes feedparser is given for a decoded document."""
    return utf8_xml(drop_impossible_references(text))


def drop_impossible_references(text: str) -> str:
    """``text`` without character references to what no text may hold:
    surrogates, code points past U+10FFFF, noncharacters, C0 controls.
    feedparser's loose parser crashes on ``&#xD800;`` (and the whole feed
    was lost); the rest would only be sanitized away later."""
    return _NUMERIC_REFERENCE.sub(_keep_possible, text)


def _keep_possible(reference: re.Match) -> str:
    digits, decimal = reference.group(1), reference.group(2)
    if len((digits or decimal).lstrip("0")) > 8:
        return ""
    code = int(digits, 16) if digits else int(decimal)
    impossible = (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)
                  or (code < 0x20 and code not in (0x9, 0xA, 0xD)))
    return "" if impossible else reference.group(0)


def _feedparser(document: bytes, headers: Mapping[str, str]) -> Any:
    # BytesIO, never bytes: feedparser opens a bytes argument as a file
    # path if it can, so a body of "/etc/passwd" would read that file.
    try:
        return feedparser.parse(io.BytesIO(document), response_headers=dict(headers),
                                sanitize_html=True, resolve_relative_uris=True)
    except Exception as exc:  # noqa: BLE001 - a parser bug on hostile input is the feed's fault
        raise FeedProblem("malformed_feed",
                          f"feedparser failed: {type(exc).__name__}: {exc}") from None


def _entry(raw: Any, feed_url: str, fetched_at: datetime, feed_title: str | None,
           base: str | None, loose: bool) -> tuple[Any, Problem | None]:
    if not isinstance(raw, Mapping):
        return None, ("malformed_entry", feed_url, "feed entry is not a mapping")
    link, problem = entry_link(raw.get("link"), base, feed_url)
    guid = line(raw.get("id"), loose)
    if problem is not None:
        return None, problem
    if link is None:
        return None, ("entry_without_link", feed_url,
                      f"entry {guid or _title(raw)!r} has no link")
    return new_entry(
        feed_url, fetched_at, feed_title, link, guid=guid, title=_title(raw),
        summary=fragment(raw.get("summary"), is_markup(_detail_type(raw, "summary"))),
        content=_content(raw.get("content")),
        published_at=_utc(raw.get("published_parsed")) or _utc(raw.get("updated_parsed")),
        authors=unique(author_name(name, loose) for name in _author_names(raw)),
        tags=unique(line(tag, loose) for tag in _tag_names(raw.get("tags")))), None


def _title(node: Any) -> str | None:
    return line(node.get("title"), is_markup(_detail_type(node, "title")))


def _detail_type(node: Any, key: str) -> object:
    detail = node.get(f"{key}_detail")
    return detail.get("type") if isinstance(detail, Mapping) else None


def _content(contents: object) -> str | None:
    if not isinstance(contents, list):
        return None
    for item in contents:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if isinstance(kind, str) and ("html" in kind or "text" in kind):
            return fragment(item.get("value"), is_markup(kind))
    return None


def _author_names(raw: Any) -> list[object]:
    authors = raw.get("authors")
    if isinstance(authors, list) and authors:
        return [a.get("name") or a.get("email") if isinstance(a, Mapping) else a
                for a in authors]
    return [raw.get("author")]


def _tag_names(tags: object) -> list[object]:
    if not isinstance(tags, list):
        return []
    return [t.get("term") or t.get("label") for t in tags if isinstance(t, Mapping)]


def _utc(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None

