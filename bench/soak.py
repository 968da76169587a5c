"""Soak run: `newsbeam stream` on Prism for 10+ minutes against a site that
keeps publishing, sampling the memory of the whole process tree (launcher,
SDK harness, Prism).  Memory must stay flat: the seen state is bounded by
the TTL (shortened here so expiry happens within the run) and by what the
feed lists.  Writes ``out/bench/soak.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds

from bench.corpus import REPO, machine, sandbox, write_json
from bench.procfs import snapshot, tree_rss_kib
from bench.suite import NETGUARD
from devsite.live_site import LiveSite, title_item
from transforms.lib.datasets import ARTICLES
from transforms.sinks.parquet import ParquetSink


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--period", type=float, default=0.5, help="seconds between items")
    parser.add_argument("--out", default="out/bench/soak.json")
    args = parser.parse_args()
    sandbox()
    live = LiveSite(period=args.period, keep=60)
    live.start_site()
    work = Path(REPO / "out" / "bench" / "soak-lake")
    if work.exists():
        import shutil
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "feeds.txt").write_text(live.site.url("/feed.xml") + "\n")
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.stream", "--feeds", str(work / "feeds.txt"),
         "--output", str(work / "lake"), "--allow-private-networks", "--poll-interval", "5",
         "--window", "30", "--seen-ttl", "0.05"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples = []
    started = time.time()
    try:
        while time.time() - started < args.minutes * 60 and process.poll() is None:
            samples.append((round(time.time() - started, 1),
                            round(tree_rss_kib(snapshot(), process.pid) / 1024, 1)))
            print(f"soak: t={samples[-1][0]:6.0f}s rss={samples[-1][1]:7.1f} MiB", flush=True)
            time.sleep(15)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=180)
        live.stop()
    table = ds.dataset(ParquetSink(str(work / "lake")).location(ARTICLES), format="parquet",
                       partitioning="hive").to_table(columns=["id", "title"])
    ids = table.column("id").to_pylist()
    items = sorted({title_item(t) for t in table.column("title").to_pylist()})
    warm = [p for p in samples if p[0] >= 120]
    half = len(warm) // 2
    first, last = warm[:half], warm[half:]
    mean = lambda points: sum(y for _, y in points) / max(1, len(points))  # noqa: E731
    report = {
        "minutes": args.minutes, "exit": process.returncode, "articles": len(ids),
        "duplicates": len(ids) - len(set(ids)), "items_published": live.published(),
        "items_missing": sorted(set(range(max(items) + 1)) - set(items)) if items else [],
        "rss_mib": samples, "rss_slope_mib_per_min": round(60 * slope(warm), 3) if warm else None,
        "rss_mean_first_half": round(mean(first), 1), "rss_mean_second_half": round(mean(last), 1),
        "machine": machine(), "tail": output.strip().splitlines()[-3:],
    }
    report["flat"] = bool(warm) and report["rss_mean_second_half"] <= \
        1.1 * report["rss_mean_first_half"]
    write_json(REPO / args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k != "rss_mib"}, indent=1))


if __name__ == "__main__":
    main()
