"""The tight loop: newsbeam's own stages in a plain Python loop, no Beam runner.

The feeds are read by the batch source's DoFn, and the article chain
(``transforms/articles.py``, the same stages the pipelines build) runs
stage after stage in this process (``transforms.lib.stage.run_in_process``),
one request at a time.  It is the floor of newsbeam's own cost, and it
times each stage, which is where the per-stage breakdown comes from.  A
stage added to the chain is measured here without a change to this file.
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from transforms.articles import ChainSettings, stages
from transforms.extract import ExtractLimits
from transforms.feeds import ReadFeedFn
from transforms.http.settings import FetchSettings
from transforms.language import DEFAULT_SAMPLE_CHARS
from transforms.lib.datasets import ARTICLES
from transforms.lib.stage import drive, run_in_process
from transforms.lib.state_dir import atomic_write
from transforms.sinks.parquet import SortedFileWriter

# One request at a time: no overlap of network waits, which is what the
# pipeline adds on top of this floor.
SEQUENTIAL = FetchSettings(allow_private_networks=True, max_connections=1)


def run(feeds: list[str], fetched_at: datetime, out: Path,
        sample_chars: int = DEFAULT_SAMPLE_CHARS) -> dict:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    entries, _ = drive(ReadFeedFn(SEQUENTIAL, fetched_at, max_in_flight=1), feeds)
    seconds["ReadFeeds"] = time.perf_counter() - started
    settings = ChainSettings(fetch=SEQUENTIAL, max_in_flight=1, extract=ExtractLimits(),
                             language_sample_chars=sample_chars)
    passed: dict[str, int] = {}
    articles, dead = run_in_process(stages(settings), entries, seconds, passed)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    writer = SortedFileWriter(ARTICLES)
    try:
        for article in articles:
            writer.add(article)
        atomic_write(str(out / "articles.parquet"), writer.write_to)
    finally:
        writer.close()
    seconds["Write"] = time.perf_counter() - started
    return {"articles": len(articles), "pages": passed.get("FetchPages", 0),
            "dead_letters": len(dead),
            "stage_seconds": {k: round(v, 3) for k, v in seconds.items()}}
