"""Whole records that wait for a join, parked where they cost no memory.

Two joins hold every article of a run until a decision about the whole run
is known: story identity (``transforms/stories.py``) and a site's evidence
(``transforms/clean.py``).  A distributed runner's shuffle keeps what waits
on disk; the DirectRunner's keeps it in memory, twice (its grouping buffer
holds the decoded values, then an encoded copy of each group), so a batch
of 10,000 pages held about 70 MB per join even packed.

:class:`Parking` says where records wait.  Without a directory they wait
in the grouping itself, packed (``transforms/lib/packed.py``).  With one,
:func:`park` appends each packed record to a file of its bundle in that
directory and sends only a :class:`Parked` reference (about 60 bytes)
through the grouping; :class:`Unparker` reads it back where the group is
handled.  The directory must be on a disk every worker sees: the runner
profile parks only on the local batch runner (``pipelines/runners.py``),
and the batch job gives each run an empty directory under the state
directory and removes it when the run ends (``StateDir.start_parking``).

A retried bundle writes a new file, so a reference always points at bytes
its own attempt wrote; files are never rewritten while a run goes on.
"""
from __future__ import annotations

import dataclasses
import os
import uuid
from collections import OrderedDict
from typing import Any, BinaryIO, Iterator, NamedTuple

import apache_beam as beam

from transforms.lib.packed import pack, unpack

SUFFIX = ".park"
# Files an Unparker keeps open at once (one per producing bundle; a group's
# records come from few bundles).
OPEN_FILES = 32


@dataclasses.dataclass(frozen=True)
class Parking:
    """Where whole records wait for a join: ``directory`` None, in the
    grouping (packed); otherwise in files under ``directory``."""

    directory: str | None = None


def _local(directory: str | None) -> str | None:
    """A ``file://`` URL as the plain path ``open`` takes."""
    return None if directory is None else directory.removeprefix("file://")


class Parked(NamedTuple):
    """A parked record: its bytes in ``file`` (a name in the parking
    directory) at ``offset``, ``length`` long."""

    file: str
    offset: int
    length: int


class _ParkFn(beam.DoFn):
    """(key, record) in; (key, token) out, or (key, (tag, token)) with a
    tag: the token is the packed record, or where it was parked."""

    def __init__(self, parking: Parking, tag: str | None):
        self._directory = _local(parking.directory)
        self._tag = tag
        self._file: BinaryIO | None = None
        self._name = ""

    def start_bundle(self) -> None:
        self._file = None

    def process(self, element: tuple[Any, Any]) -> Iterator[tuple[Any, Any]]:
        key, record = element
        data = pack(record)
        token: Any = data
        if self._directory is not None:
            if self._file is None:
                os.makedirs(self._directory, exist_ok=True)
                self._name = uuid.uuid4().hex + SUFFIX
                self._file = open(os.path.join(self._directory, self._name), "wb")
            offset = self._file.tell()
            self._file.write(data)
            token = Parked(self._name, offset, len(data))
        yield key, token if self._tag is None else (self._tag, token)

    def finish_bundle(self) -> None:
        # Closed (flushed) before the bundle commits, so a reader that gets
        # a reference finds every byte of it.
        self._close()

    def teardown(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def park(parking: Parking, tag: str | None = None) -> beam.ParDo:
    """The step that parks: (key, record) pairs in; (key, token) out, ``tag``
    paired with the token when given (a join's side), ready for a
    GroupByKey.  A plain ParDo, so that a join can declare its output type."""
    return beam.ParDo(_ParkFn(parking, tag))


class Unparker:
    """Tokens back into records, for the DoFn that handles the groups.

    Open it in ``setup`` and ``close`` it in ``finish_bundle`` and
    ``teardown``; it keeps at most ``OPEN_FILES`` parking files open.
    """

    def __init__(self, parking: Parking):
        self._directory = _local(parking.directory)
        self._files: OrderedDict[str, BinaryIO] = OrderedDict()

    def __call__(self, token: Any) -> Any:
        if not isinstance(token, Parked):
            return unpack(token)
        if self._directory is None:
            raise ValueError(f"a parked record ({token.file}) but no parking directory")
        handle = self._files.pop(token.file, None)
        if handle is None:
            handle = open(os.path.join(self._directory, token.file), "rb")
            while len(self._files) >= OPEN_FILES:
                self._files.popitem(last=False)[1].close()
        self._files[token.file] = handle
        handle.seek(token.offset)
        data = handle.read(token.length)
        if len(data) != token.length:
            raise OSError(f"parked record {token} is cut short: {len(data)} bytes")
        return unpack(data)

    def close(self) -> None:
        while self._files:
            self._files.popitem(last=False)[1].close()
