"""Calling DoFns directly, the way a runner would, for unit tests."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue


def _unwrap(output: Any) -> tuple[str | None, Any]:
    tag = None
    if isinstance(output, TaggedOutput):
        tag, output = output.tag, output.value
    if isinstance(output, WindowedValue):
        output = output.value
    return tag, output


def drive(fn: Any, elements: Iterable[Any], *, window: Any = None,
          timestamp: Timestamp = Timestamp(0), with_window: bool = True
          ) -> tuple[list[Any], dict[str, list[Any]]]:
    """setup, one bundle over ``elements``, teardown; returns (main, tagged)."""
    main: list[Any] = []
    tagged: dict[str, list[Any]] = defaultdict(list)

    def collect(outputs: Iterable[Any] | None) -> None:
        for output in outputs or []:
            tag, value = _unwrap(output)
            (main if tag is None else tagged[tag]).append(value)

    fn.setup()
    try:
        fn.start_bundle()
        for element in elements:
            if with_window:
                collect(fn.process(element, window or GlobalWindow(), timestamp))
            else:
                collect(fn.process(element))
        collect(fn.finish_bundle())
    finally:
        fn.teardown()
    return main, dict(tagged)
