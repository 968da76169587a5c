"""Throughput with and without 200 ms of server latency per response.

The same real pages, the same pipeline, measured one after the other in one
process: the ratio tells whether fetching overlaps network waits (the
target is at least 0.8).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.corpus import NAMES, machine, page_count, serve, write_json
from pipelines import ingest

TARGET = 0.8


def run_once(latency: float, names: tuple[str, ...], extra: list[str]) -> dict:
    site, feeds = serve(latency, names)
    out = Path(tempfile.mkdtemp(prefix="newsbeam-bench-"))
    try:
        (out / "feeds.txt").write_text("\n".join(feeds) + "\n")
        started = time.monotonic()
        code = ingest.run(["--feeds", str(out / "feeds.txt"), "--output", str(out / "lake"),
                           "--allow-private-networks", "--fetched-at",
                           "2026-11-25T12:00:00Z", *extra])
        seconds = time.monotonic() - started
        import json
        summary = json.loads((out / "lake" / "run_summary.json").read_text())
        assert code == 0
        return {"latency_s": latency, "seconds": round(seconds, 2),
                "articles": summary["articles"],
                "articles_per_s": round(summary["articles"] / seconds, 2)}
    finally:
        site.stop()
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--corpora", default=",".join(NAMES))
    parser.add_argument("--out", default="out/bench/latency.json")
    args, extra = parser.parse_known_args()
    names = tuple(args.corpora.split(","))
    base = run_once(0.0, names, extra)
    slow = run_once(args.latency, names, extra)
    ratio = slow["articles_per_s"] / base["articles_per_s"]
    result = {"pages": page_count(names), "without_latency": base, "with_latency": slow,
              "ratio": round(ratio, 3), "target": TARGET, "met": ratio >= TARGET,
              "machine": machine()}
    write_json(Path(args.out), result)
    print(f"pages: {result['pages']}")
    print(f"no latency:     {base['articles_per_s']:7.2f} articles/s ({base['seconds']} s)")
    print(f"{args.latency * 1000:.0f} ms latency: {slow['articles_per_s']:7.2f} articles/s "
          f"({slow['seconds']} s)")
    print(f"ratio {ratio:.3f} (target >= {TARGET}): {'met' if ratio >= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
