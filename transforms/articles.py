"""The article chain: feed entries in, clean articles and dead letters out.

This is the one place the stages are put in order.  The batch job, the
stream and every benchmark build from :func:`stages`, so a new stage is one
module and one line here, and no copy of the chain can miss it:

    entries -> dedup -> skip seen -> fetch -> extract -> stories -> clean
            -> keep changed -> language -> check rows

Each pipeline adds only its source (read feeds once, or poll them forever)
and its commit (promote the state after the run, or commit per window).
In streaming the entries arrive windowed, so every grouping in the chain
(by article id, by host, by site) happens per window.
"""
from __future__ import annotations

import dataclasses

import apache_beam as beam

from schemas import Article, DeadLetter, FeedEntry
from transforms import clean, dedup, extract, fetch, language, rows, seen, stories, versions
from transforms.extract import ExtractLimits
from transforms.http.settings import FetchSettings
from transforms.language import DEFAULT_SAMPLE_CHARS
from transforms.lib.datasets import ARTICLES
from transforms.lib.parking import Parking
from transforms.lib.stage import ApplyStage, Stage


@dataclasses.dataclass(frozen=True)
class ChainSettings:
    """Everything the chain's stages are configured with (``pipelines/options.py``
    builds it from the flags, the same way for batch and streaming)."""

    fetch: FetchSettings = FetchSettings()
    max_in_flight: int = 32
    extract: ExtractLimits = ExtractLimits()
    language_sample_chars: int = DEFAULT_SAMPLE_CHARS
    # Where the seen store, the story index and the per-site evidence live;
    # with ``run_tag`` (batch) what a run adds waits under pending/ until the
    # run succeeded.  Without a state directory every entry is new.
    state_dir: str | None = None
    run_tag: str | None = None
    on_update: str = seen.SKIP
    story_ttl_hours: float = stories.DEFAULT_TTL_HOURS
    # The extract stage's learned line model (transforms/boilerplate/line_model.py).
    line_model: bool = True
    # Where a batch run that shows its progress tallies the pages to fetch
    # and those fetched (transforms/lib/progress.py); None: no tallies.
    progress_dir: str | None = None
    # Where whole articles wait for the run-wide joins (story identity, site
    # evidence): in the runner's grouping, or parked on local disk
    # (transforms/lib/parking.py; the batch job parks on the local runner).
    parking: Parking = Parking()


def stages(settings: ChainSettings) -> list[Stage]:
    """The chain, in order."""
    story = stories.StorySettings(settings.state_dir, settings.run_tag,
                                  settings.story_ttl_hours)
    return [
        dedup.stage(),
        seen.skip_stage(settings.state_dir, settings.run_tag, settings.on_update,
                        settings.progress_dir),
        fetch.stage(settings.fetch, settings.max_in_flight, settings.progress_dir),
        extract.stage(settings.extract, settings.line_model),
        stories.stage(story, settings.parking),
        clean.stage(state_dir=settings.state_dir, run_tag=settings.run_tag,
                    parking=settings.parking),
        versions.stage(),
        language.stage(settings.language_sample_chars),
        rows.stage(ARTICLES),
    ]


def stages_between(settings: ChainSettings, first: str, last: str) -> list[Stage]:
    """The stages from ``first`` to ``last`` (names, inclusive), for tools
    that start in the middle of the chain (``make eval`` starts from pages)."""
    names = [stage.name for stage in stages(settings)]
    chain = stages(settings)
    return chain[names.index(first):names.index(last) + 1]


class ArticleChain(beam.PTransform):
    """Feed entries in; articles ready for a sink, and every dead letter, out.

    ``spread`` comes from the runner profile: whether the stages that ask for
    it get a Reshuffle first (``pipelines/runners.py``).
    """

    def __init__(self, settings: ChainSettings, spread: bool = True):
        super().__init__()
        self._settings = settings
        self._spread = spread

    def expand(self, entries: beam.PCollection[FeedEntry]
               ) -> tuple[beam.PCollection[Article], beam.PCollection[DeadLetter]]:
        current, dead = entries, []
        for stage in stages(self._settings):
            current, failed = current | stage.name >> ApplyStage(stage, self._spread)
            dead.append(failed)
        return current, tuple(dead) | "DeadLetters" >> beam.Flatten()
