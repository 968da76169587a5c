"""The extraction scorer's figures, computed in-process.

The same definitions as ``shared/tools/score_extraction.py`` (means over
documents; an empty output scores 0): bag-of-words precision, recall and
F1; ``offbody_lines``, the share of output lines whose words are < 20%
covered by the truth; and for snippet corpora, the share of must-have
snippets found and must-not-have snippets avoided.  Kept here so the
quality gate in ``make test`` runs without ``../shared``; ``make eval``
runs the shared tool itself as well, as the reference.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.corpus import REPO

SCORER = REPO.parent / "shared" / "tools" / "score_extraction.py"
WORD = re.compile(r"\w+")


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip().lower()


def bow(pred: str, true: str):
    p, t = Counter(WORD.findall(pred.lower())), Counter(WORD.findall(true.lower()))
    if not t:
        return None
    if not p:
        return 0.0, 0.0, 0.0
    tp = sum((p & t).values())
    precision, recall = tp / sum(p.values()), tp / sum(t.values())
    return precision, recall, (2 * precision * recall / (precision + recall) if tp else 0.0)


def _offbody(pred: str, true: str):
    truth = Counter(WORD.findall(true.lower()))
    lines = [line for line in pred.splitlines() if WORD.search(line)]
    if not lines:
        return None
    bad = 0
    for line in lines:
        tokens = Counter(WORD.findall(line.lower()))
        if sum((tokens & truth).values()) / sum(tokens.values()) < 0.2:
            bad += 1
    return bad / len(lines)


def score(docs: list[dict], predictions: dict[str, str]) -> dict:
    rows, snippets = [], Counter()
    for doc in docs:
        text = predictions.get(doc["id"], "")
        row = {}
        if doc.get("body"):
            overlap = bow(text, doc["body"])
            if overlap:
                row.update(bow_p=overlap[0], bow_r=overlap[1], bow_f1=overlap[2])
            off = _offbody(text, doc["body"])
            if off is not None:
                row["offbody_lines"] = off
        if doc.get("with") is not None:
            output = norm(text)
            for snippet in doc["with"]:
                snippets["tp" if norm(snippet) in output else "fn"] += 1
            for snippet in doc.get("without") or []:
                snippets["fp" if norm(snippet) in output else "tn"] += 1
        rows.append(row)
    out = {"docs": len(docs), "predicted": sum(1 for d in docs if predictions.get(d["id"]))}
    for key in ("bow_p", "bow_r", "bow_f1", "offbody_lines"):
        values = [r[key] for r in rows if key in r]
        if values:
            out[key] = round(sum(values) / len(values), 4)
    if snippets:
        p = snippets["tp"] / max(1, snippets["tp"] + snippets["fp"])
        r = snippets["tp"] / max(1, snippets["tp"] + snippets["fn"])
        out.update(snip_p=round(p, 4), snip_r=round(r, 4),
                   snip_f1=round(2 * p * r / (p + r), 4) if p + r else 0.0)
    return out


def score_with_tool(corpus_dir: Path, predictions: dict[str, str], workdir: Path) -> dict:
    """The shared scorer's own verdict (only where ../shared exists)."""
    path = workdir / f"{corpus_dir.name}.predictions.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for doc_id, text in predictions.items():
            handle.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    out = subprocess.run([sys.executable, str(SCORER), str(corpus_dir), str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
