"""``make eval``: extraction quality of newsbeam against trafilatura alone.

For each corpus (../shared/corpora when present, else the fixtures), the
pages are served over loopback with an RSS feed and ingested by the real
pipeline (``--mode pipeline``, the default), or run through the same
extract and clean functions without Beam (``--mode direct``, for quick
iterations).  trafilatura's baseline, ``extract(html,
include_comments=False)``, is computed in the same run.  Figures go to
stdout and to ``out/bench/quality.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import trafilatura

from bench.corpus import NAMES, corpus_root, machine, sandbox, write_json
from bench.scoring import SCORER, score, score_with_tool
from devsite.corpus_site import corpus_site, load_corpus
from schemas import FeedEntry, Page
from transforms.articles import ChainSettings, stages_between
from transforms.http.charset import decode
from transforms.lib.datasets import ARTICLES
from transforms.lib.stage import run_in_process
from transforms.lib.urls import article_id
from transforms.sinks.parquet import ParquetSink

KEYS = ("bow_p", "bow_r", "bow_f1", "offbody_lines", "snip_p", "snip_r", "snip_f1")
FETCHED_AT = datetime(2026, 11, 25, tzinfo=UTC)


def baseline(pages) -> dict[str, str]:
    return {p.id: trafilatura.extract(p.html, include_comments=False) or "" for p in pages}


def direct(name: str, pages) -> dict[str, str]:
    """The chain's extract and clean stages run in this process, on pages
    decoded here, one site per corpus as when served (no fetching)."""
    ids, fetched = {}, []
    for page in pages:
        url = f"http://127.0.0.1:1{page.path}"
        entry = FeedEntry(id=article_id(url), url=url, feed_url=f"http://127.0.0.1:1/{name}",
                          fetched_at=FETCHED_AT, title=page.title)
        html, _ = decode(page.html)
        fetched.append(Page(entry=entry, final_url=url, html=html, http_status=200))
        ids[entry.id] = page.id
    chain = stages_between(ChainSettings(), "ExtractArticles", "CleanBoilerplate")
    cleaned, _ = run_in_process(chain, fetched)
    return {ids[a.id]: a.text for a in cleaned}


def pipeline(name: str, root: Path) -> dict[str, str]:
    """The real ``newsbeam ingest`` over loopback; output rows mapped back to ids."""
    from pipelines import ingest
    site = corpus_site((name,), root=root).start()
    out = Path(tempfile.mkdtemp(prefix="newsbeam-eval-"))
    try:
        code = ingest.run(["--feeds", site.url(f"/feeds/{name}.xml"), "--output", str(out),
                           "--allow-private-networks", "--fetched-at", "2026-11-25T00:00:00Z"])

        assert code == 0, f"ingest failed for {name}"
        table = ds.dataset(ParquetSink(str(out)).location(ARTICLES), format="parquet",
                           partitioning="hive").to_table(columns=["url", "text"])
        prefix = site.url(f"/{name}/")
        return {url[len(prefix):-len(".html")]: text for url, text in
                zip(table.column("url").to_pylist(), table.column("text").to_pylist(),
                    strict=True)}
    finally:
        site.stop()
        shutil.rmtree(out, ignore_errors=True)


def evaluate(names, root: Path, mode: str, use_tool: bool) -> dict:
    results = {}
    work = Path(tempfile.mkdtemp(prefix="newsbeam-scores-"))
    for name in names:
        pages = load_corpus(name, root)
        docs = [json.loads(line) for line in open(root / name / "docs.jsonl", encoding="utf-8")]
        ours = pipeline(name, root) if mode == "pipeline" else direct(name, pages)
        base = baseline(pages)
        if use_tool:
            results[name] = {"baseline": score_with_tool(root / name, base, work),
                             "newsbeam": score_with_tool(root / name, ours, work)}
        else:
            results[name] = {"baseline": score(docs, base), "newsbeam": score(docs, ours)}
    shutil.rmtree(work, ignore_errors=True)
    return results


def render(results: dict) -> str:
    lines = [f"{'corpus':18s} {'':9s} " + " ".join(f"{k:>13s}" for k in KEYS)]
    for name, pair in results.items():
        for label in ("baseline", "newsbeam"):
            row = pair[label]
            lines.append(f"{name:18s} {label:9s} " + " ".join(
                f"{row[k]:13.4f}" if k in row else f"{'':13s}" for k in KEYS))
        delta = {k: pair["newsbeam"][k] - pair["baseline"][k] for k in KEYS
                 if k in pair["newsbeam"] and k in pair["baseline"]}
        lines.append(f"{name:18s} {'delta':9s} " + " ".join(
            f"{delta[k]:+13.4f}" if k in delta else f"{'':13s}" for k in KEYS))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("pipeline", "direct"), default="pipeline")
    parser.add_argument("--corpora", default=",".join(NAMES))
    parser.add_argument("--out", default="out/bench/quality.json")
    args = parser.parse_args()
    sandbox()
    root = corpus_root()
    use_tool = SCORER.exists()
    results = evaluate(args.corpora.split(","), root, args.mode, use_tool)
    print(f"corpora: {root} | mode: {args.mode} | scorer: "
          f"{'shared/tools/score_extraction.py' if use_tool else 'bench/scoring.py'}")
    print(render(results))
    write_json(Path(args.out), {"mode": args.mode, "corpora": str(root), "results": results,
                                "machine": machine()})


if __name__ == "__main__":
    main()
