"""``make eval``: extraction quality of newsbeam against trafilatura alone.

For each corpus (../shared/corpora when present, else the fixtures), the
pages are served over loopback with an RSS feed and ingested by the real
pipeline (``--mode pipeline``, the default), or run through the same
extract and clean functions without Beam (``--mode direct``, for quick
iterations).  trafilatura's baseline, ``extract(html,
include_comments=False)``, is computed in the same run.

Every corpus is reported twice, on its **tune** and its **validate** part
(``bench/splits.py``: a fixed split by site).  Rules, thresholds and the
line model are fitted on tune only; validate is the honest figure, the one
README quotes.  Figures go to stdout and to ``out/bench/quality.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import trafilatura

from bench.corpus import NAMES, corpus_root, machine, sandbox, write_json
from bench.scoring import SCORER, score, score_with_tool
from bench.splits import PARTS, split
from devsite.corpus_site import corpus_site, load_corpus
from schemas import Article, FeedEntry, Page
from transforms import extract
from transforms.articles import ChainSettings, stages_between
from transforms.boilerplate.line_model import LineModel
from transforms.http.charset import decode
from transforms.lib.datasets import ARTICLES
from transforms.lib.stage import run_in_process
from transforms.lib.text import paragraphs, sanitize
from transforms.lib.urls import article_id
from transforms.sinks.parquet import ParquetSink

KEYS = ("bow_p", "bow_r", "bow_f1", "offbody_lines", "snip_p", "snip_r", "snip_f1")
FETCHED_AT = datetime(2026, 11, 25, tzinfo=UTC)


def baseline(pages) -> dict[str, str]:
    return {p.id: trafilatura.extract(p.html, include_comments=False) or "" for p in pages}


def fetched_pages(name: str, pages) -> tuple[list[Page], dict[str, str]]:
    """The corpus pages as the fetch stage hands them on, one site per
    corpus as when served; and the page id of each article id."""
    ids, fetched = {}, []
    for page in pages:
        url = f"http://127.0.0.1:1{page.path}"
        entry = FeedEntry(id=article_id(url), url=url, feed_url=f"http://127.0.0.1:1/{name}",
                          fetched_at=FETCHED_AT, title=page.title)
        html, _ = decode(page.html)
        fetched.append(Page(entry=entry, final_url=url, html=html, http_status=200))
        ids[entry.id] = page.id
    return fetched, ids


def direct_articles(name: str, pages, line_model: bool = True) -> dict[str, Article]:
    """The chain's extract and clean stages run in this process, on pages
    decoded here (no fetching): the clean article of each page id."""
    fetched, ids = fetched_pages(name, pages)
    chain = stages_between(ChainSettings(line_model=line_model), "ExtractArticles",
                           "CleanBoilerplate")
    cleaned, _ = run_in_process(chain, fetched)
    return {ids[a.id]: a for a in cleaned}


def cost(name: str, pages) -> dict:
    """CPU milliseconds per page of trafilatura, and of newsbeam's clean work
    around it: in the extract stage the split-body rejoin, the markup
    evidence and the line model; then the whole clean stage (rules, site
    evidence).  ``share`` is the clean work over trafilatura's."""
    fetched, _ = fetched_pages(name, pages)
    model = LineModel.load()
    extraction = lines = 0.0
    for page in fetched:
        started = time.process_time()
        doc, tree = extract.run_trafilatura(page.html, page.final_url)
        extracted = time.process_time()
        if doc is not None:
            found = extract.markup_pass(tree, paragraphs(sanitize(doc.text or "")))
            extract.drop_by_model(model, found, *extract.headline_and_authors(page, doc))
        lines += time.process_time() - extracted
        extraction += extracted - started
    raw, _ = run_in_process(stages_between(ChainSettings(), "ExtractArticles",
                                           "IdentifyStories"), fetched)
    started = time.process_time()
    run_in_process(stages_between(ChainSettings(), "CleanBoilerplate", "CleanBoilerplate"), raw)
    clean = time.process_time() - started
    n = max(1, len(fetched))
    return {"pages": len(fetched), "trafilatura_ms": round(1000 * extraction / n, 2),
            "extract_stage_clean_ms": round(1000 * lines / n, 2),
            "clean_stage_ms": round(1000 * clean / n, 2),
            "share": round((lines + clean) / extraction, 4) if extraction else None}


def direct(name: str, pages, line_model: bool = True) -> dict[str, str]:
    """:func:`direct_articles`' texts."""
    return {k: a.text for k, a in direct_articles(name, pages, line_model).items()}


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
    """Per corpus and part: trafilatura's and newsbeam's scores."""
    results = {}
    work = Path(tempfile.mkdtemp(prefix="newsbeam-scores-"))
    for name in names:
        pages = load_corpus(name, root)
        docs = [json.loads(line) for line in open(root / name / "docs.jsonl", encoding="utf-8")]
        ours = pipeline(name, root) if mode == "pipeline" else direct(name, pages)
        base = baseline(pages)
        for part, members in split(docs).items():
            if not members:
                continue
            if use_tool:
                corpus = work / f"{name}-{part}"
                corpus.mkdir()
                (corpus / "docs.jsonl").write_text(
                    "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in members),
                    encoding="utf-8")
                pair = {"baseline": score_with_tool(corpus, _only(base, members), work),
                        "newsbeam": score_with_tool(corpus, _only(ours, members), work)}
            else:
                pair = {"baseline": score(members, base), "newsbeam": score(members, ours)}
            results[f"{name}/{part}"] = pair
    shutil.rmtree(work, ignore_errors=True)
    return results


def _only(predictions: dict[str, str], docs: list[dict]) -> dict[str, str]:
    ids = {d["id"] for d in docs}
    return {k: v for k, v in predictions.items() if k in ids}


def render(results: dict) -> str:
    lines = [f"{'corpus/part':27s} {'':9s} " + " ".join(f"{k:>13s}" for k in KEYS)]
    order = sorted(results, key=lambda key: (PARTS.index(key.split("/")[1]), key))
    for name in order:
        pair = results[name]
        for label in ("baseline", "newsbeam"):
            row = pair[label]
            lines.append(f"{name:27s} {label:9s} " + " ".join(
                f"{row[k]:13.4f}" if k in row else f"{'':13s}" for k in KEYS))
        delta = {k: pair["newsbeam"][k] - pair["baseline"][k] for k in KEYS
                 if k in pair["newsbeam"] and k in pair["baseline"]}
        lines.append(f"{name:27s} {'delta':9s} " + " ".join(
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
    names = args.corpora.split(",")
    results = evaluate(names, root, args.mode, use_tool)
    print(f"corpora: {root} | mode: {args.mode} | scorer: "
          f"{'shared/tools/score_extraction.py' if use_tool else 'bench/scoring.py'}")
    print(render(results))
    costs = {name: cost(name, load_corpus(name, root)) for name in names}
    print("CPU per page (ms): trafilatura | clean work in extract (rejoin, markup, line model) "
          "| clean stage | clean work / trafilatura")
    for name, row in costs.items():
        print(f"{name:18s} {row['trafilatura_ms']:8.2f} {row['extract_stage_clean_ms']:8.2f} "
              f"{row['clean_stage_ms']:8.2f} {row['share']:8.1%}")
    write_json(Path(args.out), {"mode": args.mode, "corpora": str(root), "results": results,
                                "cost": costs, "machine": machine()})


if __name__ == "__main__":
    main()
