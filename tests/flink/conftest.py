"""The Flink suite's cluster: found, not started; every test leaves it without jobs.

The suite runs against the local session cluster of ``tools/flink/cluster.py``
(``make flink-up``), named by ``$NEWSBEAM_FLINK_NAME`` (default ``default``).
``make test-flink`` and CI run it through ``cluster.py test``, which starts a
cluster inside a network namespace that has only loopback, sets
``NEWSBEAM_FLINK=1`` and runs ``pytest tests/flink`` in it.  Elsewhere (``make
test``) the suite is skipped unless that cluster answers; with
``NEWSBEAM_FLINK=1`` a cluster that does not answer is an error, not a skip.

After every test, jobs still running on the cluster are cancelled through
Flink's REST API (Beam's job server cancels only its own wait for a job, never
the Flink job), and the test waits until none runs.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import NETGUARD, REPO

CLUSTER_SCRIPT = REPO / "tools" / "flink" / "cluster.py"
NAME = os.environ.get("NEWSBEAM_FLINK_NAME", "default")
BASE = Path(os.environ.get("NEWSBEAM_FLINK_DIR") or REPO / ".flink")
REQUIRED = os.environ.get("NEWSBEAM_FLINK") == "1"
# FlinkRunner; PortableRunner (the same job server, newsbeam's portable runner
# profile) to tell a Flink-profile problem from a Flink one.
RUNNER = os.environ.get("NEWSBEAM_FLINK_RUNNER", "FlinkRunner")
# The newsbeam command under test: the console script beside this Python,
# exactly as users run it ($NEWSBEAM_FLINK_COMMAND names another build).
NEWSBEAM = shlex.split(os.environ.get("NEWSBEAM_FLINK_COMMAND", "")) or [
    str(Path(sys.executable).with_name("newsbeam"))]


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "flink: needs the local Flink session cluster "
                            "(tools/flink/cluster.py; make test-flink)")


def pytest_collection_modifyitems(config, items) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.flink)


class Cluster:
    """The running cluster, as ``cluster.py`` recorded it in cluster.json."""

    def __init__(self, info: dict):
        self.info = info
        self.ports = info["ports"]
        self.rest_url = f"http://127.0.0.1:{self.ports['rest']}"

    @property
    def runner_flags(self) -> list[str]:
        return [f"--runner={RUNNER}", f"--job_endpoint=127.0.0.1:{self.ports['job']}",
                f"--flink_master=127.0.0.1:{self.ports['rest']}",
                "--environment_type=EXTERNAL",
                f"--environment_config=127.0.0.1:{self.ports['worker']}",
                "--parallelism=2", "--shared-filesystem"]

    def rest(self, path: str, method: str = "GET", timeout: float = 10) -> dict:
        request = urllib.request.Request(self.rest_url + path, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def jobs(self) -> list[dict]:
        return self.rest("/jobs/overview")["jobs"]

    def running(self) -> list[dict]:
        return [j for j in self.jobs() if j["state"] not in
                ("FINISHED", "FAILED", "CANCELED")]

    def slots(self) -> int:
        return self.rest("/overview").get("slots-total", 0)

    def cancel_all(self, timeout: float = 60) -> list[str]:
        """Cancel every job that has not ended, and wait until none runs."""
        cancelled = [j["jid"] for j in self.running()]
        for jid in cancelled:
            try:
                self.rest(f"/jobs/{jid}?mode=cancel", method="PATCH")
            except urllib.error.HTTPError:
                pass
        deadline = time.time() + timeout
        while self.running():
            if time.time() > deadline:
                raise AssertionError(f"jobs still running {timeout:g}s after a cancel: "
                                     f"{self.running()}")
            time.sleep(0.5)
        return cancelled

    def new_job(self, before: set[str], timeout: float = 180) -> dict:
        """The first job submitted since ``before`` (a set of job ids)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            fresh = [j for j in self.jobs() if j["jid"] not in before]
            if fresh:
                return fresh[0]
            time.sleep(0.5)
        raise AssertionError(f"no job was submitted within {timeout:g}s")

    def vertices(self, jid: str) -> list[dict]:
        """Per vertex: name, parallelism and each subtask's records and bytes read."""
        found = []
        for vertex in self.rest(f"/jobs/{jid}")["vertices"]:
            detail = self.rest(f"/jobs/{jid}/vertices/{vertex['id']}")
            found.append({
                "name": vertex["name"], "parallelism": vertex["parallelism"],
                "subtasks": [{"read_records": s["metrics"]["read-records"],
                              "read_bytes": s["metrics"]["read-bytes"],
                              "write_records": s["metrics"]["write-records"]}
                             for s in detail["subtasks"]]})
        return found

    def script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "--name", NAME, *args],
                              capture_output=True, text=True, timeout=timeout, cwd=REPO)

    def kill_taskmanager(self) -> float:
        """SIGKILL the TaskManager's JVM, and the worker pool with its SDK workers
        (a TaskManager pod and its sidecar); the time they died."""
        done = self.script("kill-taskmanager")
        assert done.returncode == 0 and "killed taskmanager" in done.stdout, done
        return time.time()

    def start_taskmanager(self) -> None:
        done = self.script("start-taskmanager", "--timeout", "120", timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr


def _find_cluster() -> Cluster | None:
    try:
        info = json.loads((BASE / "run" / NAME / "cluster.json").read_text())
    except (OSError, ValueError):
        return None
    cluster = Cluster(info)
    try:
        if cluster.slots() >= 2:
            return cluster
    except (OSError, ValueError, KeyError):
        pass
    return None


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    found = _find_cluster()
    if found is None:
        message = (f"no Flink cluster {NAME!r} answers (make flink-up, or make test-flink "
                   "to run this suite in its own loopback-only network namespace)")
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(autouse=True)
def no_jobs_left(request):
    """Before and after each test: no job runs on the cluster."""
    if "cluster" not in request.fixturenames:
        yield
        return
    cluster = request.getfixturevalue("cluster")
    cluster.cancel_all()
    yield
    cluster.cancel_all()
    # A test that killed the TaskManager leaves a new one; make sure there is one.
    if cluster.slots() < 2:
        cluster.start_taskmanager()


def newsbeam_env() -> dict[str, str]:
    """newsbeam's environment: the loopback-only socket guard, the repository."""
    return dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")


def newsbeam(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``newsbeam ARGS`` in a subprocess, as a user runs it; killed after ``timeout``."""
    return subprocess.run([*NEWSBEAM, *args], cwd=REPO, env=newsbeam_env(),
                          capture_output=True, text=True, timeout=timeout)


class Background:
    """``newsbeam ARGS`` running in its own session, its output lines collected."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [*NEWSBEAM, *args], cwd=REPO, env=newsbeam_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait_for(self, text: str, timeout: float, at_least: int = 1) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.count(text) >= at_least:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} (x{at_least}) within {timeout:g}s; output:\n"
                             + "\n".join(self.lines[-40:]))

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"newsbeam did not exit within {timeout:g}s:\n"
                                 + "\n".join(self.lines[-40:])) from None
        self.reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def output(self) -> str:
        return "\n".join(self.lines)
