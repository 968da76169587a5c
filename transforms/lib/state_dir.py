"""The state directory: its layout, whole files, promotion, and one run at a time.

Everything newsbeam keeps between runs lives under one directory
(``--state-dir``, by default ``OUTPUT/_state``), on any Beam filesystem, and
only this module knows its layout:

| path | what |
| --- | --- |
| ``feeds.jsonl`` | each feed's validators, body hash, schedule and health |
| ``sites/`` | per-site boilerplate evidence (line recurrence, headlines) |
| ``seen/store/`` | the seen store: every committed article id, sharded by id |
| ``seen/sightings/`` | ids re-sighted by a stream, folded into the store at the next start |
| ``commits/`` | one record per committed window (streaming) |
| ``stories/`` | recent stories: ``members.jsonl``, plus per-window deltas (streaming) |
| ``pending/`` | a batch run's new states, promoted once the run succeeds |
| ``progress/`` | a running batch run's progress tallies (``lib/progress.py``); removed after |
| ``parking/`` | a running batch run's articles waiting in its joins (``lib/parking.py``) |
| ``STOP`` | the stop marker (streaming) |
| ``STOPPED`` | the tick source's answer to it: the time of its last tick |
| ``TICKING`` | the tick source has ticked: the stream's start (a stalled start is resubmitted) |
| ``LOCK``, ``LOCK.json`` | the run lock (local filesystems / object storage) |

**Whole files.**  Every file is written by :func:`atomic_write`: to a
dot-prefixed temporary name that is unique to the writer, then renamed into
place.  Two writers never share a temporary file, a reader never sees half
a file, and a failed write leaves no temporary behind.

**Pending, then promoted.**  A batch run writes its new states under
``pending/`` (named after the run) and :meth:`StateDir.promote` moves them
into place only after the pipeline succeeded, so a failed run never marks a
feed as fetched or an article as counted.

**One run at a time.**  Two runs promoting feed states into the same
directory at once lost states in trials, so a run holds :class:`StateLock`
for its whole life, and a second run is refused at once (exit status 2)
or after ``--lock-timeout`` seconds.
- On a local or mounted filesystem the lock is ``flock`` on
  ``STATE_DIR/LOCK``: the kernel drops it when the holder dies, even on
  ``kill -9``, so a crashed run never blocks the next one.
- On object storage (``gs://``, ``s3://``), which has no locks, it is a
  lease object ``STATE_DIR/LOCK.json`` with an expiry that the holder
  renews.  A run killed without cleanup blocks others until its lease
  expires (``LEASE_SECONDS``), and two runs starting within the same
  second can both win: schedule runs on object storage so that they do not
  overlap (Airflow ``max_active_runs=1``), and let the lease catch mistakes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime
from typing import Any, BinaryIO, Callable, Iterable

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import FeedState

_LOG = logging.getLogger(__name__)
LOCK_FILE = "LOCK"
LEASE_FILE = "LOCK.json"
LEASE_SECONDS = 120.0
FEEDS_FILE = "feeds.jsonl"
SITES = "sites"
SEEN = "seen"
COMMITS = "commits"
STORIES = "stories"
SEEN_SHARD_CHARS = 2  # 256 shards, by the first hex characters of the id
PENDING = "pending"
PROGRESS = "progress"
PARKING = "parking"
STOP_MARKER = "STOP"
STOPPED_MARKER = "STOPPED"
TICKING_MARKER = "TICKING"


def atomic_write(path: str, data: bytes | Callable[[BinaryIO], None]) -> str:
    """Write ``data`` (bytes, or a function writing to a file) to ``path``,
    on any Beam filesystem, all at once.

    The temporary name is unique per call and dot-prefixed, so dataset
    readers skip it; it is removed if anything fails.
    """
    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    temporary = f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"
    try:
        with FileSystems.create(temporary,
                                compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
        FileSystems.rename([temporary], [path])
    except BaseException:
        _remove_quietly(temporary)
        raise
    return path


def atomic_write_named(directory: str, data: Callable[[BinaryIO], None],
                       name: Callable[[], str]) -> str:
    """Like :func:`atomic_write`, for a file whose name depends on what was
    written: ``name()`` is called once ``data`` has run."""
    temporary = f"{directory}/.{uuid.uuid4().hex}.tmp"
    try:
        with FileSystems.create(temporary,
                                compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            data(handle)
        path = FileSystems.join(directory, name())
        FileSystems.rename([temporary], [path])
    except BaseException:
        _remove_quietly(temporary)
        raise
    return path


def atomic_write_json(path: str, payload: Any) -> str:
    return atomic_write(path, json.dumps(payload, indent=1, sort_keys=True,
                                         ensure_ascii=False).encode("utf-8"))


def _remove_quietly(path: str) -> None:
    try:
        if FileSystems.exists(path):
            FileSystems.delete([path])
    except Exception:  # noqa: BLE001 - best effort; the original error matters
        _LOG.warning("could not remove temporary file %s", path)


def is_local(path: str) -> bool:
    scheme = path.split("://", 1)[0] if "://" in path else ""
    return scheme in ("", "file")


class StateBusy(Exception):
    """Another run holds the state directory; the message says which."""


def _holder(command: str) -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _describe(holder: dict[str, Any]) -> str:
    return (f"newsbeam {holder.get('command', '?')} (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, since {holder.get('started', '?')})")


class StateLock:
    """Held by the launcher for a whole run; see the module docstring."""

    def __init__(self, state_dir: str, command: str):
        self.state_dir = state_dir
        self.command = command
        self._fd: int | None = None
        self._lease: str | None = None
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()

    def acquire(self, timeout: float = 0.0) -> StateLock:
        """Take the lock, waiting up to ``timeout`` seconds; else StateBusy."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            holder = self._try_acquire()
            if holder is None:
                return self
            if time.monotonic() >= deadline:
                raise StateBusy(f"the state directory {self.state_dir} is in use by "
                                f"{_describe(holder)}; runs on one state directory take "
                                "turns (see --lock-timeout)")
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def release(self) -> None:
        if self._fd is not None:
            import fcntl
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._lease is not None:
            self._stop.set()
            if self._renewer is not None:
                self._renewer.join(5)
            _remove_quietly(self._lease)
            self._lease = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._lease is not None

    def __enter__(self) -> StateLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _try_acquire(self) -> dict[str, Any] | None:
        if not FileSystems.exists(self.state_dir):
            FileSystems.mkdirs(self.state_dir)
        if is_local(self.state_dir):
            return self._try_flock()
        return self._try_lease()

    def _try_flock(self) -> dict[str, Any] | None:
        import fcntl
        path = os.path.join(self.state_dir.removeprefix("file://"), LOCK_FILE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
            except ValueError:
                holder = {}
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder(self.command)).encode("utf-8"), 0)
        self._fd = fd
        return None

    def _try_lease(self) -> dict[str, Any] | None:
        path = FileSystems.join(self.state_dir, LEASE_FILE)
        current = self._read_lease(path)
        if current is not None and current.get("expires", 0) > time.time():
            return current
        mine = {**_holder(self.command), "token": uuid.uuid4().hex}
        self._write_lease(path, mine)
        time.sleep(1.0)  # let a racing writer's lease land, then see who won
        current = self._read_lease(path)
        if current is None or current.get("token") != mine["token"]:
            return current or {}
        self._lease = path
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, args=(path, mine),
                                         name="newsbeam-lease", daemon=True)
        self._renewer.start()
        return None

    @staticmethod
    def _read_lease(path: str) -> dict[str, Any] | None:
        if not FileSystems.exists(path):
            return None
        try:
            with FileSystems.open(path) as handle:
                return json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError):
            return None

    @staticmethod
    def _write_lease(path: str, lease: dict[str, Any]) -> None:
        atomic_write_json(path, {**lease, "expires": time.time() + LEASE_SECONDS})

    def _renew(self, path: str, lease: dict[str, Any]) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            try:
                self._write_lease(path, lease)
            except Exception as exc:  # noqa: BLE001 - retried at the next beat
                _LOG.warning("could not renew the state lease %s: %s", path, exc)


