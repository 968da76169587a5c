#!/usr/bin/env python3
"""newsbeam's local Flink session cluster: build it, start it, stop it, test on it.

    python tools/flink/cluster.py fetch     # download and assemble (once)
    python tools/flink/cluster.py up        # start; waits until every part is ready
    python tools/flink/cluster.py env       # the runner flags for newsbeam
    python tools/flink/cluster.py status    # what runs, and whether it answers
    python tools/flink/cluster.py down      # stop exactly what `up` started
    python tools/flink/cluster.py test      # tests/flink, in a loopback-only namespace
    python tools/flink/cluster.py isolated -- CMD ...   # any command, the same way

Run it with the project's Python (``.venv/bin/python``; ``make flink-up``
does): the worker pool runs newsbeam's code with it.  Standard library only,
except the worker pool itself (``worker-pool``), which is Beam's.

**What it assembles** (``fetch``, and ``up`` on first use), under ``.flink/``
(``$NEWSBEAM_FLINK_DIR``), which git ignores:

- ``dist/flink-1.19.3/pyflink``: a Flink home (``bin/``, ``conf/``, ``lib/``,
  ``opt/``, ``plugins/``) from PyPI's ``apache-flink`` and
  ``apache-flink-libraries`` 1.19.3, installed with ``pip --no-deps --target``
  into that folder, never into the virtualenv;
- ``dist/jobserver/lib``: the classpath of Beam's Flink job server, copied
  by Maven from ``tools/flink/pom.xml`` (Beam 2.62.0's Flink 1.19 runner and
  slf4j-simple; Maven Central has no shaded job-server jar for it).

**What it starts** (``up``), each in its own session (so nothing sent to the
shell's process group reaches it), logging under ``.flink/run/NAME/log``,
with a pid file under ``.flink/run/NAME/pids``:

- a JobManager and a TaskManager (2 slots), separate JVMs, through Flink's
  ``bin/jobmanager.sh start-foreground`` / ``taskmanager.sh``, with
  ``conf/config.yaml`` from ``tools/flink/config.yaml.in``;
- Beam's job server (``FlinkJobServerDriver``) on that classpath, submitting
  to the JobManager's REST port;
- a Python SDK worker pool (``--environment_type=EXTERNAL``): Beam's, bound
  to 127.0.0.1, starting each SDK worker with this Python, so the workers
  import newsbeam from the virtualenv.

It waits for each, with a bound: the REST API answers, the TaskManager has
registered its 2 slots, the job server's and the pool's ports accept
connections.  If one does not come up, the last lines of its log are shown
and everything started is stopped.  ``up`` on a running cluster says so and
changes nothing.  ``down`` stops the process group of every pid file whose
process is still the one started (pid and start time), with SIGTERM, then
SIGKILL after ``STOP_TIMEOUT``, and waits until each is gone.

**Ports.**  Flink's REST 8081 and RPC 6123, the job server's 8099 (jobs),
8098 (artifacts), 8097 (expansion) and the pool's 50000, all on 127.0.0.1;
``--port-offset N`` shifts them all, and each has its flag.  Two clusters
on one machine need different offsets and names (``--name``); a cluster in
another network namespace (``test``) clashes with nothing.

**Addresses.**  Flink binds 127.0.0.1 (config.yaml), and so does the worker
pool.  Beam's job server 2.62 opens its three ports on every interface,
whatever ``--job-host`` says; ``test`` and ``isolated`` therefore run the
cluster, the fixture sites and newsbeam in a network namespace of their own
(``unshare -n``) with only ``lo`` up, after every download.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BASE = Path(os.environ.get("NEWSBEAM_FLINK_DIR") or REPO / ".flink")
DIST = BASE / "dist"
FLINK_VERSION = "1.19.3"
FLINK_HOME = DIST / f"flink-{FLINK_VERSION}" / "pyflink"
JOBSERVER_LIB = DIST / "jobserver" / "lib"
NETGUARD = REPO / "devsite" / "netguard"
HOST = "127.0.0.1"
SLOTS = 2
DEFAULT_PORTS = {"rest": 8081, "rpc": 6123, "job": 8099, "artifact": 8098, "expansion": 8097,
                 "worker": 50000}
READY_TIMEOUT = 120.0   # seconds for every part to be ready, together
STOP_TIMEOUT = 20.0     # seconds between SIGTERM and SIGKILL in `down`
COMMAND_TIMEOUT = 1800.0  # seconds for the command of `test` / `isolated`
JOB_SERVER = "org.apache.beam.runners.flink.FlinkJobServerDriver"
# Flink's own JVM options for Java 17 (the wheel's conf/config.yaml), for the
# job server's JVM too: both run Flink's client and Kryo.
JAVA_OPTS = " ".join([
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    *(f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
        "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect",
        "java.text", "java.time", "java.util", "java.util.concurrent",
        "java.util.concurrent.atomic", "java.util.concurrent.locks")),
])


class ClusterError(Exception):
    """Something the user must see; exit status 1."""


def say(message: str) -> None:
    print(f"flink: {message}", flush=True)


# --- Assembly --------------------------------------------------------------------------


def fetch(quiet: bool = False) -> None:
    """Assemble the Flink home and the job server classpath, if not there yet."""
    started = time.monotonic()
    flink = not (FLINK_HOME / "bin" / "jobmanager.sh").exists()
    jars = _stamp(JOBSERVER_LIB / ".complete") != _pom_digest()
    if flink:
        _install_flink()
    if jars:
        _copy_jobserver_classpath()
    if flink or jars:
        say(f"assembled in {time.monotonic() - started:.0f}s")
    elif not quiet:
        say(f"assembled already: {FLINK_HOME} and {JOBSERVER_LIB}")


def _pom_digest() -> str:
    """Which pom.xml the job server classpath was copied from: a changed pom
    means a new copy."""
    return hashlib.sha256((HERE / "pom.xml").read_bytes()).hexdigest()


def _stamp(path: Path) -> str | None:
    try:
        return path.read_text().split("\n", 1)[0]
    except OSError:
        return None


def _install_flink() -> None:
    """apache-flink (bin/, conf/) and apache-flink-libraries (lib/, opt/,
    plugins/) into their own folder, with pip, never into the virtualenv."""
    target = FLINK_HOME.parent
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    say(f"installing Flink {FLINK_VERSION} from PyPI into {target} ...")
    started = time.monotonic()
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--disable-pip-version-check", "--target", str(partial),
               f"apache-flink=={FLINK_VERSION}", f"apache-flink-libraries=={FLINK_VERSION}"]
    if subprocess.run(command).returncode != 0:
        raise ClusterError("pip could not install apache-flink / apache-flink-libraries "
                           f"{FLINK_VERSION} (command: {shlex.join(command)})")
    home = partial / "pyflink"
    for part in ("bin/jobmanager.sh", "bin/taskmanager.sh", "lib", "conf/log4j-console.properties"):
        if not (home / part).exists():
            raise ClusterError(f"the Flink wheels have no {part}")
    for script in (home / "bin").iterdir():
        script.chmod(0o755)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    say(f"Flink {FLINK_VERSION} installed in {time.monotonic() - started:.0f}s")


def _copy_jobserver_classpath() -> None:
    """Beam's Flink runner and its runtime closure, by Maven, into JOBSERVER_LIB."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ClusterError("Maven (mvn) is not installed; it downloads the job server's jars "
                           "(apt-get install maven)")
    partial = JOBSERVER_LIB.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    say("copying Beam's Flink job server classpath from Maven Central ...")
    started = time.monotonic()
    command = [mvn, "-B", "-q", "-f", str(HERE / "pom.xml"),
               "dependency:copy-dependencies@jobserver", f"-Djobserver.lib={partial}"]
    DIST.mkdir(parents=True, exist_ok=True)
    log = DIST / "maven.log"
    with open(log, "w") as output:
        status = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT).returncode
    if status != 0:
        raise ClusterError(f"Maven could not copy the job server's jars ({shlex.join(command)})"
                           f"; the end of {log}:\n    {_tail(log)}")
    jars = list(partial.glob("*.jar"))
    if not any(j.name.startswith("beam-runners-flink-") for j in jars):
        raise ClusterError(f"no beam-runners-flink jar in {partial}")
    size = sum(j.stat().st_size for j in jars) / 2**20
    (partial / ".complete").write_text(f"{_pom_digest()}\n{len(jars)} jars\n")
    shutil.rmtree(JOBSERVER_LIB, ignore_errors=True)
    partial.rename(JOBSERVER_LIB)
    say(f"{len(jars)} jars ({size:.0f} MB) in {time.monotonic() - started:.0f}s")


