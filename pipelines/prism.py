"""The local streaming runner's process, owned by the launcher.

``newsbeam stream`` runs on Prism, Beam's portable local runner, a Go
program.  ``make prism`` builds newsbeam's own, ``tools/prism``, into the
virtualenv's ``bin/newsbeam-prism``, next to the ``newsbeam`` command:
Beam's Prism job server, at the Python SDK's Beam version, in a program
that ignores SIGTERM (see "Signals").
``$NEWSBEAM_PRISM`` or ``--prism_location`` choose another binary, Beam's
stock ``cmd/prism`` too.  Beam's ``PrismRunner`` would start the binary
itself, as a plain child in newsbeam's process group, so a signal meant to
stop newsbeam (``systemctl stop``, Ctrl-C, ``kill -TERM -PGID``) killed Prism
as well, and the job died with a gRPC error instead of committing its open
windows.  So newsbeam starts Prism itself, before the pipeline runs, and
stops it after the job has ended.

**Which runs.**  The default runner and ``--runner=PrismRunner`` without a
``--job_endpoint`` run on an owned Prism: the runner stays ``PrismRunner``,
and ``--job_endpoint=127.0.0.1:PORT`` makes Beam submit to it instead of
starting one.  ``--environment_type`` defaults to ``LOOPBACK``.
``--prism_location`` must then be an executable file (Beam's download of a
release URL is not done here), and ``--job_port`` chooses the port (default:
one that is free on 127.0.0.1).  Any other runner, and ``PrismRunner`` with
a ``--job_endpoint`` (a Prism someone else runs), is left as it is.

**Started** (``owned``), on Linux, with the same command line whichever
binary it is (``-job_port``, ``-serve_http=false``, ``-log_kind=text``):

- in its own session, so that nothing sent to newsbeam's process group
  reaches it: Ctrl-C or a hangup in a terminal, ``kill -TERM -PGID``;
- with SIGINT and SIGHUP ignored.  A Go program keeps these two ignored if
  it starts with them ignored, so even a stock Prism survives a SIGINT or
  SIGHUP sent to every process of a service;
- with ``PR_SET_PDEATHSIG=SIGKILL``: if newsbeam dies (``kill -9``, the OOM
  killer), the kernel kills Prism with it.  The signal follows the *thread*
  that started Prism, so ``owned`` must be entered on a thread that outlives
  the job: the main thread, in ``newsbeam stream``.  newsbeam's build also
  exits by itself within a second once its parent is gone;
- with its web UI off; newsbeam waits (up to ``READY_TIMEOUT``) until the job
  port accepts connections on 127.0.0.1 before it submits.  Prism 2.62
  itself listens on every interface (``:PORT``); newsbeam only ever
  connects to 127.0.0.1.

**Signals.**  systemd stops a service by sending SIGTERM to every process
in it (the defaults ``KillMode=control-group``, ``KillSignal=SIGTERM``):
Prism too.  Nothing outside a Go program can keep SIGTERM from it: the Go
runtime installs its own handler for SIGTERM whatever the inherited
disposition, and unblocks SIGHUP, SIGINT and SIGTERM whatever the inherited
signal mask (``runtime.blockableSig``).  Only the program itself can ignore
SIGTERM, and newsbeam's build does, first thing in ``main``: it survives
such a stop, the job commits its open windows, and newsbeam stops Prism
afterwards.  (In its first milliseconds, before ``main`` runs, a SIGTERM
still kills it; the job has not been submitted then, and ``newsbeam
stream``, stopping too, exits 0.)  A stock Prism dies of that SIGTERM:
``newsbeam stream`` says so, with what to do about it, and exits with
status 1 (``PrismDied``), as it does whenever Prism dies while the job runs.

**Stopped** when ``owned`` is left, whatever happened: with ``STOP_SIGNAL``
(SIGUSR1, which newsbeam's build exits on) if Prism ignores SIGTERM, as
``/proc/PID/status`` tells, else with SIGTERM (a stock Prism ignores
SIGUSR1); then with SIGKILL if it is still there after ``STOP_TIMEOUT``.
Prism holds nothing once the job has ended.  newsbeam waits for it.
Prism's output is logged under ``newsbeam.prism`` at INFO, and its last
lines are quoted when it fails.
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

from apache_beam.options.pipeline_options import (
    JobServerOptions,
    PipelineOptions,
    PortableOptions,
    PrismRunnerOptions,
    StandardOptions,
)

from pipelines.launcher import UsageError

_LOG = logging.getLogger("newsbeam.prism")
HOST = "127.0.0.1"
READY_TIMEOUT = 60.0  # seconds for Prism's job port to accept connections
STOP_TIMEOUT = 10.0   # seconds between the stop signal and SIGKILL when stopping Prism
SHIELDED = (signal.SIGINT, signal.SIGHUP)  # ignored at exec, and Go keeps them ignored
STOP_SIGNAL = signal.SIGUSR1  # what newsbeam's build (tools/prism) exits on; it ignores SIGTERM
PR_SET_PDEATHSIG = 1


class PrismError(Exception):
    """Prism could not be started; ``status`` is the exit status to report."""

    status = 2


class PrismDied(PrismError):
    """Prism ended while the job was still running."""

    status = 1


BINARY = "newsbeam-prism"


def prism_binary() -> str | None:
    """The Prism runner binary: $NEWSBEAM_PRISM, then ``newsbeam-prism`` next
    to this Python (where ``make prism`` installs it), then on PATH.  Never a
    path inside the source tree: an installed newsbeam has none."""
    beside = os.path.join(os.path.dirname(sys.executable), BINARY)
    for candidate in (os.environ.get("NEWSBEAM_PRISM"), beside, shutil.which(BINARY)):
        if candidate and _executable(candidate):
            return candidate
    return None


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def owns(options: PipelineOptions) -> bool:
    """Whether these options run on a Prism that newsbeam starts itself."""
    runner = options.view_as(StandardOptions).runner or ""
    return (runner.split(".")[-1] == "PrismRunner"
            and not options.view_as(PortableOptions).job_endpoint)


def configure(options: PipelineOptions) -> None:
    """Make the default runner Prism, and check the binary an owned Prism needs.

    Changes ``options`` in place; raises ``UsageError`` if Prism is needed
    and there is none to run.
    """
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = "PrismRunner"
    if not owns(options):
        return
    location = options.view_as(PrismRunnerOptions).prism_location
    if location and not _executable(location):
        raise UsageError(f"--prism_location={location} is not an executable file: newsbeam "
                         "runs Prism itself and needs a local binary (`make prism` builds one)")
    binary = location or prism_binary()
    if binary is None:
        raise UsageError("Prism, the local streaming runner, is not installed: run "
                         "`make prism`, or set NEWSBEAM_PRISM, or pass --runner")
    options.view_as(PrismRunnerOptions).prism_location = binary
    portable = options.view_as(PortableOptions)
    if not portable.environment_type:
        portable.environment_type = "LOOPBACK"


@contextlib.contextmanager
def owned(options: PipelineOptions) -> Iterator[Prism | None]:
    """Run an owned Prism for the duration of the block, if ``options`` ask for one.

    Points ``options`` at it (``--job_endpoint``).  On the way out Prism is
    stopped and waited for; if it had ended on its own while the block
    raised, ``PrismDied`` says so instead of the gRPC error it caused.
    """
    if not owns(options):
        yield None
        return
    prism = Prism(options.view_as(PrismRunnerOptions).prism_location,
                  options.view_as(JobServerOptions).job_port or None)
    try:
        options.view_as(PortableOptions).job_endpoint = prism.start()
        try:
            yield prism
        except Exception as exc:
            died = prism.died()
            if died:
                raise PrismDied(died) from exc
            raise
    finally:
        died = prism.died()
        prism.stop()
        if died:
            prism.log_tail(logging.WARNING)


class Prism:
    """One Prism job server process on 127.0.0.1."""

    def __init__(self, binary: str, port: int | None = None):
        self.binary = binary
        self.port = port
        self.process: subprocess.Popen | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        self._reader: threading.Thread | None = None
        self._stopping = False
        # Whether it ignores SIGTERM (newsbeam's build does), once it serves.
        self.shielded = False

    def command(self, port: int) -> list[str]:
        return [self.binary, f"-job_port={port}", "-serve_http=false", "-log_kind=text"]

    def start(self, timeout: float = READY_TIMEOUT) -> str:
        """Start Prism and wait until its job port accepts connections.

        A port picked here can be taken by someone else before Prism binds
        it; Prism then exits at once, and another port is tried.
        """
        deadline = time.monotonic() + timeout
        for _ in range(1 if self.port else 3):
            port = self.port or _free_port()
            self._spawn(port)
            if self._wait_ready(port, deadline):
                self.port = port
                self.shielded = ignores_sigterm(self.process.pid)
                _LOG.info("Prism (pid %s) serves jobs on %s:%s; it %s SIGTERM", self.process.pid,
                          HOST, port, "ignores" if self.shielded else "dies of")
                return f"{HOST}:{port}"
            running = self.process.poll() is None
            self.stop()
            if running:
                raise PrismError(f"Prism ({self.binary}) did not accept connections on "
                                 f"{HOST}:{port} within {timeout:g}s{self._quoted_tail()}")
        raise PrismError(f"Prism ({self.binary}) could not start: "
                         f"{_status(self.process.returncode)}{self._quoted_tail()}")

    def _spawn(self, port: int) -> None:
        self.tail.clear()
        self._stopping = False
        self.process = subprocess.Popen(
            self.command(port), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            preexec_fn=_child_setup(os.getpid()))
        self._reader = threading.Thread(target=self._read, args=(self.process,),
                                        name="prism-output", daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for raw in process.stdout:
            line = raw.decode("utf-8", "backslashreplace").rstrip()
            if not line:
                continue
            self.tail.append(line)
            # INFO whatever Prism's level: what goes wrong with the job, newsbeam reports.
            _LOG.info("%s", line)

    def _wait_ready(self, port: int, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            return self.process.poll() is None
        return False

    def died(self) -> str | None:
        """How Prism ended, if it ended without being stopped; else None."""
        if self._stopping or self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        hint = ""
        if code == -signal.SIGTERM and not self.shielded:
            hint = (f" This Prism ({self.binary}) does not ignore SIGTERM, so a SIGTERM sent to "
                    "every process of the service (systemd's default stop) kills it: use the "
                    "Prism that `make prism` builds, which ignores SIGTERM, or stop the "
                    "service with KillMode=mixed or KillSignal=SIGINT (see "
                    "docs/systemd/README.md).")
        return (f"Prism, the local runner (pid {self.process.pid}), {_status(code)} while the "
                "job was running; windows not committed yet are fetched again by a restart."
                f"{hint}")

    def stop(self) -> None:
        """Stop Prism, if it runs, and wait for it."""
        self._stopping = True
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            # Not reaped yet, so the pid is still this Prism's.
            process.send_signal(STOP_SIGNAL if ignores_sigterm(process.pid) else signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._reap()

    def _reap(self) -> None:
        self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log_tail(self, level: int) -> None:
        if self.tail:
            _LOG.log(level, "Prism's last output:\n  %s", "\n  ".join(self.tail))

    def _quoted_tail(self) -> str:
        if self._reader is not None:
            self._reader.join(1)
        return "; its last output:\n  " + "\n  ".join(self.tail) if self.tail else ""


def _status(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def ignores_sigterm(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGTERM (Linux; elsewhere False)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("SigIgn:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except (OSError, ValueError):
        pass
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _child_setup(parent: int):
    """What the child does between fork and exec (see the module docstring)."""
    prctl = None
    if sys.platform.startswith("linux"):
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                          ctypes.c_ulong]
        prctl.restype = ctypes.c_int

    def setup() -> None:
        for signum in SHIELDED:
            signal.signal(signum, signal.SIG_IGN)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # newsbeam died before the line above
                os._exit(1)

    return setup
