"""The boilerplate rules and engine on their own."""
from __future__ import annotations

import json

import pytest

from devsite.seed_site import CHROME, NEXT_TITLE, PREVIOUS_TITLE, seed_article
from transforms.boilerplate.engine import SiteEvidence, clean_lines
from transforms.boilerplate.rules import RULES_DIR, build, load_default_rules
from transforms.lib.text import normalise

RULES = load_default_rules()
HEADLINE, BODY = seed_article()
LONG = ("The council said the works would start in the spring and last about eighteen months, "
        "with most of the disruption expected on the two main roads into the centre of town.")


def seed_tail(lang: str, url: str = "https://spravy.example/kursk/") -> list[str]:
    c = CHROME[lang]
    return [c.share, c.share_url, url, c.previous, PREVIOUS_TITLE, c.next, NEXT_TITLE,
            c.comment, c.notice, c.read_next]


@pytest.mark.parametrize("lang", sorted(CHROME))
def test_seed_chrome_is_removed_in_every_language(lang):
    cleaned = clean_lines([HEADLINE, *BODY, *seed_tail(lang)], RULES, HEADLINE)
    assert list(cleaned.lines) == BODY
    reasons = [r.reason for r in cleaned.removed]
    assert reasons[0] == "title"
    assert all(reason for reason in reasons)


def test_removed_lines_carry_category_and_language():
    cleaned = clean_lines([*BODY, *seed_tail("sk")], RULES, HEADLINE)
    by_line = {r.line: r.reason for r in cleaned.removed}
    assert by_line["Zdieľaj tento článok"] == "share:sk"
    assert by_line["Pridaj komentár"] == "comments:sk"
    assert by_line[PREVIOUS_TITLE] == "tail_after_share"


@pytest.mark.parametrize("line", [
    "ZDIEĽATEĽNÁ URL:", "zdieľaj   tento článok", "Share this:", "12 Comments", "5 min read",
    "Lesezeit: 4 Minuten", "Advertisement", "ANZEIGE", "© 2025 Example Media",
    "Copyright 2024 Example. All rights reserved.", "Foto: Jan Novák", "Photo: Reuters",
    "Auch interessant", "Sign up for our newsletter", "Všetky práva vyhradené.",
])
def test_rules_match_chrome_lines(line):
    assert RULES.match(line) is not None, line


@pytest.mark.parametrize("line", [
    "Share prices fell sharply on Monday after the announcement.",
    "She said the comments were taken out of context and she would not resign.",
    "Read the full report, which runs to 300 pages, before deciding.",
    "The next step is a vote in parliament later this month, officials said.",
    "Reklama na cigarety je zakázaná od roku 2002, pripomenul minister.",
    "Photographs from the scene showed the extent of the damage to the port.",
])
def test_rules_never_match_inside_sentences(line):
    assert RULES.match(line) is None, line


def test_share_bar_at_the_top_does_not_swallow_the_body():
    lines = ["Share", "Tweet", LONG, "Short closing line of the story.", LONG]
    cleaned = clean_lines(lines, RULES)
    assert list(cleaned.lines) == [LONG, "Short closing line of the story.", LONG]


def test_tail_is_only_cut_when_nothing_after_looks_like_body():
    lines = [LONG, "Share this article", "Another story's headline", LONG]
    cleaned = clean_lines(lines, RULES)
    assert "Another story's headline" in cleaned.lines


def test_short_article_tail_needs_more_body_than_tail():
    lines = ["Brief item.", "Share", "Headline one", "Headline two", "Headline three"]
    cleaned = clean_lines(lines, RULES)
    assert "Headline one" in cleaned.lines


def test_site_evidence_removes_other_headlines_and_recurring_lines():
    evidence = SiteEvidence(headlines=frozenset({normalise(PREVIOUS_TITLE)}),
                            recurring=frozenset({normalise("Follow us on Mastodon")}))
    cleaned = clean_lines([LONG, PREVIOUS_TITLE, "Follow us on Mastodon", LONG], RULES,
                          evidence=evidence)
    assert list(cleaned.lines) == [LONG, LONG]
    assert [r.reason for r in cleaned.removed] == ["other_headline", "recurring"]


def test_rule_files_are_well_formed():
    files = sorted(RULES_DIR.glob("*.json"))
    assert {"sk", "cs", "en", "de"} <= {f.stem for f in files}
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["language"] == path.stem
        assert doc["sources"], f"{path.name} must name its sources"
        build([doc])  # patterns compile


def test_build_from_data():
    rules = build([{"language": "xx", "phrases": {"share": ["Spread the word"]},
                    "prefixes": {"photo_credit": ["Pic:"]}, "patterns": {},
                    "contains": {}}])
    assert rules.match("SPREAD THE WORD!").reason == "share:xx"
    assert rules.match("Pic: somebody").category == "photo_credit"
    assert rules.match("Pictures of the day") is None


