"""Per-host manners: a concurrency cap, a minimum interval, and robots.txt.

A "host" is an origin (scheme, name, port), as robots.txt scopes it.  The
fetch stage groups entries by (host, shard) before fetching, so each shard
of a host is served by exactly one gate on one worker at a time; giving
each of the S shards 1/S of the host's concurrency and S times its
interval keeps the host's whole load within the limits, however many
workers the runner uses.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from typing import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import yarl
from protego import Protego

from transforms.http.errors import FetchError

ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks parsers to read at least 500 KiB
ROBOTS_TTL = 24 * 3600.0
PAUSE_CAP = 10.0  # longest a Retry-After pauses the whole host shard


def origin_of(url: str) -> str:
    """scheme://host:port as the HTTP client sees it (yarl's normalised host,
    so ``ＥＸＡＭＰＬＥ.com`` and ``example.com`` share one gate); never raises."""
    try:
        parsed = yarl.URL(url)
        scheme, host = (parsed.scheme or "").lower(), (parsed.raw_host or "").lower()
        port = parsed.port or 0
    except (ValueError, TypeError, UnicodeError):
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), 0
    port = port or {"http": 80, "https": 443}.get(scheme, 0)
    return f"{scheme}://{host}:{port}"


class HostGate:
    """Admission for one host shard: at most ``concurrency`` requests at once,
    starts at least ``interval`` seconds apart, none while paused."""

    def __init__(self, concurrency: int, interval: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._paused_until = 0.0

    def slow_down(self, interval: float) -> None:
        self.interval = max(self.interval, interval)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            now = self._clock()
            start = max(now, self._next_start, self._paused_until)
            self._next_start = start + self.interval
            if start > now:
                await self._sleep(start - now)
            yield


@dataclasses.dataclass
class Robots:
    """The robots.txt verdicts for one host."""

    parser: Protego | None
    disallow_all: bool = False
    reason: str = ""
    fetched_at: float = 0.0

    def allows(self, url: str, token: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or self.parser.can_fetch(url, token)

    def delay(self, token: str) -> float:
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(token) or 0.0
        rate = self.parser.request_rate(token)
        if rate and rate.requests:
            delay = max(delay, rate.seconds / rate.requests)
        return float(delay)


def robots_from_response(status: int | None, body: bytes, error: FetchError | None,
                         now: float) -> Robots:
    """RFC 9309: 2xx is parsed, 4xx means no rules, and a server error or
    an unreachable robots.txt means the whole host is off limits for now."""
    if error is not None:
        if error.http_status is not None and 400 <= error.http_status < 500:
            return Robots(None, fetched_at=now)
        return Robots(None, disallow_all=True, fetched_at=now,
                      reason=f"robots.txt unreachable: {error.error_type}")
    text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
    return Robots(Protego.parse(text), fetched_at=now)


class Politeness:
    """The gates and robots.txt cache of one worker."""

    def __init__(self, concurrency: int, interval: float, shards: int, max_crawl_delay: float,
                 clock: Callable[[], float] = time.monotonic):
        self._concurrency = max(1, math.ceil(concurrency / max(1, shards)))
        self._shards = max(1, shards)
        self._interval = interval * self._shards
        self._max_crawl_delay = max_crawl_delay
        self._clock = clock
        self._gates: dict[tuple[str, int], HostGate] = {}
        self._robots: dict[str, Robots] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}

    def gate(self, origin: str, shard: int) -> HostGate:
        key = (origin, shard % self._shards)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = HostGate(self._concurrency, self._interval, self._clock)
        return gate

    def apply_crawl_delay(self, gate: HostGate, delay: float) -> None:
        if delay > 0:
            gate.slow_down(min(delay, self._max_crawl_delay) * self._shards)

    def pause(self, gate: HostGate, retry_after: float | None) -> None:
        if retry_after:
            gate.pause(min(retry_after, PAUSE_CAP))

    async def robots(self, origin: str,
                     load: Callable[[str], Awaitable[Robots]]) -> Robots:
        """The host's robots.txt, loaded once per worker (single flight)."""
        cached = self._robots.get(origin)
        if cached is not None and self._clock() - cached.fetched_at < ROBOTS_TTL:
            return cached
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._robots.get(origin)
            if cached is None or self._clock() - cached.fetched_at >= ROBOTS_TTL:
                cached = self._robots[origin] = await load(origin)
            return cached