# --- One cluster's folder --------------------------------------------------------------


class Run:
    """The folder of one cluster: conf/, log/, pids/, cluster.json, scratch."""

    def __init__(self, name: str):
        self.name = name
        self.dir = BASE / "run" / name
        self.conf = self.dir / "conf"
        self.log = self.dir / "log"
        self.pids = self.dir / "pids"
        self.info_file = self.dir / "cluster.json"

    def info(self) -> dict | None:
        try:
            return json.loads(self.info_file.read_text())
        except (OSError, ValueError):
            return None

    def processes(self) -> dict[str, dict]:
        found = {}
        if self.pids.is_dir():
            for path in sorted(self.pids.glob("*.json")):
                try:
                    found[path.stem] = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
        return found

    def write_conf(self, ports: dict[str, int]) -> None:
        if self.conf.exists():
            shutil.rmtree(self.conf)
        self.conf.mkdir(parents=True)
        for name in ("log4j-console.properties", "log4j.properties", "log4j-cli.properties",
                     "logback-console.xml", "logback.xml"):
            source = FLINK_HOME / "conf" / name
            if source.exists():
                shutil.copy(source, self.conf / name)
        template = string.Template((HERE / "config.yaml.in").read_text())
        (self.conf / "config.yaml").write_text(template.substitute(
            rest_port=ports["rest"], rpc_port=ports["rpc"], run_dir=self.dir,
            java_opts=JAVA_OPTS))
        (self.conf / "masters").write_text(f"{HOST}:{ports['rest']}\n")
        (self.conf / "workers").write_text(f"{HOST}\n")


