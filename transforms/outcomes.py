"""Counters and dead letters: how every element's fate is recorded.

Counter names are ``<stage>.<outcome>`` in one namespace, so the run
summary can read them back without knowing the stages.  Beam's metric
containers are thread-local: code running on an event-loop thread must not
touch counters, which is why async stages count in ``observe`` on the
DoFn's own thread.
"""
from __future__ import annotations

from datetime import datetime

from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from schemas import DeadLetter

NAMESPACE = "newsbeam"
DEAD_LETTERS = "dead_letters"
_MAX_MESSAGE = 2000


def count(stage: str, outcome: str, n: int = 1) -> None:
    Metrics.counter(NAMESPACE, f"{stage}.{outcome}").inc(n)


def dead_letter(stage: str, error_type: str, message: str, *, url: str, feed_url: str,
                at: datetime, http_status: int | None = None,
                article_id: str | None = None, attempts: int | None = None) -> TaggedOutput:
    """A dead letter on the tagged output every stage declares."""
    text = " ".join(str(message).split())[:_MAX_MESSAGE] or error_type
    return TaggedOutput(DEAD_LETTERS, DeadLetter(
        stage=stage, url=url, feed_url=feed_url, error_type=error_type, message=text, at=at,
        http_status=http_status, article_id=article_id, attempts=attempts))
