"""`newsbeam stream` live on Prism against a site that keeps publishing.

Checks that windows are committed while the stream runs, that articles
land within two windows of publication, that SIGTERM commits and stops,
and that a restart on the same output neither loses nor duplicates.

Prism is the process newsbeam starts itself (``pipelines/prism.py``), and
by default newsbeam's own build of it (``tools/prism``), which ignores
SIGTERM.  A SIGTERM, SIGINT or SIGHUP to newsbeam's whole process group, or
a SIGTERM or SIGINT to every process of the stream (systemd's default stop:
``KillMode=control-group``, ``KillSignal=SIGTERM``), stops the stream as
cleanly as a signal to newsbeam alone, during start-up too; Prism never
outlives newsbeam, not even a ``kill -9``; a stock Prism that dies of a
SIGTERM is reported, not a gRPC traceback; and the runner options reach
Beam as documented.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import pyarrow.dataset as ds
import pytest
from apache_beam.options.pipeline_options import (
    PipelineOptions,
    PortableOptions,
    PrismRunnerOptions,
    StandardOptions,
)

from devsite.live_site import LiveSite, title_item
from pipelines import prism
from pipelines.launcher import UsageError
from pipelines.stream import prism_binary
from tests.conftest import NETGUARD, REPO, run_cli
from transforms.lib.state_dir import StateDir
from transforms.poll import tick_windows

POLL, WINDOW = 1.0, 6.0
needs_prism = pytest.mark.skipif(prism_binary() is None, reason="Prism not built: make prism")


class Stream:
    """A `newsbeam stream` subprocess whose output lines are collected.

    ``new_session`` starts it as a service manager or a shell would, as the
    leader of its own process group, so that the test can signal that group
    without signalling pytest.  Like systemd, it starts newsbeam with the
    stop signals at their defaults, whatever pytest inherited.  ``prism`` is
    the Prism binary it runs.
    """

    def __init__(self, feeds, output, new_session: bool = False, prism: str | None = None):
        env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
        if prism is not None:
            env["NEWSBEAM_PRISM"] = str(prism)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.stream", "--feeds", str(feeds), "--output",
             str(output), "--allow-private-networks", "--poll-interval", str(POLL),
             "--window", str(WINDOW)], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=new_session,
            preexec_fn=default_stop_signals)
        self.lines: list[str] = []
        self.prism = prism
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in output:\n" + "\n".join(self.lines[-40:]))

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.reader.join(5)
        return code

    def close(self) -> None:
        """Whatever happened, leave no stream or Prism process behind."""
        family = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.prism is not None:
            family += [pid for pid, _ in running(self.prism)]
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def default_stop_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def running(binary) -> list[tuple[int, str]]:
    """Live processes (pid, start time) whose argv[0] is ``binary``; zombies are not."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    argv0 = handle.read().split(b"\0", 1)[0]
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if argv0 == os.fsencode(binary) and fields[0] != "Z":
                found.append((int(entry), fields[19]))
    return found


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def rows(output):
    path = output / "articles"
    if not path.exists() or not any(path.rglob("*.parquet")):
        return []
    return ds.dataset(path, format="parquet", partitioning="hive").to_table(
        columns=["id", "title", "url"]).to_pylist()


def parquet_mtimes(output):
    return {p: p.stat().st_mtime for p in (output / "articles").rglob("*.parquet")}


@pytest.fixture(scope="module")
def live():
    site = LiveSite(period=1.5, keep=40)
    site.start_site()
    yield site
    site.stop()