# --- Processes: started in their own session, stopped by process group --------------------


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None if it is gone
    or a zombie: with the pid, it names one process, never a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def alive(record: dict) -> bool:
    return start_time(record["pid"]) == record["started"]


def spawn(run: Run, name: str, argv: list[str], env: dict[str, str]) -> dict:
    """Start ``argv`` in a session of its own, output to log/NAME.out; its pid file."""
    run.log.mkdir(parents=True, exist_ok=True)
    run.pids.mkdir(parents=True, exist_ok=True)
    with open(run.log / f"{name}.out", "ab") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, env=env, cwd=run.dir,
                                   start_new_session=True, close_fds=True)
    record = {"name": name, "pid": process.pid, "pgid": process.pid,
              "started": start_time(process.pid), "argv": argv,
              "log": str(run.log / f"{name}.out")}
    if record["started"] is None:  # gone already: its status and log tell why
        process.wait()
        record["started"] = "exited"
    tmp = run.pids / f".{name}.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    tmp.rename(run.pids / f"{name}.json")
    # Not waited for: it outlives this command, and its parent becomes init.
    process.returncode = 0  # keeps Popen.__del__ quiet about a running child
    return record


def stop(run: Run, names: list[str] | None = None, signum: int = signal.SIGTERM,
         timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop the process groups of these pid files (all by default) and wait for
    them; returns what was stopped."""
    records = {n: r for n, r in run.processes().items() if names is None or n in names}
    # A group outlives its leader when, say, the worker pool died and left SDK
    # workers: its id cannot be reused while any member lives.
    running = {n: r for n, r in records.items() if alive(r) or _group_alive(r)}
    for record in running.values():
        _signal_group(record, signum)
    deadline = time.monotonic() + timeout
    while any(alive(r) or _group_alive(r) for r in running.values()):
        if time.monotonic() > deadline:
            for name, record in running.items():
                if alive(record) or _group_alive(record):
                    say(f"{name} (pid {record['pid']}) still runs after {timeout:g}s: SIGKILL")
                    _signal_group(record, signal.SIGKILL)
            deadline = time.monotonic() + 30
            timeout = 30
        time.sleep(0.1)
    for name in records:
        with contextlib.suppress(FileNotFoundError):
            (run.pids / f"{name}.json").unlink()
    return sorted(running)


def _signal_group(record: dict, signum: int) -> None:
    try:
        os.killpg(record["pgid"], signum)
    except ProcessLookupError:
        pass


def _group_alive(record: dict) -> bool:
    """Whether any live process is still in the record's process group (SDK
    workers of the pool, the JVM under a script)."""
    pgid = record["pgid"]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


# --- Readiness -------------------------------------------------------------------------


def rest(port: int, path: str, timeout: float = 2.0, method: str = "GET") -> dict:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", method=method)
    with _no_proxy().open(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else {}


def _no_proxy() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _taskmanagers(rest_port: int) -> list[dict]:
    try:
        return rest(rest_port, "/taskmanagers").get("taskmanagers", [])
    except (OSError, ValueError):
        return []


def taskmanager_ids(rest_port: int) -> set[str]:
    return {m["id"] for m in _taskmanagers(rest_port)}


def slots(rest_port: int, exclude: set[str] = frozenset()) -> int:
    """Task slots of the TaskManagers (but ``exclude``) that sent a heartbeat in
    the last few seconds (a killed one stays listed until its heartbeat times
    out); 0 if the JobManager does not answer."""
    now = time.time() * 1000
    return sum(m.get("slotsNumber", 0) for m in _taskmanagers(rest_port)
               if m["id"] not in exclude
               and now - m.get("timeSinceLastHeartbeat", now) < 6000)


def _tail(path: str | Path, lines: int = 25) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n    ".join(text) or "(empty log)"


def wait_ready(run: Run, ports: dict[str, int], expect_slots: int,
               names: list[str], timeout: float = READY_TIMEOUT) -> None:
    """Wait until the named parts answer; a ClusterError naming the first that
    did not, with its log, if one died or the time ran out."""
    checks = {
        "jobmanager": (f"the REST API answers on port {ports['rest']}",
                       lambda: _answers(ports["rest"])),
        "taskmanager": (f"{expect_slots} task slots are registered",
                        lambda: slots(ports["rest"]) >= expect_slots),
        "jobserver": (f"the job port {ports['job']} accepts connections",
                      lambda: port_open(ports["job"]) and port_open(ports["artifact"])),
        "workerpool": (f"the worker pool port {ports['worker']} accepts connections",
                       lambda: port_open(ports["worker"])),
    }
    pending = [n for n in names if n in checks]
    records = run.processes()
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while pending:
        for name in list(pending):
            record = records.get(name) or {}
            if record and not alive(record):
                raise ClusterError(f"{name} exited during start-up; the end of {record['log']}:"
                                   f"\n    {_tail(record['log'])}")
            if checks[name][1]():
                say(f"{name} ready after {time.monotonic() - started:.1f}s: {checks[name][0]}")
                pending.remove(name)
        if pending and time.monotonic() > deadline:
            name = pending[0]
            log = records.get(name, {}).get("log", "")
            raise ClusterError(f"{name} not ready after {timeout:g}s (waiting until "
                               f"{checks[name][0]}); the end of {log}:\n    {_tail(log)}")
        time.sleep(0.25)


def report(run: Run, lines: int = 12) -> None:
    """After a failed command: which parts still run, the end of each part's
    output, and the Flink logs' errors; what the CI log keeps of a cluster."""
    for name, record in run.processes().items():
        say(f"{name}: {'running' if alive(record) else 'NOT RUNNING'}; the end of "
            f"{record['log']}:\n    {_tail(record['log'], lines)}")
    for log in sorted(run.log.glob("flink-*.log")) + [run.log / "sdk-workers.log"]:
        try:
            text = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        errors = [line[:300] for line in text if " ERROR " in line or "Exception" in line]
        if errors:
            say(f"{log.name}: {len(errors)} error lines, the last {lines}:\n    "
                + "\n    ".join(errors[-lines:]))


