"""Language detection: deterministic, ISO 639-1, 'und' when unsure."""
from __future__ import annotations

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import Article
from tests.conftest import FETCHED_AT
from tests.harness import drive
from transforms.language import (
    UNDETERMINED,
    DetectLanguage,
    DetectLanguageFn,
    detect,
    iso639_1,
    new_factory,
    sample,
)
from transforms.lib.outcomes import DEAD_LETTERS

TEXTS = {
    "en": "The government announced on Tuesday that it would raise the minimum wage next year.",
    "de": "Die Regierung kündigte am Dienstag an, den Mindestlohn im nächsten Jahr anzuheben.",
    "sk": "Vláda v utorok oznámila, že budúci rok zvýši minimálnu mzdu pre všetkých.",
    "cs": "Vláda v úterý oznámila, že příští rok zvýší minimální mzdu pro všechny zaměstnance.",
    "fr": "Le gouvernement a annoncé mardi qu'il augmenterait le salaire minimum l'an prochain.",
    "ru": "Правительство во вторник объявило, что в следующем году повысит минимальную зарплату.",
}


@pytest.fixture(scope="module")
def factory():
    return new_factory()


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_detects(factory, lang):
    code, prob = detect(factory, TEXTS[lang])
    assert code == lang and 0.5 < prob <= 1.0


@pytest.mark.parametrize("text", ["", "OK", "12 345 678", "Hi there!", "—"])
def test_too_short_is_und(factory, text):
    assert detect(factory, text) == (UNDETERMINED, 0.0)


def test_deterministic_across_factories_and_calls():
    ambiguous = ["Dobrý deň, ako sa máte?", "Dobrý den, jak se máte?", "To je dobre.",
                 "Ano, je to tak a nie inak, povedal."] * 5
    first = [detect(new_factory(), t) for t in ambiguous]
    other = new_factory()
    assert [detect(other, t) for t in ambiguous] == first
    assert [detect(other, t) for t in reversed(ambiguous)] == list(reversed(first))


def test_iso_codes():
    assert iso639_1("zh-cn") == "zh" and iso639_1("zh-tw") == "zh" and iso639_1("en") == "en"


def test_sample_is_bounded_and_deterministic():
    text = "a" * 5000 + "b" * 5000
    assert len(sample(text, 2000)) <= 2001
    assert sample(text, 2000) == sample(text, 2000)
    assert sample("short", 2000) == "short"
    assert sample(text, 0) == text


def article(i: int, text: str) -> Article:
    return Article(id=f"id{i}", url=f"https://x.example/{i}", feed_url="https://x.example/rss",
                   source="x.example", fetched_at=FETCHED_AT, text=text,
                   extraction_method="trafilatura")


def test_dofn_directly():
    main, _ = drive(DetectLanguageFn(), [article(1, TEXTS["de"]), article(2, "Hi")],
                    with_window=False)
    assert [(a.language, a.language_prob > 0.5) for a in main] == [("de", True), ("und", False)]


def test_composite():
    with TestPipeline() as p:
        out, dead = (p | beam.Create([article(i, TEXTS[k]) for i, k in enumerate(sorted(TEXTS))])
                     | DetectLanguage())
        assert_that(out | beam.Map(lambda a: a.language), equal_to(sorted(TEXTS)))
        assert_that(dead, equal_to([]), label="NoDeadLetters")


def test_an_article_that_breaks_detection_becomes_a_dead_letter_and_the_rest_go_on():
    broken = dataclasses.replace(article(9, TEXTS["de"]), text=None)  # a bug upstream
    main, tagged = drive(DetectLanguageFn(), [article(1, TEXTS["de"]), broken,
                                              article(2, TEXTS["fr"])], with_window=False)
    assert [a.language for a in main] == ["de", "fr"]
    (dead,) = tagged[DEAD_LETTERS]
    assert (dead.stage, dead.error_type, dead.article_id) == ("language", "internal_error", "id9")
    assert dead.message.startswith("TypeError")
