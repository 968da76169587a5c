"""What a stage is, once, for Beam and for plain Python alike.

Every stage of the article chain has the same shape: optionally group the
elements by a key (per window), then run one DoFn whose main output goes on
and whose ``dead_letters`` output collects what failed.  A :class:`Stage`
says just that, and two things run it:

- :class:`ApplyStage`, the composite every pipeline uses;
- :func:`run_in_process`, a plain loop that calls the same DoFns the way a
  runner does (setup, bundles, teardown), for the benchmarks' tight loop
  and for tests, so that they measure and check exactly the pipeline's code.
"""
from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from typing import Any, Callable, Iterable

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transforms.lib import outcomes
from transforms.lib.packed import Unpacked, pack


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of a chain.

    ``key`` (picklable, e.g. a module-level function or a small callable
    class) groups the elements before ``fn`` sees them: ``fn`` then gets
    ``(key, [elements])``.  ``spread`` asks for a Reshuffle before the
    stage, to spread the elements over the workers again after a grouping;
    whether the runner gets one is the runner profile's decision.
    """

    name: str
    fn: beam.DoFn | None = None
    key: Callable[[Any], Any] | None = None
    spread: bool = False
    # A stage that is more than a keyed DoFn (it joins, or looks at a whole
    # window at once) brings its own composite (``transform``, elements in,
    # (main, dead letters) out) and the same work as a function over a list
    # (``local``, for run_in_process).
    transform: Callable[[], beam.PTransform] | None = None
    local: Callable[[list[Any]], tuple[list[Any], list[Any]]] | None = None


class ApplyStage(beam.PTransform):
    """Elements in; the stage's main output and its dead letters out."""

    def __init__(self, stage: Stage, spread: bool = True):
        super().__init__()
        self._stage = stage
        self._spread = spread and stage.spread

    def expand(self, elements: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        stage = self._stage
        if self._spread:
            elements = elements | "Spread" >> beam.Reshuffle()
        if stage.transform is not None:
            return elements | "Run" >> stage.transform()
        if stage.key is not None:
            # Elements wait in the grouping packed (transforms/lib/packed.py).
            key = stage.key
            elements = (elements
                        | "Key" >> beam.Map(lambda element: (key(element), pack(element)))
                        | "Group" >> beam.GroupByKey()
                        | "Unpack" >> beam.MapTuple(lambda k, packed: (k, Unpacked(packed))))
        results = elements | "Run" >> beam.ParDo(stage.fn).with_outputs(
            outcomes.DEAD_LETTERS, main="main")
        return results.main, results[outcomes.DEAD_LETTERS]


def _unwrap(output: Any) -> tuple[str | None, Any]:
    tag = None
    if isinstance(output, TaggedOutput):
        tag, output = output.tag, output.value
    if isinstance(output, WindowedValue):
        output = output.value
    return tag, output


def drive(fn: beam.DoFn, elements: Iterable[Any], window: Any = None,
          timestamp: Timestamp = Timestamp(0)) -> tuple[list[Any], dict[str, list[Any]]]:
    """setup, one bundle over ``elements``, teardown: (main, tagged outputs).

    DoFns are called as a runner calls them: those that ask for the window
    and timestamp get ``window`` (the global window by default) and
    ``timestamp``.
    """
    main: list[Any] = []
    tagged: dict[str, list[Any]] = defaultdict(list)

    def collect(outputs: Iterable[Any] | None) -> None:
        for output in outputs or []:
            tag, value = _unwrap(output)
            (main if tag is None else tagged[tag]).append(value)

    params = _runner_params(fn, window or GlobalWindow(), timestamp)
    fn.setup()
    try:
        fn.start_bundle()
        for element in elements:
            collect(fn.process(element, **params))
        collect(fn.finish_bundle())
    finally:
        fn.teardown()
    return main, dict(tagged)


def _runner_params(fn: beam.DoFn, window: Any, timestamp: Timestamp) -> dict[str, Any]:
    """The window and timestamp arguments ``fn.process`` asks for, by name
    (a DoFn may ask for either, both, or neither)."""
    import inspect
    given = ((beam.DoFn.WindowParam, window), (beam.DoFn.TimestampParam, timestamp))
    return {name: value for name, p in inspect.signature(fn.process).parameters.items()
            for param, value in given if p.default is param}


def group(stage: Stage, elements: Iterable[Any]) -> list[Any]:
    """The elements as ``stage.fn`` receives them: grouped by key, if any,
    in key order (a runner's order is arbitrary; stages must not care)."""
    if stage.key is None:
        return list(elements)
    groups: dict[Any, list[Any]] = defaultdict(list)
    for element in elements:
        groups[stage.key(element)].append(element)
    return sorted(groups.items(), key=lambda item: repr(item[0]))


def run_in_process(stages: Iterable[Stage], elements: Iterable[Any],
                   seconds: dict[str, float] | None = None,
                   outputs: dict[str, int] | None = None) -> tuple[list[Any], list[Any]]:
    """Run ``stages`` one after another in this process, no Beam runner:
    (final outputs, every dead letter).  ``seconds`` collects each stage's
    wall time and ``outputs`` the number of elements it passed on, for
    benchmarks."""
    current, dead = list(elements), []
    for stage in stages:
        started = time.perf_counter()
        if stage.local is not None:
            current, failed = stage.local(current)
            dead.extend(failed)
        else:
            current, tagged = drive(stage.fn, group(stage, current))
            dead.extend(tagged.get(outcomes.DEAD_LETTERS, []))
        if seconds is not None:
            seconds[stage.name] = seconds.get(stage.name, 0.0) + time.perf_counter() - started
        if outputs is not None:
            outputs[stage.name] = len(current)
    return current, dead