def _answers(rest_port: int) -> bool:
    try:
        return "taskmanagers" in rest(rest_port, "/overview")
    except (OSError, ValueError):
        return False


# --- The parts -------------------------------------------------------------------------


def flink_env(run: Run) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("FLINK_HOME", "FLINK_ENV_JAVA_OPTS", "HADOOP_CLASSPATH"):
        env.pop(name, None)
    env.update(FLINK_CONF_DIR=str(run.conf), FLINK_LOG_DIR=str(run.log),
               FLINK_PID_DIR=str(run.dir / "flink-pids"), MAX_LOG_FILE_NUMBER="2")
    return env


def start_jobmanager(run: Run) -> dict:
    return spawn(run, "jobmanager", ["bash", str(FLINK_HOME / "bin" / "jobmanager.sh"),
                                     "start-foreground"], flink_env(run))


def start_taskmanager(run: Run, name: str = "taskmanager") -> dict:
    return spawn(run, name, ["bash", str(FLINK_HOME / "bin" / "taskmanager.sh"),
                             "start-foreground"], flink_env(run))


def start_jobserver(run: Run, ports: dict[str, int]) -> dict:
    java = shutil.which("java")
    if java is None:
        raise ClusterError("java is not installed (Flink 1.19 and Beam 2.62 need Java 11 or 17)")
    argv = [java, "-Xmx768m", *JAVA_OPTS.split(), "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-cp", f"{JOBSERVER_LIB}/*", JOB_SERVER,
            f"--flink-master={HOST}:{ports['rest']}", f"--flink-conf-dir={run.conf}",
            f"--job-host={HOST}", f"--job-port={ports['job']}",
            f"--artifact-port={ports['artifact']}", f"--expansion-port={ports['expansion']}",
            f"--artifacts-dir={run.dir / 'artifacts'}"]
    return spawn(run, "jobserver", argv, dict(os.environ))