@pytest.fixture(scope="module")
def session(live, tmp_path_factory):
    out = tmp_path_factory.mktemp("stream")
    feeds = out / "feeds.txt"
    feeds.write_text(live.site.url("/feed.xml") + "\n")
    lake = out / "lake"
    running = []  # (from, to) while a stream was up and polling
    first = Stream(feeds, lake)
    second = None
    try:
        first.wait_for("committed window", 90)
        up = time.time()
        time.sleep(2 * WINDOW + 2)
        running_files = parquet_mtimes(lake)
        alive = first.process.poll() is None
        first_rows = rows(lake)
        # Steady state only: what is published just before a SIGTERM is
        # committed by the shutdown, however long that takes.
        running.append((up, time.time() - WINDOW))
        first_code = first.stop()
        stopped_at = time.time()
        time.sleep(3)  # items keep appearing while the stream is down
        second = Stream(feeds, lake)
        second.wait_for("committed window", 90)
        up = time.time()
        time.sleep(2 * WINDOW)
        running.append((up, time.time() - WINDOW))
        second_code = second.stop()
    finally:
        first.close()
        if second is not None:
            second.close()
    return {"live": live, "lake": lake, "first": first, "second": second,
            "running_files": running_files, "alive": alive, "first_rows": first_rows,
            "codes": (first_code, second_code), "stopped_at": stopped_at,
            "running": running}


@needs_prism
def test_files_appear_while_the_stream_runs(session):
    assert session["alive"], "\n".join(session["first"].lines)
    assert len(session["running_files"]) >= 2
    assert session["first_rows"]


