"""The batch job: feeds to clean, language-tagged articles, once.

``build`` wires the source (read every feed once), the article chain
(``transforms/articles.py``, shared with the stream) and the sink onto any
pipeline (tests hand it a TestPipeline); ``run`` parses arguments, checks
that the run can start at all, runs it, promotes the state it left pending
and reports.  Usage: ``newsbeam ingest --feeds F --output D`` or
``python -m pipelines.ingest --feeds F --output D``.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import time
from datetime import datetime
from typing import Mapping, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import runners, summary
from pipelines.launcher import feeds_and_output, lock_state, pipeline_options, start
from pipelines.options import NewsbeamOptions
from pipelines.progress import RunProgress
from schemas import FeedState
from transforms import seen
from transforms.articles import ArticleChain
from transforms.feed.locations import load_feed_list
from transforms.feeds import ReadFeeds, WriteFeedStates
from transforms.lib.datasets import ARTICLES, ERRORS
from transforms.lib.parking import Parking
from transforms.lib.state_dir import StateDir, StateLock, is_local
from transforms.write import WriteDataset

_LOG = logging.getLogger("newsbeam")


@dataclasses.dataclass
class Outputs:
    articles: beam.PCollection
    dead_letters: beam.PCollection
    article_commits: beam.PCollection
    error_commits: beam.PCollection


def run_tag(fetched_at: datetime) -> str:
    return fetched_at.strftime("%Y%m%dT%H%M%SZ")


def build(p: beam.Pipeline, options: PipelineOptions,
          feeds: Sequence[str] | None = None,
          fetched_at: datetime | None = None,
          states: Mapping[str, FeedState] | None = None,
          progress_dir: str | None = None,
          parking_dir: str | None = None) -> Outputs:
    """Add the batch ingestion graph to ``p``.

    ``states`` are the feeds' states from earlier runs (validators, hashes,
    Retry-After); the run's new states go to a pending file that ``run``
    promotes once the pipeline has succeeded.  With ``progress_dir`` the
    feed, fetch and write stages tally their progress there for the
    launcher's display (``pipelines/progress.py``).  With ``parking_dir``
    articles wait for the run-wide joins in files there, not in memory
    (``transforms/lib/parking.py``); ``run`` gives one on the local runner.
    """
    opts = options.view_as(NewsbeamOptions)
    feeds = list(feeds) if feeds is not None else load_feed_list(opts.feeds)
    fetched_at = fetched_at or opts.fetched_at_time()
    tag = run_tag(fetched_at)
    sink = opts.sink()

    locations = p | "FeedLocations" >> beam.Create(sorted(set(feeds)))
    entries, feed_dead, feed_states = locations | "ReadFeeds" >> ReadFeeds(
        opts.fetch_settings(), fetched_at, states, opts.schedule(), opts.max_in_flight,
        progress_dir)
    chain = dataclasses.replace(opts.chain_settings(tag), progress_dir=progress_dir,
                                parking=Parking(parking_dir))
    articles, chain_dead = entries | "Articles" >> ArticleChain(
        chain, runners.profile(options).spread)
    dead = (feed_dead, chain_dead) | "AllDeadLetters" >> beam.Flatten()
    article_commits = articles | "WriteArticles" >> WriteDataset(sink, ARTICLES, tag,
                                                                 progress_dir)
    error_commits = dead | "WriteErrors" >> WriteDataset(sink, ERRORS, tag, progress_dir)
    feed_states | "WriteFeedStates" >> WriteFeedStates(opts.state_directory(), tag)
    return Outputs(articles, dead, article_commits, error_commits)


def prepare(argv: Sequence[str]) -> tuple[PipelineOptions, list[str], StateLock]:
    options = pipeline_options(argv)
    feeds = feeds_and_output(options)
    return options, feeds, lock_state(options, "ingest")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the batch job; returns the process exit status."""
    prepared = start("ingest", "Read feeds once; write clean articles and dead letters to "
                     "Parquet.", argv, prepare)
    if isinstance(prepared, int):
        return prepared
    options, feeds, lock = prepared
    try:
        return _ingest(options, feeds)
    finally:
        lock.release()


def _ingest(options: PipelineOptions, feeds: list[str]) -> int:
    opts = options.view_as(NewsbeamOptions)
    fetched_at = opts.fetched_at_time()
    tag = run_tag(fetched_at)
    state = StateDir(opts.state_directory())
    sink = opts.sink()
    ttl = opts.seen_ttl * 3600
    started = time.monotonic()
    # What an earlier, killed or failed, run committed is known before this
    # one starts: it is neither written again nor lost.
    seen.reconcile(state, sink, fetched_at.timestamp(), ttl, opts.seen_max_ids)
    progress = RunProgress(options, state, tag, len(feeds))
    parks = runners.profile(options).park and is_local(state.root)
    try:
        parking = state.start_parking(tag) if parks else None
        pipeline = beam.Pipeline(options=options)
        build(pipeline, options, feeds, fetched_at, state.feed_states(), progress.directory,
              parking)
        result = pipeline.run()
        progress.watch(result)
        result.wait_until_finish()
    finally:
        progress.stop()
        if parks:
            state.clear_parking()
    # The commit of a batch run: what it left pending becomes the state, and
    # what it wrote joins the seen store.
    states = state.promote(tag)
    seen.reconcile(state, sink, fetched_at.timestamp(), ttl, opts.seen_max_ids, tag)
    report = summary.from_result(result, sink=opts.sink(), output=opts.output, feeds=len(feeds),
                                 fetched_at=fetched_at,
                                 seconds=time.monotonic() - started,
                                 feed_states=[states[f] for f in feeds if f in states])
    print(summary.render(report))
    summary.save(report, opts.output)
    return 0


if __name__ == "__main__":
    sys.exit(run())
