"""The extraction-quality floor, as trafilatura's own tests keep one.

Real pages with ground truth (tests/fixtures/corpus, licences beside them)
go through the real extract and clean code.  The floors are the figures
measured when the boilerplate engine landed, minus a small margin; a
change that lowers them fails CI.  ``make eval`` measures the full corpora.
"""
from __future__ import annotations

import json

import pytest

from bench.quality import baseline, direct
from bench.scoring import score
from devsite.corpus_site import CORPORA, load_corpus

# corpus: (metric, floor) pairs; measured 2026-11-26 on the fixtures:
# zyte bow_f1 .9367, bow_r .9915, offbody .0066; fundus-dev bow_f1 .9747,
# bow_r .9705, offbody .0192; trafilatura-eval snip_f1 .8958.
FLOORS = {
    "zyte": {"bow_f1": 0.933, "bow_r": 0.988},
    "fundus-dev": {"bow_f1": 0.971, "bow_r": 0.966},
    "trafilatura-eval": {"snip_f1": 0.890},
}
CEILINGS = {"zyte": {"offbody_lines": 0.010}, "fundus-dev": {"offbody_lines": 0.023}}


@pytest.fixture(scope="module", params=sorted(FLOORS))
def scores(request):
    name = request.param
    pages = load_corpus(name)
    docs = [json.loads(line) for line in open(CORPORA / name / "docs.jsonl", encoding="utf-8")]
    return name, score(docs, direct(name, pages)), score(docs, baseline(pages))


def test_quality_floors(scores):
    name, ours, _ = scores
    for metric, floor in FLOORS[name].items():
        assert ours[metric] >= floor, f"{name} {metric} {ours[metric]} fell below {floor}"
    for metric, ceiling in CEILINGS.get(name, {}).items():
        assert ours[metric] <= ceiling, f"{name} {metric} {ours[metric]} rose above {ceiling}"


def test_better_than_trafilatura_alone(scores):
    name, ours, base = scores
    metric = "snip_f1" if "snip_f1" in ours else "bow_f1"
    assert ours[metric] > base[metric]
    if "offbody_lines" in ours:
        assert ours["offbody_lines"] < base["offbody_lines"]
