"""Runner-specific choices, in one place.

The stages are portable Beam; a few choices are not, because runners differ
in what they implement or in how they behave.  Each is a field of
:class:`RunnerProfile`, chosen here from the runner name and the mode, and
passed to the stages that need it.  To tune a runner, edit its profile;
to add a runner, add a profile.  No stage checks which runner it is on.
A runner not named here gets the portable choices (``OTHER``).

- ``spread``: a Reshuffle where a stage asks for one (before language
  detection, after the per-site clean step), to spread the articles over
  the workers again.  The local batch runner spreads every stage's input
  by itself, so it gets none.  Prism 2.62 does not implement the trigger Reshuffle
  uses in streaming, and on Flink it made windows lose articles as late
  data, so it is off in streaming; per-window groups are small.
- ``park``: whole articles wait for the run-wide joins (story identity,
  site evidence) in files on local disk rather than in the runner's
  grouping (``transforms/lib/parking.py``).  The local batch runner keeps
  what a grouping holds in memory, twice; it parks, so its memory does not
  grow with the batch.  Cluster runners shuffle through disk already, and
  their workers share no local disk.
- ``per_id_timers``: how the streaming seen store (``transforms/seen.py``)
  expires ids.  Flink has working per-key event-time timers: one key per
  id, forgotten by a timer.  Prism 2.62 wipes a key's state when a timer is
  set on it, so there ids live in ``seen_buckets`` keyed buckets and expire
  lazily.
- ``cancel_when_stopped``: a stream whose source has finished does not end
  by itself (Flink, with checkpointing): once a stopped stream has committed
  its last window, newsbeam cancels the job itself (``pipelines/flink.py``).
- ``trailing_watermark``, ``watermark_margin``: the tick source's watermark
  trails the clock by a poll interval and a margin (``transforms/poll.py``).
  On Prism 2.62 a watermark at the next tick let ticks still on their way
  through polling fall behind it and be dropped as late.  On Flink a 2 s
  margin lost articles the same way, on a 2-core machine under load; 10 s
  did not.  It costs a poll interval and the margin of latency.
- ``stop_grace``: after the stop marker, the tick source stops ticking but
  finishes (and lets the watermark jump to the end of time) only this many
  seconds later, so the last ticks reach their windows first; ``None``: it
  never finishes, its watermark trails the clock past the last tick's
  window as always, and newsbeam cancels the job once that window is
  committed (``cancel_when_stopped``).  On Flink a watermark at the end of
  time dropped entries still on their way as late, even after a 10 s grace
  (Beam's stateful DoFns count every element after it as expired), so Flink
  holds.
"""
from __future__ import annotations

import dataclasses

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions


@dataclasses.dataclass(frozen=True)
class RunnerProfile:
    name: str
    spread: bool = True
    park: bool = False
    per_id_timers: bool = False
    seen_buckets: int = 64
    trailing_watermark: bool = True
    watermark_margin: float = 2.0
    stop_grace: float | None = 0.0
    # Runs workers on other machines: local paths must be on a filesystem
    # they all see (``--shared-filesystem``).
    distributed: bool = False
    cancel_when_stopped: bool = False
    # Seconds a submitted stream may take to tick for the first time before
    # newsbeam cancels and resubmits it (None: wait for ever).
    start_timeout: float | None = None
    # Runner flags newsbeam adds to the command line (unless given already).
    runner_flags: tuple[str, ...] = ()


# The FnApiRunner (DirectRunner batch) splits every stage's input over its
# workers anyway, at every fusion break; a Reshuffle there only holds every
# article once more in memory (one whole materialisation per Reshuffle).
LOCAL_BATCH = RunnerProfile("local-batch", spread=False, park=True)
PRISM_STREAMING = RunnerProfile("prism-streaming", spread=False)
FLINK = RunnerProfile("flink", per_id_timers=True, distributed=True, cancel_when_stopped=True,
                      watermark_margin=10.0, stop_grace=None)
# Beam Python's Reshuffle buffers elements on Flink in streaming
# (apache/beam#21591) and a window's articles then reached its write as late
# data and were dropped: measured, 4 of 49 items lost in 75 s, none in 90 s
# without it.  Batch keeps it (both slots work, output identical).
#
# A stream job on the session cluster sometimes never started: Beam's
# Flink operator (DoFnOperator.snapshotState, Beam 2.62) finishes a bundle
# still open at a checkpoint barrier and buffers its output in operator
# state until its next bundle or watermark.  The tick source's first stage
# gets one element and Impulse's final watermark, nothing else: when the
# first barrier came within a bundle time (1 s) of that element, the
# element stayed buffered for ever, checkpointed at every checkpoint
# (apache/beam BEAM-10558 covers only a watermark arriving later).
# --finish_bundle_before_checkpointing finishes bundles before the barrier
# instead, so nothing is buffered (driver: 1 of 8 starts stuck with 5 s
# checkpoints, 6 of 6 with 1 s; none with the flag).  The start watch stays
# as a safety net: a job that has not ticked 90 s after its submission is
# cancelled and submitted again; it has committed nothing.
FLINK_STREAMING = dataclasses.replace(FLINK, name="flink-streaming", spread=False,
                                      start_timeout=90.0,
                                      runner_flags=("--finish_bundle_before_checkpointing",))
# Spark, Dataflow, a PortableRunner pointed at any job server: the
# portable choices (Reshuffle, buckets, a trailing watermark with Flink's
# margin and stop grace).
OTHER = RunnerProfile("other", distributed=True, watermark_margin=10.0, stop_grace=10.0)
LOCAL_RUNNERS = frozenset({"", "DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner",
                           "FnApiRunner", "PrismRunner"})


def runner_name(options: PipelineOptions) -> str:
    return (options.view_as(StandardOptions).runner or "").split(".")[-1]


def profile(options: PipelineOptions) -> RunnerProfile:
    """The profile for these options' runner and mode."""
    runner = runner_name(options)
    streaming = options.view_as(StandardOptions).streaming
    if runner == "FlinkRunner":
        return FLINK_STREAMING if streaming else FLINK
    if runner not in LOCAL_RUNNERS:
        return OTHER
    return PRISM_STREAMING if streaming else LOCAL_BATCH
