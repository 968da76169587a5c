"""Train the clean stage's line model on the tune part of the quality corpora.

    PYTHONPATH=. .venv/bin/python -m bench.train_line_model   (make line-model)

Only the **tune** part of each corpus is read (``bench/splits.py``); the
validate part is never seen here.  For every tune page trafilatura runs as
in the extract stage, with the split-body rejoin and the markup evidence;
each line left for the model is a
sample, labelled by the ground truth: off the body when the true body does
not account for at least half of its words, each body word paying for one
occurrence, read top down (pages with a body); or when it holds a
must-not-have snippet (trafilatura-eval; a line with a must-have snippet is
on the body, other lines are not used).

Why scikit-learn's logistic regression: it is deterministic with a fixed
seed, a few dozen weights carry over to pure-Python inference (workers
need no scikit-learn, and a page costs microseconds), and the weights can
be read.  Gradient-boosted trees fitted the tune part better in trials but
are harder to ship without their library.

The decision threshold is chosen by 5-fold cross-validation grouped by
site, on the mean bag-of-words F1 of held-out pages, with their recall
allowed to fall by at most ``MAX_RECALL_LOSS``.  The model is then fitted
on the whole tune part and written to transforms/boilerplate/line_model.json.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import corpus_root, sandbox
from bench.quality import FETCHED_AT
from bench.scoring import WORD, bow, norm
from bench.splits import TUNE, part_of, site_of
from devsite.corpus_site import load_corpus
from schemas import FeedEntry
from schemas import Page as SitePage
from transforms import extract
from transforms.boilerplate.line_model import FEATURES, MODEL_PATH, LineModel, features
from transforms.http.charset import decode
from transforms.lib.text import normalise, paragraphs, sanitize
from transforms.lib.urls import article_id

SEED = 20261130
CORPORA = ("zyte", "fundus-dev", "trafilatura-eval")
THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95
MAX_RECALL_LOSS = 0.002
OFF_BODY_SHARE = 0.5


@dataclass
class Page:
    corpus: str
    site: str
    doc: dict
    lines: list[str]
    rows: list[list[float]]
    labels: list[int | None]
    title: str | None
    authors: frozenset[str]
    markup: list[list[float]]


def _budget_labels(lines: list[str], body: str) -> list[int | None]:
    """1 for a line most of whose words the true body does not account for,
    reading top down: each word of the body pays for one occurrence, so a
    repeated teaser or caption of body sentences counts against its line."""
    budget = Counter(WORD.findall(body.lower()))
    out: list[int | None] = []
    for line in lines:
        words = WORD.findall(line.lower())
        if not words:
            out.append(None)
            continue
        unpaid = 0
        for word in words:
            if budget[word] > 0:
                budget[word] -= 1
            else:
                unpaid += 1
        out.append(int(unpaid / len(words) >= OFF_BODY_SHARE))
    return out


def _labels(lines: list[str], doc: dict) -> list[int | None]:
    if doc.get("body"):
        return _budget_labels(lines, doc["body"])
    without = [norm(s) for s in doc.get("without") or []]
    with_ = [norm(s) for s in doc.get("with") or []]
    out: list[int | None] = []
    for line in map(norm, lines):
        if any(s in line for s in without):
            out.append(1)
        elif any(s in line for s in with_):
            out.append(0)
        else:
            out.append(None)
    return out


def collect(root: Path, names=CORPORA) -> list[Page]:
    """Every tune page trafilatura extracts, as the extract stage sees it
    just before the line model: after the split-body rejoin and the markup
    evidence."""
    pages: list[Page] = []
    for name in names:
        docs = {json.loads(line)["id"]: json.loads(line)
                for line in open(root / name / "docs.jsonl", encoding="utf-8")}
        for corpus_page in load_corpus(name, root):
            doc = docs[corpus_page.id]
            if part_of(doc) != TUNE:
                continue
            url = f"http://127.0.0.1:1{corpus_page.path}"
            html, _ = decode(corpus_page.html)
            extracted, tree = extract.run_trafilatura(html, url)
            if extracted is None:
                continue
            lines = paragraphs(sanitize(extracted.text or ""))
            if not lines:
                continue
            found = extract.markup_pass(tree, lines, every_line=True)
            entry = FeedEntry(id=article_id(url), url=url, feed_url=url,
                              fetched_at=FETCHED_AT, title=corpus_page.title)
            title, authors = extract.headline_and_authors(
                SitePage(entry=entry, final_url=url, html=html, http_status=200), extracted)
            keys = frozenset(filter(None, map(normalise, authors)))
            pages.append(Page(name, site_of(doc), doc, found.lines,
                              features(found.lines, title, keys, found.markup),
                              _labels(found.lines, doc), title, keys, found.markup))
    return pages


def fit(pages: list[Page]):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    x = [row for p in pages for row, y in zip(p.rows, p.labels, strict=True) if y is not None]
    y = [y for p in pages for y in p.labels if y is not None]
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=5000, random_state=SEED)
    model.fit(scaler.transform(x), y)
    scales = [s if s > 0 else 1.0 for s in scaler.scale_]
    return LineModel(weights=tuple(float(w) for w in model.coef_[0]),
                     bias=float(model.intercept_[0]), means=tuple(float(m) for m in scaler.mean_),
                     scales=tuple(float(s) for s in scales), threshold=0.5)


def page_scores(page: Page, model: LineModel | None) -> tuple[float, float] | None:
    """(F1, recall) of the page's text after the model, for pages with a body."""
    if not page.doc.get("body"):
        return None
    removed = set(model.off_body(page.lines, page.title, page.authors, page.markup)) \
        if model else set()
    text = "\n".join(line for i, line in enumerate(page.lines) if i not in removed)
    _, recall, f1 = bow(text, page.doc["body"])
    return f1, recall


