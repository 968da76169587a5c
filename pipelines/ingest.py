"""The batch job: feeds to clean, language-tagged articles in Parquet.

``build`` wires the stages onto any pipeline (tests hand it a
TestPipeline); ``run`` parses arguments, checks that the run can start at
all, runs it and reports.  Usage: ``newsbeam ingest --feeds F --output D``
or ``python -m pipelines.ingest --feeds F --output D``.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import time
from datetime import datetime
from typing import Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import summary
from pipelines.launcher import feeds_and_output, lock_state, start
from pipelines.options import NewsbeamOptions
from schemas import FeedState
from transforms.boilerplate.evidence import SiteStatsStore
from transforms.clean import CleanBoilerplate
from transforms.dedup import DedupEntries
from transforms.extract import ExtractArticles
from transforms.feed_list import load_feed_list
from transforms.feed_state import FeedStateStore, WriteFeedStates
from transforms.feeds import ReadFeeds
from transforms.fetch import FetchPages
from transforms.language import DetectLanguage
from transforms.parquet import ARTICLES, ERRORS, WriteParquet
from transforms.rows import CheckRows
from transforms.state_dir import StateLock

_LOG = logging.getLogger("newsbeam")


@dataclasses.dataclass
class Outputs:
    articles: beam.PCollection
    dead_letters: beam.PCollection
    article_files: beam.PCollection
    error_files: beam.PCollection


def run_tag(fetched_at: datetime) -> str:
    return fetched_at.strftime("%Y%m%dT%H%M%SZ")


def build(p: beam.Pipeline, options: PipelineOptions,
          feeds: Sequence[str] | None = None,
          fetched_at: datetime | None = None,
          states: Mapping[str, FeedState] | None = None) -> Outputs:
    """Add the batch ingestion graph to ``p``.

    ``states`` are the feeds' states from earlier runs (validators, hashes,
    Retry-After); the run's new states go to a pending file that ``run``
    promotes once the pipeline has succeeded.
    """
    opts = options.view_as(NewsbeamOptions)
    feeds = list(feeds) if feeds is not None else load_feed_list(opts.feeds)
    fetched_at = fetched_at or opts.fetched_at_time()
    settings = opts.fetch_settings()
    tag = run_tag(fetched_at)

    locations = p | "FeedLocations" >> beam.Create(sorted(set(feeds)))
    entries, feed_dead, feed_states = locations | "ReadFeeds" >> ReadFeeds(
        settings, fetched_at, states, opts.schedule())
    unique, dedup_dead = entries | "DedupEntries" >> DedupEntries()
    pages, fetch_dead = unique | "FetchPages" >> FetchPages(settings, opts.max_in_flight)
    raw, extract_dead = pages | "ExtractArticles" >> ExtractArticles(opts.extract_limits())
    cleaned, clean_dead = raw | "CleanBoilerplate" >> CleanBoilerplate(
        state_dir=opts.state_directory(), run_tag=tag)
    # Cleaning is grouped per site; spreading the articles out again lets
    # every worker share the per-article work that follows.
    detected, language_dead = (cleaned
                               | "SpreadArticles" >> beam.Reshuffle()
                               | "DetectLanguage" >> DetectLanguage(opts.language_sample_chars))
    articles, unwritable = detected | "CheckArticles" >> CheckRows(ARTICLES)

    dead = ((feed_dead, dedup_dead, fetch_dead, extract_dead, clean_dead, language_dead,
             unwritable)
            | "AllDeadLetters" >> beam.Flatten())
    article_files = articles | "WriteArticles" >> WriteParquet(
        ARTICLES, FileSystems.join(opts.output, "articles"), tag, opts.num_shards)
    error_files = dead | "WriteErrors" >> WriteParquet(
        ERRORS, FileSystems.join(opts.output, "errors"), tag, opts.num_shards)
    feed_states | "WriteFeedStates" >> WriteFeedStates(opts.state_directory(), tag)
    return Outputs(articles, dead, article_files, error_files)


def prepare(argv: Sequence[str]) -> tuple[PipelineOptions, list[str], StateLock]:
    options = PipelineOptions(list(argv))
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
    store = FeedStateStore(opts.state_directory())
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options, feeds, fetched_at, store.load())
    result = pipeline.run()
    result.wait_until_finish()
    states = store.promote(run_tag(fetched_at))
    SiteStatsStore(opts.state_directory()).promote(run_tag(fetched_at))
    report = summary.from_result(result, output=opts.output, feeds=len(feeds),
                                 fetched_at=fetched_at,
                                 seconds=time.monotonic() - started,
                                 feed_states=[states[f] for f in feeds if f in states])
    print(summary.render(report))
    summary.save(report, opts.output)
    return 0


if __name__ == "__main__":
    sys.exit(run())
