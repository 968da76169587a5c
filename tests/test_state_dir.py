"""The state directory: whole files under concurrency, and one run at a time."""
from __future__ import annotations

import os
import threading
import time

import pytest

from transforms.lib import state_dir
from transforms.lib.state_dir import StateBusy, StateLock, atomic_write


def test_concurrent_writers_of_one_file_never_mix_or_leave_temporaries(tmp_path):
    path = str(tmp_path / "feeds.jsonl")
    payloads = [bytes([65 + i]) * 200_000 for i in range(8)]
    errors: list[BaseException] = []

    def writer(payload: bytes) -> None:
        try:
            for _ in range(20):
                atomic_write(path, payload)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert open(path, "rb").read() in payloads  # one writer's whole payload
    assert os.listdir(tmp_path) == ["feeds.jsonl"]


def test_a_failed_write_leaves_nothing(tmp_path):
    def explode(handle) -> None:
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(str(tmp_path / "x.json"), explode)
    assert os.listdir(tmp_path) == []


def test_lock_waits_up_to_the_timeout(tmp_path):
    holder = StateLock(str(tmp_path), "first").acquire()
    with pytest.raises(StateBusy, match="in use by newsbeam first"):
        StateLock(str(tmp_path), "second").acquire(timeout=0)
    threading.Timer(0.5, holder.release).start()
    started = time.monotonic()
    StateLock(str(tmp_path), "second").acquire(timeout=10).release()
    assert time.monotonic() - started < 5


def test_object_storage_lease_refuses_a_live_holder_and_takes_an_expired_one(
        tmp_path, monkeypatch):
    """gs:// and s3:// have no locks: a lease with an expiry stands in."""
    monkeypatch.setattr(state_dir, "is_local", lambda path: False)
    monkeypatch.setattr(state_dir.time, "sleep", lambda seconds: None)
    first = StateLock(str(tmp_path), "first").acquire()
    with pytest.raises(StateBusy, match="newsbeam first"):
        StateLock(str(tmp_path), "second").acquire()
    first._stop.set()  # the holder dies without cleaning up ...
    monkeypatch.setattr(state_dir, "LEASE_SECONDS", -1.0)
    state_dir.StateLock._write_lease(str(tmp_path / state_dir.LEASE_FILE),
                                     {"command": "first", "token": "old"})  # ... and expires
    second = StateLock(str(tmp_path), "second").acquire()
    second.release()
    assert not (tmp_path / state_dir.LEASE_FILE).exists()
