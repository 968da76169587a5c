"""The extraction-quality floor, as trafilatura's own tests keep one,
measured on sites nothing was tuned on.

Real pages of the **validate** part of each corpus (tests/fixtures/validate,
licences beside them; bench/splits.py) go through the real extract and
clean code.  The floors are the figures measured when the line model
landed, minus a small margin; a change that lowers them fails CI.  The
line model must not make the validate part worse than the rules alone.
``make eval`` measures the full corpora, tune and validate.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.quality import baseline, direct
from bench.scoring import score
from devsite.corpus_site import load_corpus

VALIDATE = Path(__file__).parent / "fixtures" / "validate"
# corpus: (metric, floor) pairs; measured 2026-11-30 on tests/fixtures/validate
# (model / rules alone / trafilatura): zyte bow_f1 .9755/.9742/.9717, bow_r
# .9768, offbody .0100/.0100/.0148; fundus-dev bow_f1 .9803/.9790/.9739,
# bow_r .9830, offbody .0077/.0123/.0251; trafilatura-eval snip_f1
# .8963/.8963/.8617.
FLOORS = {
    "zyte": {"bow_f1": 0.972, "bow_r": 0.973},
    "fundus-dev": {"bow_f1": 0.977, "bow_r": 0.979},
    "trafilatura-eval": {"snip_f1": 0.890},
}
CEILINGS = {"zyte": {"offbody_lines": 0.012}, "fundus-dev": {"offbody_lines": 0.010}}


@pytest.fixture(scope="module", params=sorted(FLOORS))
def scores(request):
    name = request.param
    pages = load_corpus(name, VALIDATE)
    docs = [json.loads(line) for line in open(VALIDATE / name / "docs.jsonl", encoding="utf-8")]
    return (name, score(docs, direct(name, pages)), score(docs, baseline(pages)),
            score(docs, direct(name, pages, line_model=False)))


def test_quality_floors(scores):
    name, ours, _, _ = scores
    for metric, floor in FLOORS[name].items():
        assert ours[metric] >= floor, f"{name} {metric} {ours[metric]} fell below {floor}"
    for metric, ceiling in CEILINGS.get(name, {}).items():
        assert ours[metric] <= ceiling, f"{name} {metric} {ours[metric]} rose above {ceiling}"


def test_better_than_trafilatura_alone(scores):
    name, ours, base, _ = scores
    metric = "snip_f1" if "snip_f1" in ours else "bow_f1"
    assert ours[metric] > base[metric]
    if "offbody_lines" in ours:
        assert ours["offbody_lines"] < base["offbody_lines"]


def test_the_line_model_does_not_hurt_the_validate_part(scores):
    name, ours, _, rules_alone = scores
    metric = "snip_f1" if "snip_f1" in ours else "bow_f1"
    assert ours[metric] >= rules_alone[metric], (ours, rules_alone)
    if "offbody_lines" in ours:
        assert ours["offbody_lines"] <= rules_alone["offbody_lines"]
