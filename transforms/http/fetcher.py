"""Everything a well-behaved fetch needs, composed: robots.txt, per-host
gates, a global request cap, retries with backoff, and the guarded client.

Feeds skip robots.txt: the user subscribed to them by name, which is the
convention of feed readers.  Article pages, discovered from feeds, honour it.
"""
from __future__ import annotations

import asyncio
import random
import time
from typing import Awaitable, Callable, Mapping

from transforms.http import guard
from transforms.http.client import FEED, PAGE, ContentPolicy, HttpClient, Response
from transforms.http.errors import FetchError
from transforms.http.politeness import Politeness, Robots, origin_of, robots_from_response
from transforms.http.retry import RetryPolicy, with_retries
from transforms.http.settings import FetchSettings

ROBOTS = ContentPolicy(name="robots.txt", allowed=frozenset({"text/plain"}),
                       sniffed=frozenset({"", "text/html", "application/octet-stream"}),
                       signatures=(b"",))


class Fetcher:
    def __init__(self, settings: FetchSettings, resolve: guard.Resolve = guard.system_resolve,
                 seed: int | None = None):
        self.settings = settings
        self._client = HttpClient(settings, resolve)
        self._politeness = Politeness(settings.per_host_concurrency, settings.per_host_interval,
                                      settings.host_shards, settings.max_crawl_delay)
        self._retry = RetryPolicy(settings.max_attempts, settings.retry_budget,
                                  settings.backoff_base, settings.backoff_cap)
        self._rng = random.Random(seed)
        self._requests: asyncio.Semaphore | None = None

    async def open(self) -> Fetcher:
        self._requests = asyncio.Semaphore(max(1, self.settings.max_connections))
        await self._client.open()
        return self

    async def close(self) -> None:
        await self._client.close()

    async def page(self, url: str, shard: int = 0,
                   admit: Callable[[], Awaitable[None]] | None = None) -> Response:
        """The page at ``url``.  ``admit``, if given, is awaited once the
        request has passed its host's gate and before its body is loaded:
        the caller's memory bound (``AsyncIODoFn``'s result slots)."""
        # The guard first: a refused URL is reported as refused, and its
        # host's robots.txt is never requested.
        try:
            guard.check_url(url, self.settings.allow_private_networks)
        except guard.Refused as exc:
            raise FetchError(exc.error_type, str(exc)) from None
        origin = origin_of(url)
        gate = self._politeness.gate(origin, shard)
        if self.settings.respect_robots:
            robots = await self._politeness.robots(origin, self._load_robots)
            if not robots.allows(url, self.settings.robots_token):
                if robots.disallow_all and robots.reason:
                    raise FetchError("robots_unreachable", robots.reason)
                raise FetchError("robots_disallowed",
                                 f"robots.txt of {origin} disallows {url}")
            self._politeness.apply_crawl_delay(gate, robots.delay(self.settings.robots_token))
        return await self._polite_get(url, PAGE, gate, {}, admit)

    async def feed(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        gate = self._politeness.gate(origin_of(url), 0)
        return await self._polite_get(url, FEED, gate, headers or {})

    async def _polite_get(self, url: str, policy: ContentPolicy, gate,
                          headers: Mapping[str, str],
                          admit: Callable[[], Awaitable[None]] | None = None) -> Response:
        assert self._requests is not None, "Fetcher used before open()"

        # The retry budget is this URL's own cost: its attempts and backoff.
        # Time queued behind its host's gate or the global cap is not
        # counted, or a burst of slow pages on one host would turn a 503
        # that recovers into a dead letter.
        queued = 0.0

        def budget_clock() -> float:
            return time.monotonic() - queued

        async def attempt() -> Response:
            nonlocal queued
            entered = time.monotonic()
            async with gate.slot():
                if admit is not None:
                    await admit()
                async with self._requests:
                    queued += time.monotonic() - entered
                    try:
                        return await self._client.get(url, policy, headers)
                    except FetchError as exc:
                        self._politeness.pause(gate, exc.retry_after)
                        raise

        return await with_retries(attempt, self._retry, self._rng, clock=budget_clock)

    async def _load_robots(self, origin: str) -> Robots:
        now = time.monotonic()
        try:
            response = await with_retries(
                lambda: self._client.get(f"{origin}/robots.txt", ROBOTS),
                RetryPolicy(2, min(10.0, self._retry.budget), 0.5, 2.0), self._rng)
        except FetchError as exc:
            return robots_from_response(None, b"", exc, now)
        return robots_from_response(response.status, response.body, None, now)
