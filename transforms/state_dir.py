"""The state directory's two guarantees: whole files, and one run at a time.

**Whole files.**  Every file newsbeam keeps (feed states, site stats, seen
ids, commit records, the run summary) is written by :func:`atomic_write`:
to a dot-prefixed temporary name that is unique to the writer, then
renamed into place.  Two writers never share a temporary file, a reader
never sees half a file, and a failed write leaves no temporary behind.

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

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any, BinaryIO, Callable

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_LOG = logging.getLogger(__name__)
LOCK_FILE = "LOCK"
LEASE_FILE = "LOCK.json"
LEASE_SECONDS = 120.0


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