def start_workerpool(run: Run, ports: dict[str, int], loopback_only: bool) -> dict:
    """The SDK worker pool, on this Python: its SDK workers import newsbeam."""
    env = dict(os.environ)
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    paths = [str(REPO)]
    if loopback_only:
        # The tests' safety net in every SDK worker: loopback only (devsite/netguard).
        paths.insert(0, str(NETGUARD))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    argv = [sys.executable, str(Path(__file__).resolve()), "worker-pool",
            f"--port={ports['worker']}", f"--log={run.log / 'sdk-workers.log'}"]
    return spawn(run, "workerpool", argv, env)


def worker_pool(port: int, log: str) -> None:
    """Beam's SDK worker pool (worker_pool_main), bound to 127.0.0.1 instead
    of every interface, starting workers with this Python (not whatever
    ``python`` is on PATH), their output in ``log`` instead of a pipe that
    nobody reads."""
    import logging
    import threading
    import traceback
    from concurrent import futures

    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc
    from apache_beam.runners.worker import worker_pool_main

    output = open(log, "ab", buffering=0)  # lives as long as the pool

    class Pool(worker_pool_main.BeamFnExternalWorkerPoolServicer):
        def StartWorker(self, request, context):  # noqa: N802 - gRPC API
            try:
                code = ("from apache_beam.runners.worker.sdk_worker import SdkHarness; "
                        f"SdkHarness({request.control_endpoint.url!r}, "
                        f"worker_id={request.worker_id!r}, "
                        f"state_cache_size={self._state_cache_size}, "
                        f"data_buffer_time_limit_ms={self._data_buffer_time_limit_ms}).run()")
                process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                           stdout=output, stderr=output, close_fds=True)
                self._worker_processes[request.worker_id] = process
                logging.info("started SDK worker %s (pid %d)", request.worker_id, process.pid)
                return beam_fn_api_pb2.StartWorkerResponse()
            except Exception:  # noqa: BLE001 - reported to the runner, as Beam does
                return beam_fn_api_pb2.StartWorkerResponse(error=traceback.format_exc())

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pool = Pool(use_process=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    if server.add_insecure_port(f"{HOST}:{port}") != port:
        raise SystemExit(f"worker pool: cannot listen on {HOST}:{port}")
    server.start()
    logging.info("worker pool listening on %s:%d, workers run %s", HOST, port, sys.executable)
    done = threading.Event()

    def finish(signum, frame):
        done.set()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, finish)
    done.wait()
    server.stop(0)
    for process in pool._worker_processes.values():
        worker_pool_main.kill_process_gracefully(process, timeout=5)
    logging.info("worker pool stopped")


# --- Commands --------------------------------------------------------------------------


PARTS = ("jobmanager", "taskmanager", "jobserver", "workerpool")


def ports_from(args) -> dict[str, int]:
    ports = {k: v + args.port_offset for k, v in DEFAULT_PORTS.items()}
    for key in ports:
        value = getattr(args, f"{key}_port", None)
        if value:
            ports[key] = value
    return ports


def runner_flags(info: dict) -> list[str]:
    """What a newsbeam command line adds to run on this cluster."""
    ports = info["ports"]
    return ["--runner=FlinkRunner", f"--job_endpoint={HOST}:{ports['job']}",
            f"--flink_master={HOST}:{ports['rest']}",
            "--environment_type=EXTERNAL", f"--environment_config={HOST}:{ports['worker']}",
            f"--parallelism={SLOTS}", "--shared-filesystem"]


