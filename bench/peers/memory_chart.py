"""The memory curve of bench/memory.py: peak RSS by batch size, and RSS over
time for each size (run by the peers' virtualenv, which has matplotlib)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

data = json.load(open(sys.argv[1]))
runs = [r for r in data["runs"] if r.get("peak_rss_mib")]
fig, (curve, timelines) = plt.subplots(1, 2, figsize=(13, 4.8))
pages = [r["pages"] for r in runs]
peaks = [r["peak_rss_mib"] for r in runs]
curve.plot(pages, peaks, marker="o", color="#2b6cb0", label="newsbeam ingest, 1 worker")
for x, y in zip(pages, peaks, strict=True):
    curve.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 8),
                   ha="center", fontsize=8)
target = data["targets"]["peak_rss_mib_at_largest"]
curve.axhline(target, color="#c53030", linestyle="--", linewidth=1, label=f"target {target} MiB")
curve.set_xlabel("pages in the batch")
curve.set_ylabel("peak RSS of the process tree (MiB)")
curve.set_ylim(0, max(peaks + [target]) * 1.2)
curve.legend(loc="lower right", fontsize=8)
curve.set_title("peak RSS by batch size")
for run in runs:
    points = run.get("timeline") or []
    timelines.plot([t for t, _ in points], [m for _, m in points], label=f"{run['pages']} pages")
timelines.set_xlabel("seconds since start")
timelines.set_ylabel("RSS (MiB)")
timelines.legend(fontsize=8)
timelines.set_title("RSS over the run")
fig.suptitle(f"newsbeam memory curve ({data['machine']['cpus']} CPUs, {data['date']}): "
             f"largest / smallest = {data['ratios']['largest_vs_smallest']}")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