# Feed states as JSON lines ----------------------------------------------------

def feed_state_to_json(state: FeedState) -> str:
    row = {}
    for field in dataclasses.fields(state):
        value = getattr(state, field.name)
        row[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def feed_state_from_json(line: str) -> FeedState:
    row: dict[str, Any] = json.loads(line)
    names = {f.name for f in dataclasses.fields(FeedState)}
    values = {}
    for key, value in row.items():
        if key not in names:
            continue  # written by a newer version: ignore, don't fail
        if key.endswith("_at") or key == "retry_after_until":
            value = datetime.fromisoformat(value) if value else None
        values[key] = value
    return FeedState(**values)


def seen_shard_of(article_id: str) -> str:
    """The seen-store shard of an id (ids are hex digests; others are hashed)."""
    head = article_id[:SEEN_SHARD_CHARS].lower()
    if len(head) == SEEN_SHARD_CHARS and all(c in "0123456789abcdef" for c in head):
        return head
    return hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:SEEN_SHARD_CHARS]


def _json_lines(rows: Iterable[dict]) -> bytes:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode("utf-8")


def _feed_lines(states: Iterable[FeedState]) -> bytes:
    return "".join(feed_state_to_json(s) + "\n"
                   for s in sorted(states, key=lambda s: s.url)).encode("utf-8")


