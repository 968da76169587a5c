"""The pages benchmarks run on: ../shared/corpora when present, else the
repository's fixture copies, served over loopback with an RSS feed each."""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from devsite.corpus_site import CORPORA, corpus_site, load_corpus

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpora"
NAMES = ("zyte", "fundus-dev", "trafilatura-eval")


def sandbox() -> None:
    """Loopback-only for this process (devsite/netguard): benchmarks serve real
    pages whose links point at the public web, and must never follow them."""
    guard = str(REPO / "devsite" / "netguard")
    if guard not in sys.path:
        sys.path.insert(0, guard)
    import loopback_only
    loopback_only.install()


def corpus_root() -> Path:
    override = os.environ.get("NEWSBEAM_BENCH_CORPORA")
    if override:
        return Path(override)
    return SHARED if all((SHARED / n / "docs.jsonl").exists() for n in NAMES) else CORPORA


def serve(latency: float = 0.0, names: tuple[str, ...] = NAMES):
    """A started site and the URLs of its feeds."""
    site = corpus_site(names, latency=latency, root=corpus_root()).start()
    return site, [site.url(f"/feeds/{n}.xml") for n in names]


def page_count(names: tuple[str, ...] = NAMES) -> int:
    return sum(len(load_corpus(n, corpus_root())) for n in names)


def machine() -> dict:
    cpus = os.cpu_count()
    memory = None
    try:
        with open("/proc/meminfo") as handle:
            memory = int(handle.readline().split()[1]) // 1024
    except OSError:
        pass
    return {"cpus": cpus, "memory_mib": memory, "python": platform.python_version(),
            "platform": platform.platform(), "processor": platform.processor() or None}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
