"""The learned line model (transforms/boilerplate/line_model.py): its
features, its guards, its markup evidence, the extract stage that applies
it, and ``newsbeam ingest --no-line-model`` end to end."""
from __future__ import annotations

import math

import pyarrow.dataset as ds
from hypothesis import given
from hypothesis import strategies as st
from trafilatura.utils import load_html

from tests.test_cli import DEMO_FLAGS, run_cli
from transforms.boilerplate.line_model import (
    FEATURES,
    MAX_JUDGED_WORDS,
    MAX_REMOVED_SHARE,
    REASON,
    LineModel,
    features,
)
from transforms.boilerplate.markup import MARKUP_FEATURES, locate, markup_features
from transforms.lib.text import word_count

MODEL = LineModel.load()
LINES = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
                 max_size=25)
BODY = ("The harbour reopened on Monday after a week of repairs, and the first ferries "
        "left on time while the town council met to discuss how to pay for the damage.")


def test_the_shipped_model_is_the_one_the_features_describe():
    assert len(MODEL.weights) == len(MODEL.means) == len(MODEL.scales) == len(FEATURES)
    assert 0.0 < MODEL.threshold < 1.0 and all(s > 0 for s in MODEL.scales)
    assert "tune part" in MODEL.trained_on   # never the validate part (bench/splits.py)


@given(LINES, st.text(max_size=80))
def test_one_finite_row_per_line(lines, title):
    rows = features(lines, title, frozenset({"ana pereira"}))
    assert len(rows) == len(lines)
    assert all(len(row) == len(FEATURES) and all(map(math.isfinite, row)) for row in rows)
    probabilities = MODEL.probabilities(rows)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities == MODEL.probabilities(features(lines, title,
                                                         frozenset({"ana pereira"})))


@given(LINES)
def test_the_guards_bound_what_any_model_removes(lines):
    # A model that would remove every line it may: the guards still hold.
    eager = LineModel(MODEL.weights, 60.0, MODEL.means, MODEL.scales, threshold=0.0)
    chosen = eager.off_body(lines)
    words = [word_count(line) for line in lines]
    assert all(words[i] < MAX_JUDGED_WORDS for i in chosen)
    assert sum(words[i] for i in chosen) <= MAX_REMOVED_SHARE * sum(words)
    assert chosen == sorted(set(chosen))


PAGE = f"""<html><body>
<div class="story-body"><p>{BODY}</p><p>{BODY} Again, with more detail.</p></div>
<div class="rail"><ul>
<li><a href="/a">Mayor opens the new bridge</a></li>
<li><a href="/b">Storm warning for the coast</a></li>
<li><a href="/c">School results are out</a></li>
</ul></div>
<aside><p>Short note in an aside</p></aside>
</body></html>"""


def test_markup_features_describe_each_lines_home():
    lines = [BODY, BODY + " Again, with more detail.", "Mayor opens the new bridge",
             "Storm warning for the coast", "Short note in an aside", "not on the page"]
    rows = markup_features(locate(load_html(PAGE), lines), len(lines))
    named = [dict(zip(MARKUP_FEATURES, row, strict=True)) for row in rows]
    assert named[0]["m_found"] == 1 and named[0]["m_tag_p"] == 1 and named[0]["m_body_hints"] >= 1
    assert named[0]["m_link_density"] == 0 and named[0]["m_in_list"] == 0
    link = named[2]                           # its home is the <a>, in an <li> of a list
    assert link["m_found"] == 1 and link["m_tag_link"] == 1 and link["m_link_density"] == 1.0
    assert link["m_in_list"] == 1 and link["m_log_siblings"] == math.log1p(1)
    assert named[0]["m_log_siblings"] == math.log1p(2)          # two paragraphs
    assert named[4]["m_in_aside"] == 1
    assert named[5] == dict.fromkeys(MARKUP_FEATURES, 0.0)          # no home: zeros
    assert markup_features(None, 2) == [[0.0] * len(MARKUP_FEATURES)] * 2


def test_ingest_audits_the_models_removals_and_no_line_model_turns_it_off(real_site, tmp_path):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(real_site.url("/feeds/zyte.xml") + "\n")

    def removed(out, *flags):
        result = run_cli("--feeds", str(feeds), "--output", str(out), *DEMO_FLAGS, *flags)
        assert result.returncode == 0, result.stderr
        table = ds.dataset(out / "articles", format="parquet", partitioning="hive").to_table(
            columns=["id", "text", "boilerplate_removed"]).to_pylist()
        return {row["id"]: row for row in table}

    on, off = removed(tmp_path / "on"), removed(tmp_path / "off", "--no-line-model")
    assert on.keys() == off.keys()
    by_model = {(i, r["line"]) for i, row in on.items() for r in row["boilerplate_removed"]
                if r["reason"] == REASON}
    assert by_model, "the model removed nothing from the zyte fixtures"
    assert not any(r["reason"] == REASON for row in off.values()
                   for r in row["boilerplate_removed"])
    kept_without = 0
    for article_id, line in by_model:          # audited and gone (one copy of it, when the
        now = on[article_id]["text"].split("\n\n").count(line)   # page repeats it); without
        before = off[article_id]["text"].split("\n\n").count(line)  # the model, the line
        if before > now:                                             # stays, or a rule
            kept_without += 1                                        # removes it, named
        else:
            assert any(r["line"] == line and r["reason"] != REASON
                       for r in off[article_id]["boilerplate_removed"]), line
    assert kept_without > 0


def test_the_extract_stage_counts_what_the_model_removes(tmp_path):
    import json

    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.test_pipeline import TestPipeline

    from bench.quality import fetched_pages
    from devsite.corpus_site import load_corpus
    from transforms.extract import ExtractArticles

    fetched, _ = fetched_pages("zyte", load_corpus("zyte"))
    out = tmp_path / "removed.jsonl"
    pipeline = TestPipeline()
    articles, _ = pipeline | beam.Create(fetched) | ExtractArticles()
    _ = (articles
         | beam.Map(lambda a: sum(r.reason == REASON for r in a.boilerplate_removed))
         | beam.CombineGlobally(sum)
         | beam.Map(lambda n: out.write_text(json.dumps(n))))
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(
        MetricsFilter().with_name("extract.line_model_removed"))["counters"]
    audited = json.loads(out.read_text())
    assert audited > 0 and sum(c.committed for c in counters) == audited


def test_the_stage_sees_the_features_the_model_was_trained_on():
    # Training computes markup features for every line, the stage only for
    # the lines the model judges: on those they must be the same.
    from bench.quality import fetched_pages
    from devsite.corpus_site import load_corpus
    from transforms import extract
    from transforms.lib.text import paragraphs, sanitize

    judged_lines = 0
    for page in fetched_pages("fundus-dev", load_corpus("fundus-dev"))[0]:
        doc, tree = extract.run_trafilatura(page.html, page.final_url)
        if doc is None:
            continue
        lines = paragraphs(sanitize(doc.text or ""))
        stage, training = extract.markup_pass(tree, lines), extract.markup_pass(
            tree, lines, every_line=True)
        assert stage.lines == training.lines
        for line, seen, trained in zip(stage.lines, stage.markup, training.markup, strict=True):
            if word_count(line) < MAX_JUDGED_WORDS:
                judged_lines += 1
                assert seen == trained
            else:
                assert seen == [0.0] * len(MARKUP_FEATURES)
    assert judged_lines > 100
