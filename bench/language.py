"""Is langdetect worth its cost, and can a bounded sample keep its accuracy?

Detects the language of ground-truth texts with several sample sizes and
reports accuracy and time per text, measured in one run:
- fundus-dev: article bodies whose language labels are ground truth;
- langid-sk-cs: single Slovak and Czech sentences (the hardest pair).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.corpus import REPO, sandbox, write_json
from transforms.language import UNDETERMINED, detect, new_factory

SIZES = (0, 2000, 1000, 600, 400, 250, 150)
SHARED = REPO.parent / "shared" / "corpora"


def labelled() -> dict[str, list[tuple[str, str]]]:
    sets = {}
    fundus = SHARED / "fundus-dev" / "docs.jsonl"
    if fundus.exists():
        docs = [json.loads(line) for line in open(fundus, encoding="utf-8")]
        sets["fundus-dev"] = [(d["body"], d["language"]) for d in docs if d.get("language")]
    langid = SHARED / "langid-sk-cs" / "sentences.jsonl"
    if langid.exists():
        rows = [json.loads(line) for line in open(langid, encoding="utf-8")]
        sets["langid-sk-cs"] = [(r["text"], r["lang"]) for r in rows]
    return sets


def study(sizes=SIZES) -> dict:
    factory = new_factory()
    detect(factory, "warm up the profiles before timing anything at all")
    results = {}
    for name, items in labelled().items():
        rows = {}
        for size in sizes:
            started = time.perf_counter()
            answers = [detect(factory, text, size)[0] for text, _ in items]
            seconds = time.perf_counter() - started
            hits = sum(a == label for a, (_, label) in zip(answers, items, strict=True))
            decided = [(a, label) for a, (_, label) in zip(answers, items, strict=True)
                       if a != UNDETERMINED]
            rows[str(size or "full")] = {
                "accuracy": round(hits / len(items), 4),
                "und_share": round(1 - len(decided) / len(items), 4),
                "accuracy_when_decided": round(sum(a == b for a, b in decided)
                                               / max(1, len(decided)), 4),
                "ms_per_text": round(1000 * seconds / len(items), 2)}

        results[name] = {"texts": len(items), "by_sample_chars": rows}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out/bench/language.json")
    args = parser.parse_args()
    sandbox()
    results = study()
    write_json(Path(args.out), results)
    for name, data in results.items():
        print(f"{name} ({data['texts']} texts)")
        for size, row in data["by_sample_chars"].items():
            print(f"  sample {size:>5s}: accuracy {row['accuracy']:.4f} "
                  f"(und {row['und_share']:.3f}, {row['accuracy_when_decided']:.4f} when "
                  f"decided)  {row['ms_per_text']:6.2f} ms/text")



if __name__ == "__main__":
    main()
