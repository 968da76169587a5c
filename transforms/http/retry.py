"""Retrying transient failures with capped exponential backoff and full jitter.

Bounded twice: by a number of attempts and by a time budget per URL, so a
host that keeps answering 503 costs at most ``retry_budget`` seconds plus
one request.  A server's Retry-After is honoured when it fits the budget;
when it does not, the failure is final and says so.  Jitter only changes
when a request is sent, never what is written, so output stays
deterministic.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Awaitable, Callable, TypeVar

from transforms.http.errors import FetchError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    budget: float = 60.0
    base: float = 0.5
    cap: float = 10.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter delay before attempt ``attempt + 1`` (attempt counts from 1)."""
        return rng.uniform(0, min(self.cap, self.base * (2 ** (attempt - 1))))


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy,
                       rng: random.Random,
                       clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """Run ``call`` until it succeeds, fails permanently, or the policy is spent.

    A final failure carries the number of attempts in its message.
    """
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except FetchError as exc:
            if not exc.transient or attempt >= policy.max_attempts:
                raise _final(exc, attempt) from None
            wait = policy.backoff(attempt, rng)
            if exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            spent = clock() - started
            if spent + wait > policy.budget:
                reason = (f"Retry-After {exc.retry_after:g}s" if exc.retry_after is not None
                          and exc.retry_after >= wait else f"backoff {wait:.1f}s")
                raise _final(exc, attempt, f"{reason} would exceed the "
                                           f"{policy.budget:g}s retry budget") from None
            await sleep(wait)


def _final(exc: FetchError, attempts: int, why: str = "") -> FetchError:
    detail = f" (after {attempts} attempt{'s' if attempts != 1 else ''}"
    detail += f"; {why})" if why else ")"
    error = FetchError(exc.error_type, exc.message + detail, http_status=exc.http_status,
                       transient=exc.transient, retry_after=exc.retry_after)
    error.attempts = attempts
    return error