@pytest.mark.parametrize("line", [
    "Read more: Tencent profit falls as Alibaba threat and economic woes weigh",
    "Lea también: Impiden ingreso a Nicaragua a reportero y camarógrafo",
    "LE PUEDE INTERESAR: La ficha de Juan Orlando Hernández en el MDC",
    "Lesen Sie auch – Die Bahn streicht weitere Verbindungen",
    "Czytaj więcej: Niemiecki parlament przyjął wniosek",
    "Читайте также: Правительство повысит зарплаты",
])
def test_teaser_lines_with_a_label(line):
    assert RULES.match(line).category == "teaser"


def test_a_labelled_sentence_is_not_a_teaser():
    assert RULES.match("More than 100 people: that is how many were evacuated, "
                       "officials said on Monday.") is None


def test_prefix_rules_keep_their_punctuation():
    assert RULES.match("Foto: Jan Novák / TASR").category == "photo_credit"
    assert RULES.match("Still, this isn't the first time a slogan has gone awry.") is None


def test_timestamps_and_urls_only_at_the_edges():
    body = [LONG, "Einsendeschluss: 03.11.2019", "https://www.openpetition.de", LONG]
    lines = ["Updated at 1:23 p.m.", *body, "https://cdn.example/logo.png", "18.05.2026"]
    cleaned = clean_lines(lines, RULES)
    assert list(cleaned.lines) == body
    assert [r.reason for r in cleaned.removed] == ["timestamp", "url_only", "timestamp"]


def test_footer_pitches_below_the_body_but_not_lists():
    lines = [LONG, "Get the latest updates right in your inbox. Subscribe to our newsletters.",
             "- Sign up for an account with your email address"]
    cleaned = clean_lines(lines, RULES)
    assert list(cleaned.lines) == [LONG, lines[2]]
    assert cleaned.removed[0].reason.startswith("footer:")
    # The same pitch above the end of the body is left alone.
    assert clean_lines([lines[1], LONG], RULES).removed == ()


def test_end_marker_does_not_cut_short_news_paragraphs():
    lines = [LONG, "Related", "Officials said the bridge would reopen on Friday.", LONG[:90]]
    assert "Officials said the bridge would reopen on Friday." in clean_lines(lines, RULES).lines


def test_shortcodes_are_removed_anywhere():
    shortcode = "[button link=”http://x.example/submit” type=”big”] Send us YOUR review[/button]"
    lines = [LONG, shortcode, LONG]

    assert clean_lines(lines, RULES).removed[0].reason == "shortcode"


@pytest.mark.parametrize("title, line", [
    ("Harbour reopens after storm - Coast Times", "Harbour reopens after storm"),
    ("宮崎県で震度5弱、津波注意報 気象庁：朝日新聞デジタル", "宮崎県で震度5弱、津波注意報 気象庁"),
    ("The harbour reopens after the storm", "Harbour reopens after the storm"),
])
def test_the_headline_or_a_close_variant_at_the_top_is_the_title(title, line):
    cleaned = clean_lines([line, LONG], RULES, title)
    assert [r.reason for r in cleaned.removed] == ["title"]


def test_a_different_first_line_is_not_the_title():
    lines = ["Harbour reopens, but the ferry stays cancelled until the weekend", LONG]
    assert clean_lines(lines, RULES, "Harbour reopens after storm").removed == ()


def test_bylines_and_agency_tags_only_at_the_edges():
    authors = ("Ana Pereira", "Tom Berg")
    body = [LONG, "Ana Pereira", LONG]  # a speaker's name inside the body stays
    lines = ["By Ana Pereira and Tom Berg", *body, "(dpa)", "Tom Berg"]
    cleaned = clean_lines(lines, RULES, authors=authors)
    assert list(cleaned.lines) == body
    assert [r.reason for r in cleaned.removed] == ["author"] * 3
    # Without the metadata, a name is just a line.
    assert "Tom Berg" in clean_lines([LONG, "Tom Berg"], RULES).lines


def test_a_source_list_below_the_body_is_not_body():
    sources = ["- Eigene Recherchen", "- nytimes.com: Behind the Seized Tanker (Englisch)"]
    cleaned = clean_lines([LONG, "- nytimes.com: the paper reported first", LONG, *sources],
                          RULES)
    assert list(cleaned.lines) == [LONG, "- nytimes.com: the paper reported first", LONG]
    assert [r.reason for r in cleaned.removed] == ["related:de", "citation"]


def test_a_label_alone_heads_a_list_of_teasers():
    lines = [LONG, "Ähnliche:", "- Fahndung nach Verrätern", "- Aufklärung nur intern"]
    cleaned = clean_lines(lines, RULES)
    assert list(cleaned.lines) == [LONG]
    assert [r.reason for r in cleaned.removed] == ["related:de", "tail_after_related",
                                                   "tail_after_related"]


def test_a_short_head_of_a_title_is_not_the_title():
    lines = ["Trump", LONG]  # "Trump - Biden debate: what we learned from the first round"
    assert clean_lines(lines, RULES, "Trump - Biden debate: what we learned from the first round"
                       ).removed == ()


def test_a_bracketed_source_name_is_not_a_shortcode():
    lines = [LONG, "[Engadget]", LONG, "[caption id=\"a1\"]A boat[/caption]"]
    assert [r.line for r in clean_lines(lines, RULES).removed] == [lines[3]]
