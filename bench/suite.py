"""``make bench``: speed, scaling and cost, side by side in one run.

The same real news pages (../shared/corpora when present, else the
fixtures) are served over loopback with an RSS feed per corpus, and every
configuration runs in a fresh process, one after the other:

- ``tight loop``: newsbeam's stage functions in a plain loop, no Beam;
- ``newsbeam 1 worker``: the pipeline on the DirectRunner, one process;
- ``newsbeam 2 workers``: ``--direct_num_workers=2 --direct_running_mode=multi_processing``;
- ``newsbeam +200 ms``: one worker, with 200 ms of server latency per response;
- peers on the same URL list, from their own virtualenv (``.bench-venv``):
  trafilatura's command line, newspaper4k and news-please.

Each run reports articles/s (wall), CPU seconds per article (the process
tree's user + system time) and peak RSS (the tree's, sampled).  Results go
to ``out/bench/bench.json`` and ``out/bench/bench.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.corpus import NAMES, REPO, corpus_root, machine, sandbox, serve, write_json
from bench.procfs import snapshot, tree_rss_kib

BENCH_VENV = REPO / ".bench-venv"
PEERS = REPO / "bench" / "peers"
# Every measured process runs in the loopback-only sandbox: the peers see
# real pages whose images and links point at the public web.
NETGUARD = REPO / "devsite" / "netguard"
# Each line is one pip call: newspaper4k and trafilatura together trip a pip
# resolver bug over lxml's extras.
PEER_REQUIREMENTS = (("newspaper4k==0.9.6",), ("news-please==1.6.16",),
                     ("trafilatura==2.3.1", "lxml_html_clean==0.4.6", "matplotlib==3.11.2"))
TARGETS = {
    "pipeline_vs_tight": 0.85,
    "two_workers_vs_one": 1.8,
    "latency_vs_none": 0.8,
    # at most 1.1x trafilatura's CPU per article (issue 15)
    "cpu_efficiency_vs_trafilatura": round(1 / 1.1, 3),
    "cpu_efficiency_vs_newspaper4k": 3.0,
    "cpu_efficiency_vs_news-please": 3.0,
}


def ensure_bench_venv() -> Path | None:
    """The peers' virtualenv, made once; None if it cannot be made."""
    stamp = BENCH_VENV / ".installed"
    python = BENCH_VENV / "bin" / "python"
    if stamp.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        for group in PEER_REQUIREMENTS:
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *group], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"bench: could not build {BENCH_VENV}: {exc}", file=sys.stderr)
        return None
    stamp.touch()
    return python