def cross_validate(pages: list[Page], folds: int = 5) -> dict[float, tuple[float, float]]:
    """Per threshold: the mean F1 and recall change on held-out sites."""
    sites = sorted({p.site for p in pages})
    fold_of = {site: i % folds for i, site in enumerate(sites)}
    deltas: dict[float, list[tuple[float, float]]] = {t: [] for t in THRESHOLDS}
    for fold in range(folds):
        train = [p for p in pages if fold_of[p.site] != fold]
        held = [p for p in pages if fold_of[p.site] == fold and p.doc.get("body")]
        base = fit(train)
        for page in held:
            before = page_scores(page, None)
            for threshold in THRESHOLDS:
                model = LineModel(base.weights, base.bias, base.means, base.scales, threshold)
                after = page_scores(page, model)
                deltas[threshold].append((after[0] - before[0], after[1] - before[1]))
    return {t: (sum(d[0] for d in v) / len(v), sum(d[1] for d in v) / len(v))
            for t, v in deltas.items()}


def choose(cv: dict[float, tuple[float, float]]) -> float:
    allowed = [t for t, (_, recall) in cv.items() if recall >= -MAX_RECALL_LOSS]
    return max(allowed or [max(THRESHOLDS)], key=lambda t: (cv[t][0], t))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(MODEL_PATH))
    args = parser.parse_args()
    sandbox()
    root = corpus_root()
    pages = collect(root)
    labelled = [y for p in pages for y in p.labels if y is not None]
    print(f"tune pages {len(pages)}, labelled lines {len(labelled)}, "
          f"off-body {sum(labelled)}")
    cv = cross_validate(pages)
    for threshold, (f1, recall) in cv.items():
        print(f"threshold {threshold:.2f}: held-out F1 {f1:+.4f}, recall {recall:+.4f}")
    threshold = choose(cv)
    model = fit(pages)
    out = {"features": list(FEATURES), "weights": list(model.weights), "bias": model.bias,
           "means": list(model.means), "scales": list(model.scales), "threshold": threshold,
           "trained_on": f"tune part of {', '.join(CORPORA)} ({root.name}): {len(pages)} "
                         f"pages, {len(labelled)} labelled lines; seed {SEED}",
           "cross_validation": {f"{t:.2f}": {"f1": round(v[0], 5), "recall": round(v[1], 5)}
                                for t, v in cv.items()}}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"threshold {threshold:.2f}; wrote {args.out}")
    for name, weight in sorted(zip(FEATURES, model.weights, strict=True), key=lambda x: -abs(x[1])):
        print(f"  {name:22s} {weight:+.3f}")


if __name__ == "__main__":
    main()
