"""Stage 5: detect each article's language with langdetect.

langdetect is randomised: without a fixed seed the same text can get a
different answer on another call.  Each DoFn builds its own seeded
``DetectorFactory`` in ``setup()`` (loading the profiles takes ~0.5 s, so
once per worker, never per element) instead of touching langdetect's
module-global factory.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterator

import apache_beam as beam
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from schemas import Article, DeadLetter
from transforms.lib import outcomes
from transforms.lib.stage import ApplyStage, Stage

STAGE = "language"
UNDETERMINED = "und"
MIN_LETTERS = 20
DEFAULT_SAMPLE_CHARS = 600
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def iso639_1(code: str) -> str:
    """langdetect's codes are ISO 639-1 except Chinese's script variants."""
    return code.split("-", 1)[0].lower()


def sample(text: str, max_chars: int) -> str:
    """A bounded, deterministic sample: the text's start and its middle.

    The start alone can be a dateline or a quote in another language; the
    middle is almost always running body text.
    """
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    half = max_chars // 2
    middle = len(text) // 2
    return text[:half] + "\n" + text[middle:middle + half]


def new_factory(seed: int = 0) -> DetectorFactory:
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = seed
    return factory


def detect(factory: DetectorFactory, text: str,
           max_chars: int = DEFAULT_SAMPLE_CHARS) -> tuple[str, float]:
    """(ISO 639-1 code, probability), or ("und", 0.0) when text is too short."""
    if len(_LETTER.findall(text[:4 * MIN_LETTERS])) < MIN_LETTERS and \
            len(_LETTER.findall(text)) < MIN_LETTERS:
        return UNDETERMINED, 0.0
    detector = factory.create()
    detector.append(sample(text, max_chars))
    try:
        best = detector.get_probabilities()
    except LangDetectException:
        return UNDETERMINED, 0.0
    if not best:
        return UNDETERMINED, 0.0
    return iso639_1(best[0].lang), round(float(best[0].prob), 6)


class DetectLanguageFn(beam.DoFn):
    def __init__(self, max_chars: int = DEFAULT_SAMPLE_CHARS, seed: int = 0):
        self._max_chars = max_chars
        self._seed = seed
        self._factory: DetectorFactory | None = None

    def setup(self) -> None:
        self._factory = new_factory(self._seed)

    @outcomes.guarded(STAGE)
    def process(self, article: Article) -> Iterator[Article]:
        assert self._factory is not None
        language, prob = detect(self._factory, article.text, self._max_chars)
        outcomes.count(STAGE, language)
        yield dataclasses.replace(article, language=language, language_prob=prob)


def stage(max_chars: int = DEFAULT_SAMPLE_CHARS, seed: int = 0) -> Stage:
    """Per article.  It follows the per-site clean step, so it asks to be
    spread over the workers again (``spread``) where the runner allows."""
    return Stage("DetectLanguage", DetectLanguageFn(max_chars, seed), spread=True)


class DetectLanguage(beam.PTransform):
    """Articles in; articles with ``language`` and ``language_prob``, and
    dead letters, out."""

    def __init__(self, max_chars: int = DEFAULT_SAMPLE_CHARS, seed: int = 0):
        super().__init__()
        self._stage = stage(max_chars, seed)

    def expand(self, articles: beam.PCollection[Article]
               ) -> tuple[beam.PCollection[Article], beam.PCollection[DeadLetter]]:
        return articles | ApplyStage(self._stage, spread=False)
