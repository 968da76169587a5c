"""Memory curve: peak RSS of one ``newsbeam ingest`` (1 worker) per batch size.

The benchmark pages are served again and again under distinct loopback URLs
(``/a/000123.html`` is page 123 modulo the corpus), listed by feeds of 500
items, so a batch of 10,000 pages is 10,000 distinct articles of real HTML.
Each size runs in a fresh process; the sampler reads the RSS of the whole
process tree every 0.2 s.  Writes ``out/bench/memory.json`` and, with the
peers' matplotlib, ``out/bench/memory.png``.

Targets (issue 15): at most 1 GiB at 10,000 pages, and the 10,000-page peak
within 1.25x of the 1,000-page peak.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.corpus import NAMES, REPO, corpus_root, machine, sandbox, write_json
from bench.procfs import snapshot, tree_rss_kib
from devsite.corpus_site import load_corpus
from devsite.server import Site, static

NETGUARD = REPO / "devsite" / "netguard"
PER_FEED = 500
TARGETS = {"peak_rss_mib_at_largest": 1024, "largest_vs_smallest": 1.25}


def repeated_site(count: int) -> Site:
    """A started site serving ``count`` distinct article URLs and their feeds."""
    pages = [p for name in NAMES for p in load_corpus(name, corpus_root())]

    def routes(site: Site) -> None:
        base = f"http://127.0.0.1:{site.port}"
        handlers = [static(p.html, content_type="text/html") for p in pages]
        for i in range(count):
            site.routes[f"/a/{i:06d}.html"] = handlers[i % len(pages)]
        for f, start in enumerate(range(0, count, PER_FEED)):
            items = "\n".join(
                f"<item><title>{html.escape(pages[i % len(pages)].title or f'Page {i}')}"
                f"</title><link>{base}/a/{i:06d}.html</link>"
                f'<guid isPermaLink="false">a{i}</guid>'
                f"<pubDate>Mon, 24 Nov 2025 {i % 24:02d}:00:00 +0000</pubDate></item>"
                for i in range(start, min(count, start + PER_FEED)))
            site.routes[f"/feeds/{f}.xml"] = static(
                f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                f"<title>Repeat {f}</title><link>{base}/</link><description>bench"
                f"</description>\n{items}\n</channel></rss>",
                content_type="application/rss+xml; charset=utf-8")

    return Site(on_start=routes).start()


def one_size(count: int, work: Path, extra: list[str]) -> dict:
    """Ingest ``count`` pages once; peak and timeline of the tree's RSS."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    site = repeated_site(count)
    try:
        feeds = work / "feeds.txt"
        feeds.write_text("".join(site.url(f"/feeds/{f}.xml") + "\n"
                                 for f in range((count + PER_FEED - 1) // PER_FEED)))
        command = [sys.executable, "-m", "pipelines.ingest", "--feeds", str(feeds),
                   "--output", str(work / "out"), "--allow-private-networks",
                   "--fetched-at", "2026-11-25T00:00:00Z", "--quiet", *extra]
        env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
        started = time.monotonic()
        with open(work / "log.txt", "w") as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
            timeline: list[tuple[float, float]] = []
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.2):
                    mib = tree_rss_kib(snapshot(), process.pid) / 1024
                    timeline.append((round(time.monotonic() - started, 1), round(mib, 1)))
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            code = process.wait()
            done.set()
            sampler.join()
    finally:
        site.stop()
    result = {"pages": count, "exit": code, "seconds": round(time.monotonic() - started, 1),
              "peak_rss_mib": max((mib for _, mib in timeline), default=0.0),
              # every 25th sample (5 s): enough to see where the peak is
              "timeline": timeline[::25]}
    try:
        summary = json.loads((work / "out" / "run_summary.json").read_text())
        result.update(articles=summary.get("articles"), dead_letters=summary.get("dead_letters"))
    except (OSError, ValueError) as exc:
        result["error"] = str(exc)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000",
                        help="batch sizes in pages, comma-separated (default 1000,3000,10000)")
    parser.add_argument("--out", default="out/bench/memory.json")
    args, extra = parser.parse_known_args()
    sandbox()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    for count in sizes:
        run = one_size(count, REPO / "out" / "bench" / f"memory-{count}", extra)
        runs.append(run)
        print(f"bench memory: {count} pages: peak {run['peak_rss_mib']} MiB, "
              f"{run.get('articles')} articles, {run['seconds']} s", flush=True)
    smallest, largest = runs[0], runs[-1]
    report = {
        "date": time.strftime("%Y-%m-%d"), "machine": machine(), "runs": runs,
        "ratios": {"largest_vs_smallest": round(largest["peak_rss_mib"]
                                                / smallest["peak_rss_mib"], 3)
                   if smallest["peak_rss_mib"] else None},
        "targets": TARGETS,
    }
    out = REPO / args.out
    write_json(out, report)
    from bench.suite import ensure_bench_venv
    python = ensure_bench_venv()
    if python is not None:
        subprocess.run([str(python), str(REPO / "bench" / "peers" / "memory_chart.py"),
                        str(out), str(out.with_suffix(".png"))], check=False)
    print(json.dumps({k: report[k] for k in ("ratios", "targets")}))


if __name__ == "__main__":
    main()