def cmd_up(args) -> int:
    run = Run(args.name)
    records = run.processes()
    running = [n for n, r in records.items() if alive(r)]
    if running:
        info = run.info() or {}
        if set(PARTS) <= set(running) and slots(info.get("ports", {}).get("rest", 0)) >= SLOTS:
            say(f"cluster {run.name!r} is up already (REST http://{HOST}:"
                f"{info['ports']['rest']}); nothing started")
            print(" ".join(runner_flags(info)))
            return 0
        raise ClusterError(f"cluster {run.name!r} is partly up ({', '.join(running)}): run "
                           "`down` first")
    stop(run)  # stale pid files of processes that are gone
    fetch(quiet=True)
    ports = ports_from(args)
    taken = [f"{k} {p}" for k, p in ports.items() if not port_free(p)]
    if taken:
        raise ClusterError(f"ports in use on {HOST}: {', '.join(taken)} (another cluster? "
                           "`down` it, or choose --port-offset / --name)")
    started = time.monotonic()
    for scratch in ("tmp", "blobs", "web", "artifacts", "flink-pids"):
        shutil.rmtree(run.dir / scratch, ignore_errors=True)
        (run.dir / scratch).mkdir(parents=True)
    run.write_conf(ports)
    info = {"name": run.name, "ports": ports, "dir": str(run.dir), "flink_home": str(FLINK_HOME),
            "python": sys.executable, "loopback_only": args.loopback_only,
            "rest": f"http://{HOST}:{ports['rest']}"}
    run.info_file.write_text(json.dumps(info, indent=1))
    try:
        start_jobmanager(run)
        start_taskmanager(run)
        start_jobserver(run, ports)
        start_workerpool(run, ports, args.loopback_only)
        wait_ready(run, ports, SLOTS, list(PARTS), args.timeout)
    except BaseException:
        say("start-up failed: stopping what was started")
        stop(run, timeout=10)
        raise
    say(f"cluster {run.name!r} up in {time.monotonic() - started:.1f}s: Flink UI and REST "
        f"http://{HOST}:{ports['rest']}, job server {HOST}:{ports['job']}, worker pool "
        f"{HOST}:{ports['worker']}; logs in {run.log}")
    print(" ".join(runner_flags(info)))
    return 0


def cmd_down(args) -> int:
    run = Run(args.name)
    started = time.monotonic()
    stopped = stop(run)
    if stopped:
        say(f"stopped {', '.join(stopped)} of cluster {run.name!r} in "
            f"{time.monotonic() - started:.1f}s")
    else:
        say(f"cluster {run.name!r}: nothing running")
    for scratch in ("tmp", "blobs", "web", "artifacts", "checkpoints", "savepoints"):
        shutil.rmtree(run.dir / scratch, ignore_errors=True)
    return 0


def cmd_status(args) -> int:
    run = Run(args.name)
    info = run.info()
    records = run.processes()
    if not records:
        say(f"cluster {run.name!r}: not running")
        return 1
    ok = True
    for name, record in records.items():
        state = "running" if alive(record) else "gone"
        ok &= state == "running"
        print(f"  {name:14s} pid {record['pid']:>7}  {state}")
    if info:
        ports = info["ports"]
        count = slots(ports["rest"])
        print(f"  REST http://{HOST}:{ports['rest']}: {count} task slots; job server "
              f"{'open' if port_open(ports['job']) else 'closed'}; worker pool "
              f"{'open' if port_open(ports['worker']) else 'closed'}")
        ok &= count >= SLOTS and port_open(ports["job"]) and port_open(ports["worker"])
        with contextlib.suppress(OSError, ValueError):
            for job in rest(ports["rest"], "/jobs/overview").get("jobs", []):
                print(f"  job {job['jid']} {job['state']:10s} {job['name']}")
    return 0 if ok else 1


def cmd_env(args) -> int:
    info = Run(args.name).info()
    if info is None:
        raise ClusterError(f"cluster {args.name!r} was never started: `up` first")
    print(" ".join(runner_flags(info)))
    return 0


def cmd_kill_taskmanager(args) -> int:
    """SIGKILL every TaskManager's JVM (not a shutdown), and the worker pool with
    its SDK workers: as when a TaskManager pod dies with its worker pool sidecar.
    (Left running, a dead TaskManager's SDK workers linger in the pool.)"""
    run = Run(args.name)
    killed = [n for n, r in run.processes().items()
              if (n.startswith("taskmanager") or n == "workerpool") and alive(r)]
    stop(run, killed, signal.SIGKILL, timeout=10)
    say(f"killed {', '.join(killed) or 'nothing'}")
    return 0


