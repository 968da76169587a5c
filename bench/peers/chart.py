"""Bar charts of the benchmark JSON: articles/s and articles per CPU-second."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

data = json.load(open(sys.argv[1]))
runs = [r for r in data["runs"] if r.get("articles")]
names = [r["name"] for r in runs]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
PANELS = (("articles_per_s", "articles / s (wall)"),
          ("articles_per_cpu_s", "articles / CPU-second"),
          ("peak_rss_mib", "peak RSS (MiB)"))
for ax, (key, title) in zip(axes, PANELS, strict=True):

    values = [r[key] for r in runs]
    bars = ax.barh(names, values, color=["#2b6cb0" if n.startswith(("newsbeam", "tight"))
                                         else "#a0aec0" for n in names])
    ax.bar_label(bars, fmt="%.1f", padding=3, fontsize=8)
    ax.set_title(title)
    ax.invert_yaxis()
    ax.margins(x=0.2)
fig.suptitle(f"newsbeam benchmark: {data['pages']} real news pages over loopback "
             f"({data['machine']['cpus']} CPUs, {data['date']})")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
