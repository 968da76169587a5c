"""``make bench-flink``: newsbeam on the local Flink cluster against the DirectRunner.

The same pages as ``make bench`` (``bench/corpus.py``: ../shared/corpora, or
$NEWSBEAM_BENCH_CORPORA, else the fixtures), served on loopback, ingested by
``newsbeam ingest`` twice, each into a fresh output with the same
``--fetched-at``:

- ``direct 2 workers``: ``--direct_num_workers=2 --direct_running_mode=multi_processing``;
- ``flink p=2``: the cluster's runner flags (``tools/flink/cluster.py env``),
  ``--parallelism=2``.

Measured as ``bench/suite.py`` measures: wall time, CPU seconds and peak
RSS.  For the DirectRunner, of newsbeam's process tree.  For Flink, of
newsbeam's process tree *plus every process of the cluster* (JobManager,
TaskManager, job server, worker pool and the SDK workers it starts), sampled
from /proc every 0.2 s: CPU is the growth of each process's user + system
time over the run, RSS the largest sum seen.  The cluster's RSS before the
run is reported too: a session cluster costs memory while idle.

Run it through ``make bench-flink``, which starts the cluster in a
loopback-only network namespace (``tools/flink/cluster.py isolated``).
Results: ``out/bench/flink.json`` and a table on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds

from bench.corpus import NAMES, REPO, corpus_root, machine, sandbox, serve, write_json
from bench.procfs import Proc, snapshot, tree_rss_kib
from bench.suite import NETGUARD

FETCHED_AT = "2026-11-25T12:00:00Z"
CLUSTER = REPO / "tools" / "flink" / "cluster.py"
TICKS = os.sysconf("SC_CLK_TCK")


def newsbeam_command() -> list[str]:
    return shlex.split(os.environ.get("NEWSBEAM_FLINK_COMMAND", "")) or [
        str(Path(sys.executable).with_name("newsbeam"))]


def cluster_groups(name: str) -> list[int]:
    """The process groups ``cluster.py up`` started (one per part)."""
    folder = Path(os.environ.get("NEWSBEAM_FLINK_DIR") or REPO / ".flink") / "run" / name / "pids"
    return [json.loads(p.read_text())["pgid"] for p in folder.glob("*.json")]


def runner_flags(name: str) -> list[str]:
    done = subprocess.run([sys.executable, str(CLUSTER), "--name", name, "env"],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def _in_groups(processes: dict[int, Proc], groups: set[int]) -> dict[tuple[int, str], Proc]:
    """The live processes of ``groups``, by (pid, start time)."""
    return {(p.pid, p.start): p for p in processes.values()
            if p.pgid in groups and p.state != "Z"}


def measure(name: str, command: list[str], env: dict, output: Path,
            groups: list[int] | None = None) -> dict:
    """Wall time, CPU and peak RSS of ``command``'s tree and of the cluster's groups."""
    cluster = set(groups or [])
    idle = _in_groups(snapshot(), cluster)
    baseline = {key: p.cpu_ticks for key, p in idle.items()}
    idle_rss = sum(p.rss_kib for p in idle.values())
    latest = dict(baseline)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=REPO)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while True:
            processes = snapshot()  # one pass over /proc per sample
            seen = _in_groups(processes, cluster)
            for key, p in seen.items():
                latest[key] = max(p.cpu_ticks, latest.get(key, 0))
            peak[0] = max(peak[0], tree_rss_kib(processes, process.pid)
                          + sum(p.rss_kib for p in seen.values()))
            if done.wait(0.2):
                return
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    launcher = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cluster_cpu = sum(cpu - baseline.get(key, 0) for key, cpu in latest.items()) / TICKS
    cpu = launcher + cluster_cpu
    result = {"name": name, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
              "launcher_cpu_seconds": round(launcher, 2),
              "cluster_cpu_seconds": round(cluster_cpu, 2),
              "peak_rss_mib": round(peak[0] / 1024, 1),
              "cluster_idle_rss_mib": round(idle_rss / 1024, 1), "exit": process.returncode}
    if process.returncode != 0:
        result["error"] = (stderr.strip().splitlines() or ["failed"])[-1]
        return result
    articles = ds.dataset(output / "articles", format="parquet",
                          partitioning="hive").count_rows()
    result["articles"] = articles
    if articles:
        result["articles_per_s"] = round(articles / wall, 2)
        result["cpu_ms_per_article"] = round(1000 * cpu / articles, 1)
        result["articles_per_cpu_s"] = round(articles / cpu, 2) if cpu else None
    return result


def render(report: dict) -> str:
    lines = [f"{report['pages']} pages from {report['corpora']} on {report['machine']['cpus']} "
             f"CPUs ({report['date']})",
             f"{'run':18s} {'articles':>8s} {'seconds':>8s} {'art/s':>7s} {'cpu s':>7s} "
             f"{'cpu ms/art':>10s} {'peak MiB':>9s} {'idle MiB':>9s}"]
    for run in report["runs"]:
        lines.append(f"{run['name']:18s} {run.get('articles', 0):8d} {run['seconds']:8.1f} "
                     f"{run.get('articles_per_s') or 0:7.2f} {run['cpu_seconds']:7.1f} "
                     f"{run.get('cpu_ms_per_article') or 0:10.1f} {run['peak_rss_mib']:9.1f} "
                     f"{run['cluster_idle_rss_mib']:9.1f}")
        if run.get("error"):
            lines.append(f"  error: {run['error']}")
    flink = next((r for r in report["runs"] if r["name"].startswith("flink")), {})
    if flink.get("cluster_cpu_seconds") is not None:
        lines.append(f"flink CPU: {flink['cluster_cpu_seconds']} s in the cluster, "
                     f"{flink['launcher_cpu_seconds']} s in newsbeam's launcher")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", default=",".join(NAMES))
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--cluster", default=os.environ.get("NEWSBEAM_FLINK_NAME", "default"))
    parser.add_argument("--flink-flag", action="append", default=[],
                        help="one more flag for the Flink run (repeatable)")
    args = parser.parse_args()
    sandbox()
    names = tuple(args.corpora.split(","))
    groups = cluster_groups(args.cluster)
    if not groups:
        raise SystemExit(f"bench-flink: no cluster {args.cluster!r} runs (make bench-flink "
                         "starts one)")
    flink_flags = runner_flags(args.cluster) + args.flink_flag
    work = Path(tempfile.mkdtemp(prefix="newsbeam-bench-flink-"))
    site, feeds = serve(0.0, names)
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
    runs = []
    try:
        (work / "feeds.txt").write_text("\n".join(feeds) + "\n")
        common = ["ingest", "--feeds", str(work / "feeds.txt"), "--allow-private-networks",
                  "--fetched-at", FETCHED_AT]
        plan = [
            ("direct 2 workers", ["--direct_num_workers=2",
                                  "--direct_running_mode=multi_processing"], None),
            ("flink p=2", flink_flags, groups),
        ]
        for name, flags, measured_groups in plan:
            output = work / name.split()[0]
            print(f"bench-flink: {name} ...", flush=True)
            command = [*newsbeam_command(), *common, "--output", str(output), *flags]
            runs.append(measure(name, command, env, output, measured_groups))
            runs[-1]["flags"] = flags
            print(f"bench-flink: {name}: {json.dumps(runs[-1])}", flush=True)
    finally:
        site.stop()
        shutil.rmtree(work, ignore_errors=True)
    direct, flink = runs[0], runs[1]
    ratio = (round(flink["articles_per_s"] / direct["articles_per_s"], 3)
             if flink.get("articles_per_s") and direct.get("articles_per_s") else None)
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d"),
              "pages": sum(1 for _ in names) and None, "corpora": str(corpus_root()),
              "machine": machine(), "runs": runs,
              "ratios": {"flink_vs_direct_2_workers_throughput": ratio}}
    from bench.corpus import page_count
    report["pages"] = page_count(names)
    write_json(REPO / args.out / "flink.json", report)
    print(render(report))
    print(f"throughput flink / direct 2 workers: {ratio}")


if __name__ == "__main__":
    main()
