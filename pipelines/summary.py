"""The end-of-run summary, read from the pipeline's Beam counters.

Counters are the one channel every runner (Direct, Prism, Flink, Spark,
Dataflow) reports back to the launcher, so the summary needs no second
pass over the written files.
"""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from schemas import FeedState
from transforms.feed.states import DEFERRED, FAILED, FETCHED, NOT_MODIFIED, UNCHANGED
from transforms.lib.datasets import ARTICLES, DATASETS, ERRORS
from transforms.lib.outcomes import NAMESPACE
from transforms.lib.state_dir import atomic_write
from transforms.lib.text import printable
from transforms.sinks import Sink

SUMMARY_FILE = "run_summary.json"
FEED_OUTCOMES = (FETCHED, NOT_MODIFIED, UNCHANGED, FAILED, DEFERRED)


def counters(result: Any) -> dict[str, int]:
    """Every newsbeam counter, summed over the steps that reported it."""
    totals: dict[str, int] = defaultdict(int)
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += int(value or 0)
    return dict(sorted(totals.items()))


def _group(values: dict[str, int], prefix: str) -> dict[str, int]:
    picked = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix) and v}
    return dict(sorted(picked.items(), key=lambda kv: (-kv[1], kv[0])))


def feed_health(states: Iterable[FeedState]) -> dict[str, Any]:
    """Per-feed health for the report: failing feeds first, with why."""
    states = list(states)
    failing = sorted((s for s in states if s.consecutive_failures), key=lambda s: (
        -s.consecutive_failures, s.url))
    return {
        "healthy": len(states) - len(failing),
        "failing": [{"url": s.url, "consecutive_failures": s.consecutive_failures,
                     "last_error": s.last_error,
                     "last_success_at": s.last_success_at.isoformat()
                     if s.last_success_at else None,
                     "next_poll_at": s.next_poll_at.isoformat() if s.next_poll_at else None}
                    for s in failing],
        "validators_unreliable": sorted(s.url for s in states if s.validators_unreliable),
    }


def build_report(values: dict[str, int], *, sink: Sink, output: str, feeds: int,
                 fetched_at: datetime, seconds: float,
                 feed_states: Iterable[FeedState] = ()) -> dict[str, Any]:
    """The run summary, from the counters (see ``transforms/write.py``)."""
    articles, errors = ARTICLES.name, ERRORS.name
    return {
        "fetched_at": fetched_at.isoformat(),
        "feeds": feeds,
        "seconds": round(seconds, 2),
        "feeds_by_outcome": {k: values.get(f"feed.{k}", 0) for k in FEED_OUTCOMES},
        "feed_health": feed_health(feed_states),
        "articles": values.get(f"write.{articles}.rows", 0),
        "articles_by_language": _group(values, f"{articles}.language."),
        "articles_by_source": _group(values, f"{articles}.source."),
        "articles_by_extraction_method": _group(values, f"{articles}.method."),
        "dead_letters": values.get(f"write.{errors}.rows", 0),
        "dead_letters_by_reason": _group(values, f"{errors}.reason."),
        "commits": {d.name: values.get(f"write.{d.name}.commits", 0) for d in DATASETS},
        "output": {**{d.name: sink.location(d) for d in DATASETS},
                   "summary": FileSystems.join(output, SUMMARY_FILE)},
        "counters": {k: v for k, v in values.items()
                     if not k.startswith(tuple(f"{d.name}." for d in DATASETS))},
    }


def from_result(result: Any, **context: Any) -> dict[str, Any]:
    return build_report(counters(result), **context)


def _table(title: str, rows: dict[str, int]) -> list[str]:
    if not rows:
        return [f"{title}: none"]
    width = max(len(k) for k in rows)
    return [f"{title}:"] + [f"  {k.ljust(width)}  {v:>6}" for k, v in rows.items()]


def render(report: dict[str, Any]) -> str:
    lines = [f"newsbeam: {report['articles']} articles and {report['dead_letters']} dead "
             f"letters from {report['feeds']} feeds in {report['seconds']}s "
             f"(fetched_at {report['fetched_at']})"]
    lines += _table("Feeds", {k: v for k, v in report["feeds_by_outcome"].items() if v})
    for feed in report["feed_health"]["failing"][:10]:
        lines.append(f"  failing x{feed['consecutive_failures']}: {feed['url']} "
                     f"({feed['last_error']})")
    lines += _table("Articles by language", report["articles_by_language"])
    lines += _table("Articles by source", report["articles_by_source"])
    lines += _table("Articles by extraction method", report["articles_by_extraction_method"])
    lines += _table("Dead letters by reason (stage.error_type)", report["dead_letters_by_reason"])
    out = report["output"]
    lines.append("Written: " + ", ".join(f"{out[d.name]} ({report['commits'][d.name]} commits)"
                                         for d in DATASETS))
    lines.append(f"Summary: {out['summary']}")
    # URLs and errors quote feeds and servers: nothing may drive the terminal.
    return printable("\n".join(lines))


def save(report: dict[str, Any], output: str) -> str:
    """Write the report next to the data, replacing the previous one atomically."""
    path = FileSystems.join(output, SUMMARY_FILE)
    return atomic_write(path, json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"))