@needs_prism
def test_sigterm_commits_and_exits_cleanly(session):
    assert session["codes"] == (0, 0), "\n".join(session["first"].lines + session["second"].lines)
    assert any("windows committed this run" in line for line in session["first"].lines)
    leftovers = [p for p in session["lake"].rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


@needs_prism
def test_the_stopped_tick_source_names_its_last_tick(session):
    # What newsbeam stream waits for on a runner whose job outlives its
    # source (Flink): the tick source's answer.  No window after the last
    # tick's is committed.  (On Prism the job ends by itself; entries of the
    # last tick can reach their window after the watermark's jump to the end
    # of time, so that window's record is not asserted here: the next start
    # polls those items again, see the restart test.)
    state = StateDir(str(session["lake"] / "_state"))
    stopped, last_tick = state.last_tick()
    assert stopped and last_tick is not None
    records = [state.read_json(str(p))
               for p in (session["lake"] / "_state" / "commits").glob("*.json")]
    (last_window,) = tick_windows(last_tick, POLL, last_tick, WINDOW)
    assert records and all(r["window"] <= last_window for r in records)


@needs_prism
def test_articles_land_within_two_windows_of_publication(session):
    """For items published while a stream was up, the delay from publication
    to the commit of the file holding them is at most two windows."""
    live = session["live"]
    committed = {}
    for path, mtime in parquet_mtimes(session["lake"]).items():
        for row in ds.dataset(path, format="parquet").to_table(columns=["title"]).to_pylist():
            committed[title_item(row["title"])] = mtime
    delays = [committed[k] - live.published_at(k) for k in committed
              if any(a <= live.published_at(k) <= b for a, b in session["running"])]
    assert delays, "no item was published while a stream was running"
    assert max(delays) <= 2 * WINDOW, sorted(delays)[-5:]


@needs_prism
def test_restart_loses_nothing_and_duplicates_nothing(session):
    live = session["live"]
    all_rows = rows(session["lake"])
    ids = [r["id"] for r in all_rows]
    assert len(ids) == len(set(ids)), "duplicate articles after restart"
    items = sorted(title_item(r["title"]) for r in all_rows)
    # Everything published up to shortly before the second stop made it in.
    last = max(items)
    assert items == list(range(0, last + 1)), f"missing items: {set(range(last + 1)) - set(items)}"
    assert last >= live.published(session["stopped_at"]) - 1


@needs_prism
def test_a_stream_after_a_batch_run_writes_nothing_the_batch_committed(live, tmp_path):
    """One seen store for both: the stream starts from what the batch wrote."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(live.site.url("/feed.xml") + "\n")
    lake = tmp_path / "lake"
    batch = run_cli("--feeds", str(feeds), "--output", str(lake), "--allow-private-networks")
    assert batch.returncode == 0, batch.stderr[-2000:]
    by_batch = {r["id"] for r in rows(lake)}
    assert by_batch
    stream = Stream(feeds, lake)
    try:
        stream.wait_for("committed window", 90)
        time.sleep(WINDOW)
        assert stream.stop() == 0
    finally:
        stream.close()
    ids = [r["id"] for r in rows(lake)]
    assert len(ids) == len(set(ids)), "the stream wrote again what the batch committed"
    assert set(ids) > by_batch  # and it went on with the new items
    assert any("recorded as seen" in line for line in stream.lines)


# --- Signals: Prism is newsbeam's own process (pipelines/prism.py) ---------------------


@dataclass
class RecordingSite(LiveSite):
    """A LiveSite that remembers, per feed response, when and how many items it listed."""

    served: list[tuple[float, int]] = field(default_factory=list)

    def _feed(self, handler) -> None:
        self.served.append((time.time(), self.published()))  # a lower bound of what it lists
        super()._feed(handler)


@pytest.fixture
def site():
    live = RecordingSite(period=1.5, keep=40)
    live.start_site()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def newsbeams_prism():
    """The Prism binary, if it is newsbeam's build (``tools/prism``): one that ignores SIGTERM."""
    binary = prism_binary()
    if binary is None:
        pytest.skip("Prism not built: make prism")
    server = prism.Prism(binary)
    server.start()
    try:
        ours = server.shielded
    finally:
        server.stop()
    if not ours:
        pytest.skip(f"{binary} is not newsbeam's build of Prism, which ignores SIGTERM: "
                    "make prism")
    return binary


@pytest.fixture
def own_prism(tmp_path, newsbeams_prism):
    """This test's own name for the Prism binary, to find its processes by argv[0]."""
    link = tmp_path / "prism"
    link.symlink_to(os.path.realpath(newsbeams_prism))
    return link


def gone(processes, timeout: float) -> bool:
    """Whether every (pid, start time) has exited (a zombie has) within ``timeout``."""
    deadline = time.time() + timeout
    while True:
        alive = []
        for pid, started in processes:
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[19] == started and fields[0] != "Z":
                alive.append(pid)
        if not alive or time.time() > deadline:
            return not alive
        time.sleep(0.05)


def start_stream(site, tmp_path, own_prism, wait: bool = True
                 ) -> tuple[Stream, list[tuple[int, str]]]:
    """A stream in its own session, once it has committed a window; and its Prism."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(site.site.url("/feed.xml") + "\n")
    stream = Stream(feeds, tmp_path / "lake", new_session=True, prism=own_prism)
    if not wait:
        return stream, []
    stream.wait_for("committed window", 120)
    prisms = running(own_prism)
    assert len(prisms) == 1, prisms
    pid = prisms[0][0]
    assert pid in descendants(stream.process.pid)
    # Its own session, so nothing sent to newsbeam's process group reaches it.
    assert os.getsid(pid) == pid != os.getsid(stream.process.pid)
    return stream, prisms


def signal_stream(stream: Stream, target: str, signum: int) -> None:
    """``group``: newsbeam's process group, as ``kill -SIG -PGID`` or a terminal does.
    ``every``: every process of the stream's tree at once, newsbeam, Prism and
    anything else, as systemd's ``KillMode=control-group`` does to a service."""
    if target == "group":
        os.killpg(stream.process.pid, signum)
        return
    for pid in [stream.process.pid, *descendants(stream.process.pid)]:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


# Beam's stager runs `pip freeze` while it submits the job; a signal to every
# process kills that too, and Beam stages the job without the list.
PIP_FREEZE_KILLED = ("WARNING apache_beam.runners.portability.stager: Couldn't stage a list of "
                     "installed dependencies")


def wait_clean_exit(stream: Stream, own_prism, timeout: float = WINDOW + POLL + 120) -> str:
    """Wait for the stream; check that it exited 0 without an error and left no Prism."""
    try:
        code = stream.process.wait(timeout)
        stream.reader.join(5)
        prisms = running(own_prism)
        left = descendants(stream.process.pid)
    finally:
        stream.close()
    output = "\n".join(stream.lines)
    assert code == 0, output
    checked = "\n".join(line for line in stream.lines if not line.startswith(PIP_FREEZE_KILLED))
    for sign in ("Traceback", "Exception", "grpc", "StatusCode", "newsbeam stream: error"):
        assert sign.lower() not in checked.lower(), output
    # No Prism is left: not newsbeam's, not any started from this test's binary.
    assert gone(prisms, 5) and running(own_prism) == []
    assert left == []
    return output


def committed_once(site: RecordingSite, lake, stopped_at: float) -> set[int]:
    """Every item a poll before the stop saw is committed, and once; the items committed."""
    polled = max((count for at, count in site.served if at < stopped_at), default=0)
    all_rows = rows(lake)
    ids = [r["id"] for r in all_rows]
    assert len(ids) == len(set(ids)), "duplicate articles"
    items = {title_item(r["title"]) for r in all_rows}
    assert set(range(polled)) <= items, f"missing: {set(range(polled)) - items}"
    return items


@needs_prism
@pytest.mark.parametrize("target, signum", [
    ("every", signal.SIGTERM),   # systemctl stop: KillMode=control-group, KillSignal=SIGTERM
    ("group", signal.SIGTERM),   # kill -TERM -PGID; systemd with KillMode=mixed
    ("group", signal.SIGINT),    # Ctrl-C in a terminal
    ("group", signal.SIGHUP),    # the terminal hangs up
], ids=["SIGTERM-to-every-process", "SIGTERM-to-group", "SIGINT-to-group", "SIGHUP-to-group"])
def test_a_signal_to_the_group_commits_open_windows_and_exits_cleanly(
        site, tmp_path, own_prism, target, signum):
    stream, prisms = start_stream(site, tmp_path, own_prism)
    lake = tmp_path / "lake"
    try:
        time.sleep(2)  # the open window holds polled, uncommitted articles
        committed_before = {title_item(r["title"]) for r in rows(lake)}
        signal_stream(stream, target, signum)
        stopped_at = time.time()
    except BaseException:
        stream.close()
        raise
    # Prism lived on until the job had ended (else: exit 1, "Prism ... was killed").
    output = wait_clean_exit(stream, own_prism)
    assert gone(prisms, 0)
    stopping = next(i for i, line in enumerate(stream.lines) if "stopping: committing" in line)
    assert any("committed window" in line for line in stream.lines[stopping:]), output
    assert "DONE:" in stream.lines[-1] and "windows committed this run" in stream.lines[-1]
    items = committed_once(site, lake, stopped_at)
    assert items - committed_before, "the stop committed nothing"


def prism_serves(own_prism) -> bool:
    """Whether a Prism of this binary runs past its start: it ignores SIGTERM by now."""
    return any(prism.ignores_sigterm(pid) for pid, _ in running(own_prism))


def after(seconds: float, condition):
    since = []

    def reached() -> bool:
        if not since and condition():
            since.append(time.time())
        return bool(since) and time.time() >= since[0] + seconds

    return reached


@needs_prism
@pytest.mark.parametrize("moment", ["prism-started", "submitting", "job-submitted"])
def test_a_sigterm_to_every_process_during_start_up_stops_cleanly(
        site, tmp_path, own_prism, moment):
    """systemctl stop while the stream starts, before its first window.

    ``prism-started``: as soon as Prism's process exists, before newsbeam
    submits the job (Prism may even die of it: it ignores SIGTERM only once
    its ``main`` runs).  ``submitting``: shortly after Prism serves, while
    newsbeam submits the job, or just before.  ``job-submitted``: the job
    runs, and its first window is not due yet.
    """
    stream, _ = start_stream(site, tmp_path, own_prism, wait=False)
    reached = {
        "prism-started": lambda: running(own_prism),
        "submitting": after(0.2, lambda: prism_serves(own_prism)),
        "job-submitted": lambda: any("newsbeam stream: polling" in line
                                     for line in stream.lines),
    }[moment]
    try:
        deadline = time.time() + 120
        while not reached():
            assert stream.process.poll() is None and time.time() < deadline, stream.lines
            time.sleep(0.002)
        signal_stream(stream, "every", signal.SIGTERM)
        stopped_at = time.time()
        before = list(stream.lines)
    except BaseException:
        stream.close()
        raise
    output = wait_clean_exit(stream, own_prism)
    assert not any("committed window" in line for line in before), output
    if moment == "prism-started":
        assert stream.lines[-1] == "newsbeam stream: stopped before the job started", output
    elif moment == "job-submitted":
        assert "DONE:" in stream.lines[-1], output
    else:  # either, depending on when the signal came
        assert ("DONE:" in stream.lines[-1]
                or stream.lines[-1] == "newsbeam stream: stopped before the job started"), output
    committed_once(site, tmp_path / "lake", stopped_at)


@needs_prism
def test_prism_does_not_outlive_a_killed_stream(site, tmp_path, own_prism):
    stream, prisms = start_stream(site, tmp_path, own_prism)
    try:
        stream.process.kill()  # SIGKILL to newsbeam alone: no chance to stop Prism itself
        stream.process.wait(10)
        assert gone(prisms, 5), "Prism outlived newsbeam (PR_SET_PDEATHSIG)"
        assert running(own_prism) == []
    finally:
        stream.close()


def own_pid(pid: int) -> tuple[int, str]:
    """(pid, start time): which process this pid is, for ``gone``."""
    with open(f"/proc/{pid}/stat") as handle:
        return pid, handle.read().rsplit(")", 1)[1].split()[19]


def test_prism_dies_with_its_owner_even_before_a_job(tmp_path):
    """PR_SET_PDEATHSIG, alone, on a Prism that does nothing else about its
    owner's death: a stand-in.  (Once a job has run, a Prism whose owner is
    gone also dies of SIGPIPE when it next logs; an idle one would live on.)"""
    owner = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pipelines.prism import Prism; "
         "p = Prism(sys.argv[1]); p.start(); print(p.process.pid, flush=True); "
         "time.sleep(600)", stock_like_prism(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
        text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        process = own_pid(int(owner.stdout.readline()))
        owner.kill()
        owner.wait(10)
        if not gone([process], 5):
            os.kill(process[0], signal.SIGKILL)  # still that Prism: its start time was checked
            pytest.fail("an idle Prism outlived its owner")
    finally:
        owner.kill()
        owner.wait(10)
        owner.stdout.close()


def test_newsbeams_prism_exits_when_its_parent_is_gone(tmp_path, newsbeams_prism):
    """tools/prism's own line of defence, without PR_SET_PDEATHSIG, and with its
    log in a file, so that no SIGPIPE ends it either."""
    log = tmp_path / "prism.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; p = subprocess.Popen("
         "[sys.argv[1], '-job_port=0'], stderr=open(sys.argv[2], 'w'), "
         "start_new_session=True); print(p.pid, flush=True); time.sleep(600)",
         newsbeams_prism, str(log)], stdout=subprocess.PIPE, text=True)
    try:
        process = own_pid(int(parent.stdout.readline()))
        time.sleep(0.5)
        parent.kill()
        parent.wait(10)
        if not gone([process], 5):
            os.kill(process[0], signal.SIGKILL)
            pytest.fail("newsbeam's Prism outlived its parent")
    finally:
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
    assert "parent process is gone" in log.read_text()