def cmd_start_taskmanager(args) -> int:
    """One more TaskManager, and the worker pool first if it is not running."""
    run = Run(args.name)
    info = run.info()
    if info is None:
        raise ClusterError("`up` first")
    existing = run.processes()
    started = time.monotonic()
    pool = existing.get("workerpool")
    if pool is None or not alive(pool):
        stop(run, ["workerpool"], timeout=5)
        start_workerpool(run, info["ports"], info.get("loopback_only", False))
        wait_ready(run, info["ports"], SLOTS, ["workerpool"], args.timeout)
    index = 1
    while f"taskmanager-{index}" in existing:
        index += 1
    name = f"taskmanager-{index}"
    before = taskmanager_ids(info["ports"]["rest"])
    start_taskmanager(run, name)
    deadline = time.monotonic() + args.timeout
    while slots(info["ports"]["rest"], exclude=before) < SLOTS:
        record = run.processes()[name]
        if not alive(record):
            raise ClusterError(f"{name} exited: {_tail(record['log'])}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{name} registered no slots within {args.timeout:g}s")
        time.sleep(0.25)
    say(f"{name} registered {SLOTS} slots after {time.monotonic() - started:.1f}s")
    return 0


# --- Network isolation -----------------------------------------------------------------


def isolated() -> bool:
    """Whether this process is in a network namespace whose only interface is lo."""
    try:
        names = [line.split(":", 1)[0].strip()
                 for line in Path("/proc/net/dev").read_text().splitlines()[2:]]
    except OSError:
        return False
    return names == ["lo"]


def prove_isolation() -> list[str]:
    """What shows that nothing can leave: the interfaces, and a connect to a
    public address (TEST-NET-3: never a real host) that fails at once."""
    lines = []
    links = subprocess.run(["ip", "-brief", "link"], capture_output=True, text=True).stdout
    lines.append("ip -brief link: " + " | ".join(links.split("\n")[:-1]))
    for family, address in ((socket.AF_INET, ("203.0.113.1", 80)),
                            (socket.AF_INET6, ("2001:db8::1", 80))):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            try:
                probe.connect(address)
                outcome = "CONNECTED"
            except OSError as exc:
                outcome = errno.errorcode.get(exc.errno, str(exc))
        lines.append(f"connect {address[0]}:{address[1]} -> {outcome}")
    return lines


