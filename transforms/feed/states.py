"""Feed state between polls: conditional requests, scheduling, health.

Pure functions decide what to send and what to remember; the state
directory (``transforms.lib.state_dir``) keeps the states between runs.
"""
from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import re
from datetime import datetime, timedelta
from typing import Mapping

from schemas import FeedState

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-cache|no-store)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How often a feed may and must be polled, and when to distrust validators."""

    min_interval: timedelta = timedelta(0)
    max_interval: timedelta = timedelta(hours=24)
    revalidate_after: timedelta = timedelta(hours=24)

    def as_kwargs(self) -> dict[str, timedelta]:
        return {"min_interval": self.min_interval, "max_interval": self.max_interval}


# Outcomes recorded in FeedState.last_outcome.
FETCHED, NOT_MODIFIED, UNCHANGED, FAILED, DEFERRED = (
    "fetched", "not_modified", "unchanged", "failed", "deferred")


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def conditional_headers(state: FeedState | None, at: datetime,
                        revalidate_after: timedelta) -> dict[str, str]:
    """If-None-Match / If-Modified-Since, unless a full fetch is due.

    Some servers keep their validators after the content changes, so a
    conditional GET could hide new items forever: every ``revalidate_after``
    the feed is fetched in full (the body hash still spares extraction when
    nothing changed), and a server caught lying is never asked
    conditionally again.
    """
    if state is None or state.validators_unreliable or state.last_full_fetch_at is None:
        return {}
    if at - state.last_full_fetch_at >= revalidate_after:
        return {}
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def freshness(headers: Mapping[str, str], at: datetime) -> timedelta | None:
    """How long the response may be reused: Cache-Control, then Expires."""
    cache_control = headers.get("cache-control", "")
    if _NO_CACHE.search(cache_control):
        return timedelta(0)
    match = _MAX_AGE.search(cache_control)
    if match:
        return timedelta(seconds=int(match.group(1)))
    expires = headers.get("expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return timedelta(0)  # RFC 9111: an invalid Expires means "already expired"
        if when is None:
            return timedelta(0)
        date = headers.get("date")
        try:
            base = email.utils.parsedate_to_datetime(date) if date else at
        except (TypeError, ValueError):
            base = at
        return max(timedelta(0), when - base)
    return None


def next_poll(at: datetime, *, min_interval: timedelta, max_interval: timedelta,
              headers: Mapping[str, str] = {}, retry_after: float | None = None
              ) -> datetime:
    """When the feed should next be polled: never sooner than the server
    asked (Retry-After, Cache-Control, Expires), never later than
    ``max_interval``, never more often than ``min_interval``."""
    wait = min_interval
    fresh = freshness(headers, at)
    if fresh is not None:
        wait = max(wait, min(fresh, max_interval))
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    return at + wait


def after_response(state: FeedState | None, url: str, at: datetime, *, status: int,
                   headers: Mapping[str, str], digest: str | None, conditional: bool,
                   entries: int, schedule: dict[str, timedelta]) -> FeedState:
    """The state after a successful poll (200 or 304)."""
    base = state or FeedState(url=url)
    if status == 304:
        return dataclasses.replace(
            base, last_attempt_at=at, last_success_at=at, last_outcome=NOT_MODIFIED,
            last_error=None, consecutive_failures=0, retry_after_until=None,
            next_poll_at=next_poll(at, headers=headers, **schedule))
    etag, modified = headers.get("etag"), headers.get("last-modified")
    unreliable = base.validators_unreliable or (
        not conditional and base.body_sha256 is not None and digest != base.body_sha256
        and ((etag and etag == base.etag) or (modified and modified == base.last_modified)))
    outcome = UNCHANGED if digest == base.body_sha256 else FETCHED
    return dataclasses.replace(
        base, etag=etag, last_modified=modified, body_sha256=digest,
        validators_unreliable=bool(unreliable), last_full_fetch_at=at, last_attempt_at=at,
        last_success_at=at, last_outcome=outcome, last_error=None, consecutive_failures=0,
        entries=entries if outcome == FETCHED else base.entries, retry_after_until=None,
        next_poll_at=next_poll(at, headers=headers, **schedule))


def after_failure(state: FeedState | None, url: str, at: datetime, *, error_type: str,
                  message: str, retry_after: float | None,
                  schedule: dict[str, timedelta]) -> FeedState:
    base = state or FeedState(url=url)
    until = at + timedelta(seconds=retry_after) if retry_after else None
    return dataclasses.replace(
        base, last_attempt_at=at, last_outcome=FAILED, last_error=f"{error_type}: {message}",
        consecutive_failures=base.consecutive_failures + 1, retry_after_until=until,
        next_poll_at=next_poll(at, retry_after=retry_after, **schedule))


def deferred(state: FeedState) -> FeedState:
    return dataclasses.replace(state, last_outcome=DEFERRED)