@needs_prism
def test_newsbeams_prism_ignores_sigterm_sigint_and_sighup_and_stops_on_request(
        newsbeams_prism):
    server = prism.Prism(newsbeams_prism)
    endpoint = server.start()
    try:
        host, port = endpoint.rsplit(":", 1)
        assert host == "127.0.0.1"
        pid = server.process.pid
        with open(f"/proc/{pid}/status") as handle:
            status = dict(line.split(":\t", 1) for line in handle.read().splitlines())
        ignored = int(status["SigIgn"], 16)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            assert ignored & (1 << (signum - 1)), signum
        assert server.shielded
        assert os.getsid(pid) == pid != os.getsid(0)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            server.process.send_signal(signum)
        time.sleep(0.5)
        assert server.process.poll() is None
        with socket.create_connection((host, int(port)), timeout=5):
            pass
        assert server.died() is None
    finally:
        started = time.time()
        server.stop()
    # Stopped with its own stop signal, at once, not killed after STOP_TIMEOUT.
    assert server.process.returncode == 0
    assert time.time() - started < prism.STOP_TIMEOUT / 2
    assert "stopped by SIGUSR1" in "\n".join(server.tail)


def stock_like_prism(tmp_path) -> str:
    """A stand-in for a stock Prism: it serves the job port and, like any Go
    program, dies of SIGTERM; it keeps SIGINT and SIGHUP ignored if started so."""
    server = ("import socket, sys, time\n"
              "port = int([a for a in sys.argv if a.startswith('-job_port=')][0][10:])\n"
              "s = socket.create_server(('127.0.0.1', port))\n"
              "while True:\n"
              "    time.sleep(60)\n")
    (tmp_path / "stock_like.py").write_text(server)
    return fake_prism(tmp_path, f'exec "{sys.executable}" "{tmp_path / "stock_like.py"}" "$@"')