class StateDir:
    """One state directory (any Beam filesystem); see the module docstring."""

    def __init__(self, root: str):
        self.root = root

    # Layout -----------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return FileSystems.join(self.root, *parts)

    @property
    def feeds_file(self) -> str:
        return self.path(FEEDS_FILE)

    @property
    def stop_marker(self) -> str:
        return self.path(STOP_MARKER)

    @property
    def stopped_marker(self) -> str:
        return self.path(STOPPED_MARKER)

    @property
    def ticking_marker(self) -> str:
        return self.path(TICKING_MARKER)

    @property
    def seen_dir(self) -> str:
        return self.path(SEEN)

    @property
    def commits_dir(self) -> str:
        return self.path(COMMITS)

    def pending_feeds(self, run_tag: str) -> str:
        return self.path(PENDING, f"feeds-{run_tag}.jsonl")

    def sites_dir(self, run_tag: str | None = None) -> str:
        """Where site stats go: in place, or pending for the run ``run_tag``."""
        return self.path(PENDING, f"sites-{run_tag}") if run_tag else self.path(SITES)

    # Files -------------------------------------------------------------------
    def read(self, path: str) -> bytes | None:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            return handle.read()

    def read_json(self, path: str) -> Any:
        data = self.read(path)
        return None if data is None else json.loads(data.decode("utf-8"))

    def listing(self, directory: str, pattern: str = "*.json") -> list[Any]:
        """Metadata of the files in ``directory``, sorted by path."""
        if not FileSystems.exists(directory):
            return []
        found = FileSystems.match([FileSystems.join(directory, pattern)])[0].metadata_list
        return sorted(found, key=lambda m: m.path)

    # Feed states ---------------------------------------------------------------
    def feed_states(self) -> dict[str, FeedState]:
        data = self.read(self.feeds_file)
        if data is None:
            return {}
        states = (feed_state_from_json(line) for line in data.decode("utf-8").splitlines()
                  if line.strip())
        return {state.url: state for state in states}

    def write_pending_feed_states(self, states: Iterable[FeedState], run_tag: str) -> str:
        return atomic_write(self.pending_feeds(run_tag), _feed_lines(states))

    def merge_feed_states(self, states: Iterable[FeedState]) -> dict[str, FeedState]:
        """Fold new states into ``feeds.jsonl`` at once (streaming has no end
        of run to wait for)."""
        merged = self.feed_states()
        merged.update({s.url: s for s in states})
        atomic_write(self.feeds_file, _feed_lines(merged.values()))
        return merged

    # Promotion ---------------------------------------------------------------
    def promote(self, run_tag: str) -> dict[str, FeedState]:
        """Move everything a successful batch run left pending into place:
        its feed states (merged), its site stats and its story members.
        Returns every feed state."""
        states = self.feed_states()
        pending = self.pending_feeds(run_tag)
        data = self.read(pending)
        if data is not None:
            for line in data.decode("utf-8").splitlines():
                if line.strip():
                    state = feed_state_from_json(line)
                    states[state.url] = state
            atomic_write(self.feeds_file, _feed_lines(states.values()))
            FileSystems.delete([pending])
        sites = self.sites_dir(run_tag)
        files = [m.path for m in self.listing(sites)]
        if files:
            target = self.sites_dir()
            if not FileSystems.exists(target):
                FileSystems.mkdirs(target)
            FileSystems.rename(files, [FileSystems.join(target, f.rsplit("/", 1)[1])
                                       for f in files])
        if FileSystems.exists(sites):
            FileSystems.delete([sites])
        stories = self.read(self.pending_stories(run_tag))
        if stories is not None:
            atomic_write(self.path(STORIES, "members.jsonl"), stories)
            FileSystems.delete([self.pending_stories(run_tag)])
            deltas = [m.path for m in self.listing(self.stories_dir, "delta-*.jsonl")]
            if deltas:  # the run's set included them
                FileSystems.delete(deltas)
        return states

    # The seen store ---------------------------------------------------------------
    # Every article id committed to the lake, with when it was last seen (a
    # feed listed it), its content hash and its version; sharded by id so
    # that no one reads more than the shards it needs.
    def seen_shard_path(self, shard: str) -> str:
        return self.path(SEEN, "store", f"shard-{shard}.json")

    def seen_shard(self, shard: str) -> dict[str, list]:
        """id -> [last seen (epoch s), content hash, version] for one shard."""
        return self.read_json(self.seen_shard_path(shard)) or {}

    def update_seen(self, commits: Iterable[tuple[str, float, str | None, int]],
                    sightings: Iterable[tuple[str, float]], now: float, ttl_seconds: float,
                    max_ids: int) -> int:
        """Fold committed rows (id, seen, content hash, version) and sightings
        (id, seen) into the store; drop what was last seen before the TTL and,
        per shard, the oldest past ``max_ids`` / 256.  Returns the ids added."""
        by_shard: dict[str, list] = {}
        for row in commits:
            by_shard.setdefault(seen_shard_of(row[0]), []).append(("commit", row))
        for row in sightings:
            by_shard.setdefault(seen_shard_of(row[0]), []).append(("sighting", row))
        cap = max(1, max_ids // 16 ** SEEN_SHARD_CHARS)
        added = 0
        for shard, changes in sorted(by_shard.items()):
            records = self.seen_shard(shard)
            for kind, row in changes:
                known = records.get(row[0])
                if kind == "commit":
                    article_id, seen, content_hash, version = row
                    if known is None:
                        added += 1
                    if known is None or version >= known[2]:
                        records[article_id] = [max(seen, known[0] if known else seen),
                                               content_hash, version]
                elif known is not None:
                    known[0] = max(known[0], row[1])
            fresh = {k: v for k, v in records.items() if v[0] >= now - ttl_seconds}
            kept = dict(sorted(fresh.items(), key=lambda kv: (-kv[1][0], kv[0]))[:cap])
            atomic_write(self.seen_shard_path(shard),
                         json.dumps(kept, sort_keys=True).encode("utf-8"))
        return added

    def expire_seen(self, now: float, ttl_seconds: float) -> int:
        """Drop expired ids from every shard (shards nobody touched included)."""
        dropped = 0
        for meta in self.listing(self.path(SEEN, "store"), "shard-*.json"):
            records = self.read_json(meta.path) or {}
            fresh = {k: v for k, v in records.items() if v[0] >= now - ttl_seconds}
            if len(fresh) != len(records):
                dropped += len(records) - len(fresh)
                atomic_write(meta.path, json.dumps(fresh, sort_keys=True).encode("utf-8"))
        return dropped

    def recorded_files(self) -> dict[str, float]:
        """Lake files whose rows the store already holds (path -> when recorded)."""
        return self.read_json(self.path(SEEN, "recorded.json")) or {}

    def write_recorded_files(self, files: dict[str, float]) -> None:
        atomic_write_json(self.path(SEEN, "recorded.json"), files)

    def pending_sightings(self, run_tag: str, shard: str) -> str:
        return self.path(PENDING, f"sightings-{run_tag}", f"{shard}.json")

    def stream_sightings(self, name: str) -> str:
        return self.path(SEEN, "sightings", f"{name}.json")

    def write_sightings(self, path: str, ids: Iterable[str], seen: float) -> str:
        return atomic_write_json(path, {"seen": seen, "ids": sorted(set(ids))})

    def take_sightings(self, run_tag: str | None = None) -> list[tuple[str, float]]:
        """The sightings a batch run left pending (or, without ``run_tag``, the
        ones streams left), removed as they are read: fold them in right after."""
        folder = self.path(PENDING, f"sightings-{run_tag}") if run_tag else self.path(
            SEEN, "sightings")
        found, paths = [], []
        for meta in self.listing(folder):
            record = self.read_json(meta.path) or {}
            found += [(i, float(record.get("seen", 0))) for i in record.get("ids", ())]
            paths.append(meta.path)
        if paths:
            FileSystems.delete(paths)
        if run_tag and FileSystems.exists(folder):
            FileSystems.delete([folder])
        return found

    # Commit records (streaming) ----------------------------------------------------
    def write_commit(self, window: str, record: dict[str, Any]) -> str:
        return atomic_write_json(FileSystems.join(self.commits_dir, f"{window}.json"), record)

    def commit_records(self, since: float, skip: Iterable[str] = ()) -> list[tuple[str, dict]]:
        """(path, record) of the commit records written since ``since``."""
        skip = set(skip)
        fresh = []
        for meta in self.listing(self.commits_dir):
            if meta.path in skip or (meta.last_updated_in_seconds or 0) < since - 1:
                continue
            fresh.append((meta.path, self.read_json(meta.path)))
        return fresh

    # Story members ---------------------------------------------------------------
    @property
    def stories_dir(self) -> str:
        return self.path(STORIES)

    def pending_stories(self, run_tag: str) -> str:
        return self.path(PENDING, f"stories-{run_tag}.jsonl")

    def story_members(self, skip: Iterable[str] = ()) -> tuple[list[dict], list[str]]:
        """The known story members (the base, then each streaming delta in
        order), and the delta files read, leaving out those in ``skip``."""
        rows, read = [], []
        skip = set(skip)
        base = self.read(self.path(STORIES, "members.jsonl"))
        if base is not None and "members.jsonl" not in skip:
            rows += [json.loads(line) for line in base.decode("utf-8").splitlines() if line]
        for meta in self.listing(self.stories_dir, "delta-*.jsonl"):
            if meta.path in skip:
                continue
            data = self.read(meta.path) or b""
            rows += [json.loads(line) for line in data.decode("utf-8").splitlines() if line]
            read.append(meta.path)
        return rows, read

    def write_story_members(self, rows: Iterable[dict], run_tag: str) -> str:
        """A batch run's whole, bounded member set, promoted after success."""
        return atomic_write(self.pending_stories(run_tag), _json_lines(rows))

    def write_story_delta(self, window: str, rows: Iterable[dict]) -> str:
        """A streaming window's new members, folded in at the next start."""
        return atomic_write(FileSystems.join(self.stories_dir, f"delta-{window}.jsonl"),
                            _json_lines(rows))

    def expire_story_deltas(self, before: float) -> set[str]:
        """Delete the streaming deltas last written before ``before`` (epoch
        seconds): every member in them was seen before then.  Returns the
        paths of the deltas left."""
        old, left = [], set()
        for meta in self.listing(self.stories_dir, "delta-*.jsonl"):
            if (meta.last_updated_in_seconds or 0) < before:
                old.append(meta.path)
            else:
                left.add(meta.path)
        if old:
            FileSystems.delete(old)
        return left

    def compact_stories(self, bound: Callable[[list[dict]], list[dict]]) -> int:
        """Fold the streaming deltas into the base, keeping what ``bound`` keeps."""
        rows, deltas = self.story_members()
        if not deltas:
            return len(rows)
        kept = bound(rows)
        atomic_write(self.path(STORIES, "members.jsonl"), _json_lines(kept))
        FileSystems.delete(deltas)
        return len(kept)

    # The stop marker (streaming) -------------------------------------------------
    def request_stop(self) -> None:
        atomic_write(self.stop_marker, b"stop")

    def clear_stop(self) -> None:
        """The previous stream's markers: its stop, the answer, its ticking."""
        for marker in (self.stop_marker, self.stopped_marker, self.ticking_marker):
            if FileSystems.exists(marker):
                FileSystems.delete([marker])

    def stop_requested(self) -> bool:
        return FileSystems.exists(self.stop_marker)

    def answer_stop(self, last_tick: float | None, now: float) -> float:
        """The tick source's answer to the stop marker: its last tick, and when
        it saw the marker.  Written once; a retried or restored call keeps the
        first answer.  Returns when the marker was first seen."""
        answer = self._stop_answer()
        if answer is not None and isinstance(answer.get("stopped_at"), (int, float)):
            return float(answer["stopped_at"])
        atomic_write_json(self.stopped_marker, {"last_tick": last_tick, "stopped_at": now})
        return now

    def last_tick(self) -> tuple[bool, float | None]:
        """Whether the tick source has stopped, and the time of its last
        tick (None if it never ticked)."""
        answer = self._stop_answer()
        if answer is None:
            return False, None
        last = answer.get("last_tick")
        return True, float(last) if isinstance(last, (int, float)) else None

    def mark_ticking(self, start: float) -> None:
        """The tick source of the stream started at ``start`` has ticked."""
        atomic_write_json(self.ticking_marker, {"start": start})

    def ticking(self, start: float) -> bool:
        """Whether the tick source of the stream started at ``start`` has ticked."""
        answer = self._marker(self.ticking_marker)
        return answer is not None and answer.get("start") == start

    def _stop_answer(self) -> dict | None:
        return self._marker(self.stopped_marker)

    def _marker(self, path: str) -> dict | None:
        """A JSON marker's content; None when it is absent or unreadable."""
        try:
            answer = self.read_json(path)
        except (OSError, ValueError):
            return None
        return answer if isinstance(answer, dict) else None

    # Progress tallies (batch) ------------------------------------------------------
    # Scratch, not state: one small file per reporting DoFn instance while a
    # run goes on (transforms/lib/progress.py), summed by the launcher.  The
    # run holds the lock, so whatever is there when it starts is a killed
    # run's leftover.
    def progress_dir(self, run_tag: str) -> str:
        return self.path(PROGRESS, run_tag)

    def start_progress(self, run_tag: str) -> str:
        """An empty progress directory for the run ``run_tag``."""
        self.clear_progress()
        directory = self.progress_dir(run_tag)
        FileSystems.mkdirs(directory)
        return directory

    def progress_counts(self, run_tag: str) -> dict[str, int]:
        """Every tally of the run ``run_tag``, summed; a file that cannot be
        read now (being replaced, or the run ending) counts at the next look."""
        totals: dict[str, int] = {}
        for meta in self.listing(self.progress_dir(run_tag)):
            try:
                counts = self.read_json(meta.path)
            except (OSError, ValueError):
                continue
            for name, value in (counts or {}).items():
                if isinstance(value, int):
                    totals[name] = totals.get(name, 0) + value
        return totals

    def clear_progress(self) -> None:
        folder = self.path(PROGRESS)
        if FileSystems.exists(folder):
            FileSystems.delete([folder])

    # Parked records (batch, local runner) -----------------------------------------
    # Scratch, not state, like the progress tallies: the files where a run's
    # articles wait for its joins (transforms/lib/parking.py).  The run holds
    # the lock, so whatever is there when it starts is a killed run's
    # leftover.
    def start_parking(self, run_tag: str) -> str:
        """An empty parking directory for the run ``run_tag``."""
        self.clear_parking()
        directory = self.path(PARKING, run_tag)
        FileSystems.mkdirs(directory)
        return directory

    def clear_parking(self) -> None:
        folder = self.path(PARKING)
        if FileSystems.exists(folder):
            FileSystems.delete([folder])

    # The lock ----------------------------------------------------------------------
    def lock(self, command: str) -> StateLock:
        return StateLock(self.root, command)
