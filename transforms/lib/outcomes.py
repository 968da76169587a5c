"""Counters and dead letters: how every element's fate is recorded.

Counter names are ``<stage>.<outcome>`` in one namespace, so the run
summary can read them back without knowing the stages.  Beam's metric
containers are thread-local: code running on an event-loop thread must not
touch counters, which is why async stages count in ``observe`` on the
DoFn's own thread.

Every DoFn's per-element work runs under :func:`guarded`, in the spirit of
klio's decorators: whatever one element makes the code do, it ends as an
``internal_error`` dead letter naming the stage, the exception type and
the message, plus a counter; the run and the other elements go on.  Stages
that work on groups use :func:`isolate`, so one bad member does not take
its whole group down with it.
"""
from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, Callable, Iterable, Sequence, TypeVar

from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from schemas import Article, DeadLetter, FeedEntry, Page
from transforms.lib.text import one_line

NAMESPACE = "newsbeam"
DEAD_LETTERS = "dead_letters"
INTERNAL_ERROR = "internal_error"
_MAX_MESSAGE = 2000
_MAX_URL = 4000
_INT16 = range(-32768, 32768)
# The time of a dead letter whose element carries none (it never happens for
# the records newsbeam passes between stages); fixed, so output stays
# deterministic.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

T = TypeVar("T")
R = TypeVar("R")


def count(stage: str, outcome: str, n: int = 1) -> None:
    Metrics.counter(NAMESPACE, f"{stage}.{outcome}").inc(n)


def _small(value: int | None) -> int | None:
    return value if isinstance(value, int) and value in _INT16 else None


def dead_letter(stage: str, error_type: str, message: str, *, url: str, feed_url: str,
                at: datetime, http_status: int | None = None,
                article_id: str | None = None, attempts: int | None = None) -> TaggedOutput:
    """A dead letter on the tagged output every stage declares.

    Every string is made safe here, once, whoever built it: messages quote
    servers and feeds, and nothing with a control character, a terminal
    escape or a lone surrogate may reach Parquet.
    """
    return TaggedOutput(DEAD_LETTERS, DeadLetter(
        stage=stage, url=one_line(url, _MAX_URL), feed_url=one_line(feed_url, _MAX_URL),
        error_type=one_line(error_type, 100) or INTERNAL_ERROR,
        message=one_line(message, _MAX_MESSAGE) or error_type, at=at,
        http_status=_small(http_status), article_id=article_id, attempts=_small(attempts)))


# What an element is about, for its dead letter ----------------------------

def about(record: Any) -> dict[str, Any]:
    """url, feed_url, at and article_id of any record a stage handles."""
    if isinstance(record, Page):
        return {**about(record.entry), "url": record.final_url or record.entry.url}
    if isinstance(record, FeedEntry):
        return {"url": record.url, "feed_url": record.feed_url, "at": record.fetched_at,
                "article_id": record.id}
    if isinstance(record, Article):
        return {"url": record.final_url or record.url, "feed_url": record.feed_url,
                "at": record.fetched_at, "article_id": record.id}
    if isinstance(record, DeadLetter):
        return {"url": record.url, "feed_url": record.feed_url, "at": record.at,
                "article_id": record.article_id}
    if isinstance(record, str):  # a feed location
        return {"url": record, "feed_url": record, "at": EPOCH, "article_id": None}
    return {"url": type(record).__name__, "feed_url": "", "at": EPOCH, "article_id": None}


def itself(element: Any) -> Sequence[Any]:
    return (element,)


def members(element: tuple[Any, Iterable[Any]]) -> Sequence[Any]:
    """The records of a grouped element ``(key, records)``."""
    return list(element[1])


def internal_error(stage: str, record: Any, exc: BaseException) -> TaggedOutput:
    return dead_letter(stage, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", **about(record))


def guarded(stage: str, subjects: Callable[[Any], Sequence[Any]] = itself
            ) -> Callable[[Callable[..., Iterable[Any]]], Callable[..., Iterable[Any]]]:
    """Decorate a DoFn's ``process``: an exception becomes dead letters.

    The element's outputs are collected first and emitted only if its work
    finished, so an element ends either with all its outputs or as dead
    letters (one per record it carries, see ``subjects``), never half of
    each.  Beam still sees the wrapped signature, with its DoFn parameters.
    """
    def decorate(process: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
        @functools.wraps(process)
        def wrapper(self: Any, element: Any, *args: Any, **kwargs: Any) -> Iterable[Any]:
            try:
                outputs = list(process(self, element, *args, **kwargs) or ())
            except Exception as exc:  # noqa: BLE001 - the point: any bug becomes a record
                count(stage, INTERNAL_ERROR)
                outputs = [internal_error(stage, record, exc) for record in subjects(element)]
            yield from outputs
        return wrapper
    return decorate


def isolate(work: Callable[[list[T]], R], batch: list[T]
            ) -> tuple[R | None, list[T], list[tuple[T, Exception]]]:
    """Run ``work`` on a group; if it fails, find the members that make it fail.

    Returns the result for the members that work together, those members,
    and the failing members with their exceptions.  Costs one extra call
    per member, only when the group fails.
    """
    try:
        return work(batch), batch, []
    except Exception:  # noqa: BLE001 - narrowed down member by member below
        pass
    good: list[T] = []
    bad: list[tuple[T, Exception]] = []
    for member in batch:
        try:
            work([member])
            good.append(member)
        except Exception as exc:  # noqa: BLE001 - this member becomes a dead letter
            bad.append((member, exc))
    if not good:
        return None, [], bad
    try:
        return work(good), good, bad
    except Exception as exc:  # noqa: BLE001 - members that fail only together
        return None, [], bad + [(member, exc) for member in good]
