"""The records that travel between stages.

They are frozen dataclasses: stages derive new records with
``dataclasses.replace`` instead of mutating shared ones, which keeps fused
stages on one worker from seeing each other's edits.  Sequences are tuples
for the same reason.  Timestamps are timezone-aware UTC datetimes.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime

# Bumped whenever a column is added, removed or changes meaning, so that
# readers of a lake that holds several generations can tell them apart.
# 2: ``feed_urls``, every feed that listed the article.
# 3: ``story_id`` and ``duplicate_of`` (story identity), ``version`` and
#    ``previous_content_hash`` (updated articles, with ``--on-update version``).
SCHEMA_VERSION = 3


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, as the feed described it."""

    id: str
    url: str
    feed_url: str
    fetched_at: datetime
    guid: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None
    published_at: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    feed_title: str | None = None
    # Every feed that listed this entry (set by dedup, which merges the copies).
    feed_urls: tuple[str, ...] = ()
    # What the seen store holds for this id, when it is fetched again to look
    # for an update (``--on-update version``): its version and content hash.
    known_version: int = 0
    known_content_hash: str | None = None

    @property
    def fallback_html(self) -> str | None:
        """The richest text the feed itself carries for this entry."""
        return self.content or self.summary


@dataclasses.dataclass(frozen=True)
class Page:
    """A fetched article page, or the failed attempt that extraction may
    still rescue from the feed's own text (``html`` is None then)."""

    entry: FeedEntry
    final_url: str | None = None
    html: str | None = None
    http_status: int | None = None
    fetch_error: str | None = None


@dataclasses.dataclass(frozen=True)
class RemovedLine:
    """A line the boilerplate cleaner dropped, kept for audit."""

    line: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Article:
    """A clean article: one row of the ``articles`` dataset."""

    id: str
    url: str
    feed_url: str
    source: str
    fetched_at: datetime
    text: str
    extraction_method: str
    final_url: str | None = None
    guid: str | None = None
    sitename: str | None = None
    title: str | None = None
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    language: str = "und"
    language_prob: float = 0.0
    word_count: int = 0
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    image: str | None = None
    description: str | None = None
    boilerplate_removed: tuple[RemovedLine, ...] = ()
    content_hash: str = ""
    schema_version: int = SCHEMA_VERSION
    feed_urls: tuple[str, ...] = ()
    # The first copy's id: the same for every copy of one story.
    story_id: str = ""
    # Null for the first copy of a story; the first copy's id for the others.
    duplicate_of: str | None = None
    # 1, then one more each time the article comes back with other content.
    version: int = 1
    previous_content_hash: str | None = None


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """An element that did not become an article, and why: one row of the
    ``errors`` dataset.  ``at`` is the run's (or the poll tick's) time, not
    a wall-clock read, so reruns write identical rows."""

    stage: str
    url: str
    feed_url: str
    error_type: str
    message: str
    at: datetime
    http_status: int | None = None
    article_id: str | None = None
    attempts: int | None = None


@dataclasses.dataclass(frozen=True)
class FeedState:
    """What newsbeam remembers about one feed between polls.

    Kept in the state directory as JSON lines, not in the lake: it steers
    conditional requests, scheduling and health, and is small.
    """

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    # Set when the server kept its ETag/Last-Modified while the body changed:
    # its validators cannot be trusted, so it always gets a full fetch.
    validators_unreliable: bool = False
    last_full_fetch_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    entries: int = 0
    next_poll_at: datetime | None = None
    retry_after_until: datetime | None = None