def measure(name: str, command: list[str], env: dict | None = None) -> dict:
    """Run ``command``; wall time, CPU of the process tree, peak tree RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=REPO)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_kib(snapshot(), process.pid))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {"name": name, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
              "peak_rss_mib": round(peak[0] / 1024, 1), "exit": process.returncode}
    if process.returncode != 0:
        result["error"] = stderr.strip().splitlines()[-1:] if stderr.strip() else "failed"
        return result
    payload = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    result.update(payload)
    articles = result.get("articles") or 0
    if articles:
        result["articles_per_s"] = round(articles / wall, 2)
        result["cpu_ms_per_article"] = round(1000 * cpu / articles, 1)
        result["articles_per_cpu_s"] = round(articles / cpu, 2) if cpu else None
    return result


def page_urls(feeds_file: Path) -> list[str]:
    import urllib.request
    import xml.etree.ElementTree as ElementTree
    urls = []
    for feed in feeds_file.read_text().split():
        with urllib.request.urlopen(feed) as response:
            root = ElementTree.fromstring(response.read())
        urls += [link.text for link in root.iter("link") if link.text and ".html" in link.text]
    return urls


def ratios(runs: dict[str, dict]) -> dict[str, float | None]:
    def rate(name: str, key: str = "articles_per_s") -> float | None:
        return runs.get(name, {}).get(key)

    def ratio(a, b):
        return round(a / b, 3) if a and b else None
    out = {
        "pipeline_vs_tight": ratio(rate("newsbeam 1 worker"), rate("tight loop")),
        "two_workers_vs_one": ratio(rate("newsbeam 2 workers"), rate("newsbeam 1 worker")),
        "latency_vs_none": ratio(rate("newsbeam +200 ms"), rate("newsbeam 1 worker")),
    }
    ours = rate("newsbeam 1 worker", "articles_per_cpu_s")
    for peer in ("trafilatura CLI", "newspaper4k", "news-please"):
        key = f"cpu_efficiency_vs_{peer.split()[0]}"
        out[key] = ratio(ours, rate(peer, "articles_per_cpu_s"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpora", default=",".join(NAMES))
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    sandbox()
    names = tuple(args.corpora.split(","))
    out = REPO / args.out
    work = Path(tempfile.mkdtemp(prefix="newsbeam-bench-"))
    python = None if args.skip_peers else ensure_bench_venv()
    site, feeds = serve(0.0, names)
    slow_site, slow_feeds = serve(0.2, names)
    ours = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
    peers = dict(os.environ, PYTHONPATH=str(NETGUARD))
    runs: dict[str, dict] = {}
    try:
        (work / "feeds.txt").write_text("\n".join(feeds) + "\n")
        (work / "slow-feeds.txt").write_text("\n".join(slow_feeds) + "\n")
        urls = page_urls(work / "feeds.txt")
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        me = [sys.executable, "-m", "bench.run_config"]
        plan = [
            ("tight loop", me + ["tight", "--feeds", str(work / "feeds.txt"),
                                 "--out", str(work / "tight")]),
            ("newsbeam 1 worker", me + ["pipeline", "--feeds", str(work / "feeds.txt"),
                                        "--out", str(work / "one")]),
            ("newsbeam 2 workers", me + ["pipeline", "--feeds", str(work / "feeds.txt"),
                                         "--out", str(work / "two"), "--direct_num_workers=2",
                                         "--direct_running_mode=multi_processing"]),
            ("newsbeam +200 ms", me + ["pipeline", "--feeds", str(work / "slow-feeds.txt"),
                                       "--out", str(work / "slow")]),
        ]
        if python is not None:
            plan += [
                ("trafilatura CLI", [str(python), "-c", TRAFILATURA_CLI, str(work / "urls.txt"),
                                     str(work / "trafilatura-out"),
                                     str(work / "trafilatura.cfg")]),
                ("newspaper4k", [str(python), str(PEERS / "newspaper4k_loop.py"),
                                 str(work / "urls.txt")]),
                ("news-please", [str(python), str(PEERS / "newsplease_loop.py"),
                                 str(work / "urls.txt")]),
            ]
        for name, command in plan:
            print(f"bench: {name} ...", flush=True)
            runs[name] = measure(name, command, ours if "bench.run_config" in command else peers)
            print(f"bench: {name}: {json.dumps(runs[name])}", flush=True)
    finally:
        site.stop()
        slow_site.stop()
        shutil.rmtree(work, ignore_errors=True)
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "pages": len(urls),
              "corpora": str(corpus_root()), "machine": machine(),
              "runs": list(runs.values()), "ratios": ratios(runs), "targets": TARGETS}
    write_json(out / "bench.json", report)
    if python is not None:
        subprocess.run([str(python), str(PEERS / "chart.py"), str(out / "bench.json"),
                        str(out / "bench.png")], check=False)
    print(render(report))


# trafilatura's CLI with its own settings, except two that would make the
# comparison meaningless: its 5 s sleep between requests to one host, and
# its refusal of loopback addresses (the corpus is served on 127.0.0.1).
# The number of files it writes is the number of articles.
TRAFILATURA_CLI = """
import configparser, json, os, subprocess, sys
import trafilatura
urls, out, config = sys.argv[1:4]
settings = configparser.ConfigParser()
settings.read(os.path.join(os.path.dirname(trafilatura.__file__), "settings.cfg"))
settings["DEFAULT"].update({"SLEEP_TIME": "0", "SSRF_PROTECTION": "off"})
with open(config, "w") as handle:
    settings.write(handle)
code = subprocess.call([os.path.join(os.path.dirname(sys.executable), "trafilatura"),
                        "-i", urls, "-o", out, "--no-comments", "--with-metadata",
                        "--config-file", config, "--parallel", "1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
n = sum(len(files) for _, _, files in os.walk(out))
print(json.dumps({"articles": n, "exit": code}))
"""


def render(report: dict) -> str:
    lines = [f"{report['pages']} pages from {report['corpora']} on {report['machine']['cpus']} "
             f"CPUs ({report['date']})",
             f"{'run':20s} {'articles':>8s} {'seconds':>8s} {'art/s':>7s} {'cpu ms/art':>10s} "
             f"{'art/cpu-s':>9s} {'peak MiB':>9s}"]
    for run in report["runs"]:
        lines.append(f"{run['name']:20s} {run.get('articles', 0):8d} {run['seconds']:8.1f} "
                     f"{run.get('articles_per_s') or 0:7.2f} "
                     f"{run.get('cpu_ms_per_article') or 0:10.1f} "
                     f"{run.get('articles_per_cpu_s') or 0:9.2f} {run['peak_rss_mib']:9.1f}")
    lines.append("ratios (same run):")
    for key, value in report["ratios"].items():
        target = report["targets"].get(key)
        verdict = "" if target is None or value is None else (
            "  met" if value >= target else f"  MISSED (target {target})")
        lines.append(f"  {key:32s} {value if value is not None else 'n/a'}"
                     f"{f' (target >= {target})' if target and not verdict.strip() else ''}"
                     f"{verdict}")
    tight = next((r for r in report["runs"] if r["name"] == "tight loop"), None)
    if tight and tight.get("stage_seconds"):
        lines.append("where the time goes (tight loop, ms per article):")
        for stage, seconds in tight["stage_seconds"].items():
            lines.append(f"  {stage:18s} {1000 * seconds / max(1, tight['articles']):7.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