def enter_namespace(argv: list[str]) -> int:
    """Run ``argv`` (this script again) in a new network namespace; a SIGTERM
    or SIGINT here is passed on, so that it stops what it started."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ClusterError("unshare (util-linux) is needed for a private network namespace")
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    # unshare execs argv: the child is the inner command itself.
    child = subprocess.Popen([unshare, *user, "--net", "--", *argv])

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ns_inode() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def sweep_namespace() -> list[int]:
    """SIGKILL every process left in this network namespace but this one and
    its ancestors: all of them were started in it, by this command."""
    mine = ns_inode()
    keep, pid = set(), os.getpid()
    while pid > 1:
        keep.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in keep:
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != mine:
                continue
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
        except (OSError, ProcessLookupError):
            continue
    return killed


def cmd_isolated(args, command: list[str], pytest_run: bool = False) -> int:
    """Downloads first, outside; then the cluster and ``command`` in a
    loopback-only network namespace; everything stopped at the end."""
    if not isolated():
        fetch(quiet=True)
        me = [sys.executable, str(Path(__file__).resolve())]
        inner = [*me, "--name", args.name, "_inside", "--timeout", str(args.timeout),
                 "--command-timeout", str(args.command_timeout),
                 *(["--pytest"] if pytest_run else []), "--", *command]
        return enter_namespace(inner)
    return _inside(args, command)


class Stopped(Exception):
    """A SIGTERM or SIGINT asked the isolated command to stop."""


def _stop_on_signal(signum, frame):
    raise Stopped(signal.Signals(signum).name)


def _run_bounded(command: list[str], env: dict, timeout: float) -> int:
    """``command`` in its own process group, killed (the whole group) after
    ``timeout`` seconds or on a stop request."""
    process = subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        say(f"{shlex.join(command)} still runs after {timeout:g}s: killing it")
        return 124
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _inside(args, command: list[str]) -> int:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_on_signal)
    try:
        return _inside_namespace(args, command)
    except Stopped as exc:
        say(f"stopped by {exc}")
        return 130


def _inside_namespace(args, command: list[str]) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if not isolated():
        raise ClusterError("not in a loopback-only network namespace; refusing to run")
    for line in prove_isolation():
        say(f"isolation: {line}")
    me = [sys.executable, str(Path(__file__).resolve()), "--name", args.name]
    env = dict(os.environ, NEWSBEAM_FLINK="1", NEWSBEAM_FLINK_NAME=args.name)
    code = 1
    try:
        up = subprocess.run([*me, "up", "--loopback-only", "--timeout", str(args.timeout)])
        if up.returncode != 0:
            return up.returncode
        code = _run_bounded(command, env, args.command_timeout)
        say(f"{shlex.join(command)} exited with status {code}")
        if code != 0:
            report(Run(args.name))
    finally:
        subprocess.run([*me, "down"])
        left = sweep_namespace()
        if left:
            say(f"killed {len(left)} processes left in the namespace: {left}")
    return code


def cmd_test(args, extra: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/flink", *extra]
    return cmd_isolated(args, pytest, pytest_run=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default=os.environ.get("NEWSBEAM_FLINK_NAME"),
                        help="which cluster: its folder .flink/run/NAME (default: 'default'; "
                        "'isolated' for test and isolated)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download and assemble Flink and the job server")
    up = sub.add_parser("up", help="start the cluster and wait until it is ready")
    up.add_argument("--port-offset", type=int, default=0)
    for key, port in DEFAULT_PORTS.items():
        up.add_argument(f"--{key}-port", type=int, default=None,
                        help=f"default {port} + offset")
    up.add_argument("--loopback-only", action="store_true",
                    help="SDK workers get the tests' loopback-only socket guard")
    up.add_argument("--timeout", type=float, default=READY_TIMEOUT)
    sub.add_parser("down", help="stop every process `up` started, and wait for them")
    sub.add_parser("status", help="exit 0 if every part runs and answers")
    sub.add_parser("env", help="print newsbeam's runner flags for this cluster")
    sub.add_parser("kill-taskmanager", help="SIGKILL the TaskManager JVMs and the worker "
                   "pool (fault tests)")
    start_tm = sub.add_parser("start-taskmanager", help="start one more TaskManager (and the "
                              "worker pool, if it is not running)")
    start_tm.add_argument("--timeout", type=float, default=90.0)
    for name in ("test", "isolated"):
        isolated_parser = sub.add_parser(
            name, help="pytest tests/flink" if name == "test" else "run a command after --, "
            "in a loopback-only namespace with the cluster up")
        isolated_parser.add_argument("--timeout", type=float, default=READY_TIMEOUT)
        isolated_parser.add_argument("--command-timeout", type=float, default=COMMAND_TIMEOUT,
                                     help="kill the command after this many seconds")
    inside = sub.add_parser("_inside")
    inside.add_argument("--timeout", type=float, default=READY_TIMEOUT)
    inside.add_argument("--command-timeout", type=float, default=COMMAND_TIMEOUT)
    inside.add_argument("--pytest", action="store_true")
    pool = sub.add_parser("worker-pool", help="(internal) the SDK worker pool process")
    pool.add_argument("--port", type=int, required=True)
    pool.add_argument("--log", required=True)
    args, extra = parser.parse_known_args(argv)
    if args.name is None:
        args.name = "isolated" if args.command in ("test", "isolated", "_inside") else "default"
    try:
        if args.command == "fetch":
            fetch()
            return 0
        if args.command == "worker-pool":
            worker_pool(args.port, args.log)
            return 0
        if args.command == "test":
            return cmd_test(args, extra + command)
        if args.command == "isolated":
            if not command:
                parser.error("isolated needs a command after --")
            return cmd_isolated(args, command)
        if args.command == "_inside":
            return _inside(args, command)
        handler = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "env": cmd_env,
                   "kill-taskmanager": cmd_kill_taskmanager,
                   "start-taskmanager": cmd_start_taskmanager}[args.command]
        if extra:
            parser.error(f"unknown arguments: {' '.join(extra)}")
        return handler(args)
    except ClusterError as exc:
        print(f"flink: error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
