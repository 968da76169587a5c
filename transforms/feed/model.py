"""What every feed reader returns, whatever the format.

The XML reader (feedparser) and the JSON Feed reader live in modules of
their own; this one holds what both produce, so neither imports the other
and ``transforms.feeds`` can route a document to either.  A document that
is unusable as a whole raises :class:`FeedProblem` (one dead letter for the
feed); a single bad entry is a :data:`Problem` next to the good ones.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Iterable

from schemas import FeedEntry
from transforms.lib.urls import article_id

# (error_type, url, message) for the feed or for one entry.
Problem = tuple[str, str, str]
# What a value of an unexpected shape raises while one entry is read.  The
# readers check types first; this is the net under them, so that one odd
# entry is its own dead letter and never costs the feed its other entries.
ENTRY_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


class FeedProblem(Exception):
    """The document as a whole is unusable; ``error_type`` names why."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


@dataclasses.dataclass
class ParsedFeed:
    title: str | None
    entries: list[FeedEntry]
    problems: list[Problem]


def new_entry(feed_url: str, fetched_at: datetime, feed_title: str | None, link: str,
              **fields: Any) -> FeedEntry:
    """A feed entry whose id derives from its (already checked) link."""
    return FeedEntry(id=article_id(link), url=link, feed_url=feed_url, fetched_at=fetched_at,
                     feed_title=feed_title, **fields)


def entry_failure(feed_url: str, exc: Exception) -> Problem:
    return ("malformed_entry", feed_url, f"entry cannot be read: {type(exc).__name__}: {exc}")


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    """The non-empty values, first occurrence first."""
    return tuple(dict.fromkeys(v for v in values if v))
