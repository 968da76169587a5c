"""Soak run: `newsbeam stream` on Prism for an hour against a site that
keeps publishing, sampling the resident memory of every process of the
stream (the launcher, which also runs the SDK harness in LOOPBACK mode; the
Prism job server; any SDK worker processes) and of the whole tree.

Memory must stay flat: the seen state and the story index are bounded by
their TTLs (shortened here, ``--ttl-hours``, so that expiry happens within
the run) and by what the feed lists, and nothing else may grow with the
windows, bundles or polls.  After warm-up the line
must be flat: the least-squares slope over the second half of the run must
stay under ``TARGET_SLOPE`` MiB per minute, for the tree and for each
process.  Writes ``out/bench/soak.json`` (rewritten every few minutes while
it runs, with ``"partial": true``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.dataset as ds

from bench.corpus import REPO, machine, sandbox, write_json
from bench.procfs import Proc, snapshot, tree
from bench.suite import NETGUARD
from devsite.live_site import LiveSite, title_item
from transforms.lib.datasets import ARTICLES
from transforms.sinks.parquet import ParquetSink

TARGET_SLOPE = 0.1  # MiB per minute, fitted over the second half of the run
SAMPLE_EVERY = 15.0  # seconds
WRITE_EVERY = 20  # samples between partial reports


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def role(proc: Proc, root: int) -> str:
    """Which part of the stream a process is."""
    if proc.pid == root:
        return "launcher"
    if "prism" in proc.name:
        return "prism"
    if proc.name.startswith("python"):
        return "sdk_worker"
    return "other"


def sample(root: int) -> dict[str, float]:
    """MiB resident per role (processes of one role summed) and for the tree."""
    found: dict[str, float] = {}
    for proc in tree(snapshot(), root):
        name = role(proc, root)
        found[name] = found.get(name, 0.0) + proc.rss_kib / 1024
    found["tree"] = sum(found.values())
    return {k: round(v, 1) for k, v in found.items()}


def fit(series: list[tuple[float, float]], since: float) -> dict:
    """Slope (MiB/min) and mean of the points at or after ``since`` seconds."""
    points = [p for p in series if p[0] >= since]
    if not points:
        return {"slope_mib_per_min": None, "mean_mib": None, "points": 0}
    return {"slope_mib_per_min": round(60 * slope(points), 4),
            "mean_mib": round(sum(y for _, y in points) / len(points), 1),
            "min_mib": min(y for _, y in points), "max_mib": max(y for _, y in points),
            "points": len(points)}


def report(args, samples: list[tuple[float, dict]], elapsed: float) -> dict:
    roles = sorted({name for _, values in samples for name in values} - {"tree"})
    series = {name: [(t, values[name]) for t, values in samples if name in values]
              for name in [*roles, "tree"]}
    half = elapsed / 2
    warm = [p for p in series["tree"] if p[0] >= args.warmup]
    first = [p for p in warm if p[0] < half]
    last = [p for p in warm if p[0] >= half]
    mean = lambda points: round(sum(y for _, y in points) / max(1, len(points)), 1)  # noqa: E731
    second_half = {name: fit(points, half) for name, points in series.items()}
    slopes = [v["slope_mib_per_min"] for v in second_half.values()
              if v["slope_mib_per_min"] is not None]
    return {
        "minutes": args.minutes, "elapsed_minutes": round(elapsed / 60, 2),
        "period_s": args.period, "window_s": args.window, "poll_interval_s": args.poll_interval,
        "ttl_hours": args.ttl_hours,
        "rss_mib": series["tree"],
        "rss_by_process_mib": {name: series[name] for name in roles},
        "target_slope_mib_per_min": TARGET_SLOPE,
        "second_half_from_s": round(half, 1),
        "second_half": second_half,
        "flat": bool(slopes) and all(s < TARGET_SLOPE for s in slopes),
        # Older fields (README cites them): the slope from the end of warm-up.
        "rss_slope_mib_per_min": round(60 * slope(warm), 3) if warm else None,
        "rss_mean_first_half": mean(first), "rss_mean_second_half": mean(last),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--period", type=float, default=0.5, help="seconds between items")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per window")
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--ttl-hours", type=float, default=0.05,
                        help="--seen-ttl and --story-ttl: short, so that the run reaches the "
                             "steady state where as much expires as comes in")
    parser.add_argument("--warmup", type=float, default=120.0,
                        help="seconds left out of the first/second-half means")
    parser.add_argument("--work", default="out/bench/soak-lake")
    parser.add_argument("--out", default="out/bench/soak.json")
    parser.add_argument("--pythonpath-prefix", default="",
                        help="put before the netguard on the stream's PYTHONPATH (diagnostics:"
                             " a sitecustomize there must install devsite/netguard too)")
    args = parser.parse_args()
    sandbox()
    live = LiveSite(period=args.period, keep=60)
    live.start_site()
    work = REPO / args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "feeds.txt").write_text(live.site.url("/feed.xml") + "\n")
    path = os.pathsep.join(p for p in (args.pythonpath_prefix, str(NETGUARD), str(REPO)) if p)
    env = dict(os.environ, PYTHONPATH=path)
    log = open(work / "stream.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.stream", "--feeds", str(work / "feeds.txt"),
         "--output", str(work / "lake"), "--allow-private-networks",
         "--poll-interval", f"{args.poll_interval:g}", "--window", f"{args.window:g}",
         "--seen-ttl", f"{args.ttl_hours:g}", "--story-ttl", f"{args.ttl_hours:g}"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    samples: list[tuple[float, dict]] = []
    started = time.time()
    try:
        while time.time() - started < args.minutes * 60 and process.poll() is None:
            samples.append((round(time.time() - started, 1), sample(process.pid)))
            t, values = samples[-1]
            print(f"soak: t={t:6.0f}s " + " ".join(f"{k}={v:7.1f}" for k, v in values.items())
                  + " MiB", flush=True)
            if len(samples) % WRITE_EVERY == 0:
                write_json(REPO / args.out, {**report(args, samples, t), "partial": True})
            time.sleep(SAMPLE_EVERY)
    finally:
        elapsed = time.time() - started
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        live.stop()
    table = ds.dataset(ParquetSink(str(work / "lake")).location(ARTICLES), format="parquet",
                       partitioning="hive").to_table(columns=["id", "title"])
    ids = table.column("id").to_pylist()
    items = sorted({title_item(t) for t in table.column("title").to_pylist()})
    output = (work / "stream.log").read_text(errors="replace")
    result = {
        "minutes": args.minutes, "exit": process.returncode, "articles": len(ids),
        "duplicates": len(ids) - len(set(ids)), "items_published": live.published(),
        "items_missing": sorted(set(range(max(items) + 1)) - set(items)) if items else [],
        **report(args, samples, elapsed),
        "tail": output.strip().splitlines()[-3:],
    }
    write_json(REPO / args.out, result)
    print(json.dumps({k: v for k, v in result.items()
                      if k not in ("rss_mib", "rss_by_process_mib")}, indent=1))


if __name__ == "__main__":
    main()
