"""Runner-specific choices, in one place.

The stages are portable Beam; a few choices are not, because runners differ
in what they implement or in how they behave.  Each is a field of
:class:`RunnerProfile`, chosen here from the runner name and the mode, and
passed to the stages that need it.  To tune a runner, edit its profile;
to add a runner, add a profile.  No stage checks which runner it is on.

- ``spread``: a Reshuffle where a stage asks for one (before language
  detection, after the per-site clean step), to spread the articles over
  the workers again.  Prism 2.62 does not implement the trigger Reshuffle
  uses in streaming, so it is off there; per-window groups are small.
- ``seen_buckets``: the streaming seen store (``transforms/seen.py``) keeps
  ids in this many keyed buckets and expires them lazily, because Prism
  2.62 wipes a key's state when a timer is set on it.  A runner with
  working per-key event-time timers (Flink) can use per-id keys and timers
  instead; that variant belongs in ``transforms/seen.py``, chosen here.
- ``trailing_watermark``: the tick source's watermark trails the clock by a
  poll interval (``transforms/poll.py``).  On Prism 2.62 a watermark at the
  next tick let ticks still on their way through polling fall behind it and
  be dropped as late.  Safe on any runner; it costs a poll interval of
  latency.
"""
from __future__ import annotations

import dataclasses

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions


@dataclasses.dataclass(frozen=True)
class RunnerProfile:
    name: str
    spread: bool = True
    seen_buckets: int = 64
    trailing_watermark: bool = True


BATCH = RunnerProfile("batch")
PRISM_STREAMING = RunnerProfile("prism-streaming", spread=False)
STREAMING = RunnerProfile("streaming")


def runner_name(options: PipelineOptions) -> str:
    return (options.view_as(StandardOptions).runner or "").split(".")[-1]


def profile(options: PipelineOptions) -> RunnerProfile:
    """The profile for these options' runner and mode."""
    if not options.view_as(StandardOptions).streaming:
        return BATCH
    if runner_name(options) in ("", "PrismRunner"):
        return PRISM_STREAMING
    return STREAMING