def test_a_stock_prism_killed_during_the_job_is_reported_not_a_grpc_traceback(
        tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSBEAM_PRISM", stock_like_prism(tmp_path))
    options = PipelineOptions([])
    prism.configure(options)
    with pytest.raises(prism.PrismDied) as raised:
        with prism.owned(options) as server:
            assert options.view_as(PortableOptions).job_endpoint.startswith("127.0.0.1:")
            assert not server.shielded
            server.process.send_signal(signal.SIGTERM)  # as a SIGTERM to every process would
            server.process.wait(10)
            raise RuntimeError("the gRPC error the job would end with")
    message = str(raised.value)
    assert "killed by SIGTERM" in message and "does not ignore SIGTERM" in message
    assert "make prism" in message and "KillMode=mixed" in message
    assert raised.value.status == 1


def test_a_stock_prism_is_stopped_with_sigterm(tmp_path):
    server = prism.Prism(stock_like_prism(tmp_path))
    server.start()
    assert not server.shielded
    started = time.time()
    server.stop()
    assert server.process.returncode == -signal.SIGTERM
    assert time.time() - started < prism.STOP_TIMEOUT / 2


STOCK_PRISM = os.environ.get("NEWSBEAM_STOCK_PRISM")


@pytest.mark.skipif(not STOCK_PRISM, reason="set NEWSBEAM_STOCK_PRISM to a stock Prism 2.62 "
                    "(go install github.com/apache/beam/sdks/v2/go/cmd/prism@v2.62.0)")
@pytest.mark.parametrize("target", ["group", "every"])
def test_a_stock_prism_stops_cleanly_unless_sigterm_reaches_it(site, tmp_path, target):
    """$NEWSBEAM_PRISM may name a stock Prism: a SIGTERM to newsbeam's group stops
    the stream cleanly; a SIGTERM to every process kills Prism, and says so."""
    link = tmp_path / "prism"
    link.symlink_to(os.path.realpath(STOCK_PRISM))
    stream, prisms = start_stream(site, tmp_path, link)
    try:
        time.sleep(2)
        signal_stream(stream, target, signal.SIGTERM)
        code = stream.process.wait(WINDOW + POLL + 120)
        stream.reader.join(5)
    finally:
        stream.close()
    output = "\n".join(stream.lines)
    assert gone(prisms, 5) and running(link) == []
    if target == "group":
        assert code == 0 and "DONE:" in stream.lines[-1], output
        return
    # Beam's worker threads print their gRPC errors too; newsbeam's last word says what happened.
    assert code == 1, output
    assert stream.lines[-1].startswith("newsbeam stream: error: Prism, the local runner"), output
    assert "killed by SIGTERM" in output and "does not ignore SIGTERM" in output, output


def fake_prism(tmp_path, body: str) -> str:
    path = tmp_path / "prism"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_a_prism_that_cannot_start_is_a_clear_error(tmp_path):
    server = prism.Prism(fake_prism(tmp_path, 'echo "failed to listen: $1" >&2; exit 3'))
    with pytest.raises(prism.PrismError) as raised:
        server.start(timeout=30)
    assert "could not start: exited with status 3" in str(raised.value)
    assert "failed to listen" in str(raised.value) and raised.value.status == 2


def test_a_prism_that_never_listens_is_a_clear_error_and_is_stopped(tmp_path):
    server = prism.Prism(fake_prism(tmp_path, "exec sleep 60"))
    started = time.time()
    with pytest.raises(prism.PrismError, match="did not accept connections on 127.0.0.1:"):
        server.start(timeout=1)
    assert time.time() - started < 15
    assert server.process.returncode == -signal.SIGTERM


@pytest.mark.parametrize("argv, runner, owned", [
    ([], "PrismRunner", True),
    (["--runner=PrismRunner"], "PrismRunner", True),
    (["--runner", "PrismRunner", "--environment_type=DOCKER"], "PrismRunner", True),
    (["--runner=PrismRunner", "--job_endpoint=localhost:8099"], "PrismRunner", False),
    (["--runner=FlinkRunner"], "FlinkRunner", False),
])
def test_runner_options(tmp_path, monkeypatch, argv, runner, owned):
    binary = fake_prism(tmp_path, "exit 0")
    monkeypatch.setenv("NEWSBEAM_PRISM", binary)
    options = PipelineOptions(argv)
    before = options.get_all_options(drop_default=True)
    prism.configure(options)
    assert options.view_as(StandardOptions).runner == runner
    assert prism.owns(options) is owned
    if owned:
        assert options.view_as(PrismRunnerOptions).prism_location == binary
        expected = "DOCKER" if "--environment_type=DOCKER" in argv else "LOOPBACK"
        assert options.view_as(PortableOptions).environment_type == expected
    else:
        assert options.get_all_options(drop_default=True) == before
        with prism.owned(options) as server:
            assert server is None
        assert options.get_all_options(drop_default=True) == before


def test_prism_location_chooses_the_binary_and_must_be_one(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSBEAM_PRISM", fake_prism(tmp_path, "exit 0"))
    other = tmp_path / "other"
    other.mkdir()
    chosen = fake_prism(other, "exit 0")
    options = PipelineOptions([f"--prism_location={chosen}"])
    prism.configure(options)
    assert options.view_as(PrismRunnerOptions).prism_location == chosen
    with pytest.raises(UsageError, match="not an executable file"):
        prism.configure(PipelineOptions([f"--prism_location={tmp_path / 'missing'}"]))
    monkeypatch.setenv("NEWSBEAM_PRISM", str(tmp_path / "missing"))
    # No newsbeam-prism beside this Python, nor on PATH.
    monkeypatch.setattr(prism.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="make prism"):
        prism.configure(PipelineOptions([]))


@needs_prism
def test_newsbeams_prism_serves_go_profiles_on_loopback_only_when_asked(
        newsbeams_prism, tmp_path):
    """NEWSBEAM_PRISM_PPROF=127.0.0.1:PORT serves net/http/pprof there (memory
    investigations: bench/soak.py); any other address is refused."""
    refused = subprocess.run(
        [newsbeams_prism, "-job_port=0"], env=dict(os.environ, NEWSBEAM_PRISM_PPROF="0.0.0.0:0"),
        capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "must be a loopback address" in refused.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ["NEWSBEAM_PRISM_PPROF"] = f"127.0.0.1:{port}"
    try:
        server = prism.Prism(newsbeams_prism)
        server.start()
    finally:
        del os.environ["NEWSBEAM_PRISM_PPROF"]
    try:
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/pprof/heap?debug=1",
                                    timeout=10) as response:
            assert b"heap profile" in response.read()
    finally:
        server.stop()
