"""A learned, language-neutral judge of the lines an extraction kept.

The phrase rules name chrome in the words of a few dozen languages; this
model judges a line by its *shape*, its *place* and its *home in the page*
instead, the way a reader spots a byline, a caption or a "most read" list
on a site they have never seen: short, title-cased, digit-heavy lines above
the first or below the last paragraph of prose, lines that are links, list
items of a link list, lines in an ``<aside>`` or a box whose class says
"teaser".  No feature names a word of any language (class names are the
CMSes' vocabulary, not the article's).  It runs in the extract stage, where
the parsed page is at hand (``transforms/boilerplate/markup.py``), right
after the markup evidence and before the phrase rules.

It is a logistic regression over :data:`FEATURES`, trained on the *tune*
part of the quality corpora only (``bench/train_line_model.py``, fixed
seed; ``bench/splits.py`` holds the split) and shipped as
``line_model.json``: weights, the feature scaling and the decision
threshold.  Inference is a dot product per line, in pure Python, so
workers need no scikit-learn.

Two guards keep it from hurting recall on pages unlike its training data:
it judges only lines shorter than :data:`MAX_JUDGED_WORDS` words, and it
leaves an article alone when it would remove more than
:data:`MAX_REMOVED_SHARE` of its words.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import AbstractSet, Sequence

from transforms.boilerplate import structure
from transforms.boilerplate.markup import MARKUP_FEATURES
from transforms.lib.text import normalise, word_count

MODEL_PATH = Path(__file__).with_name("line_model.json")
# Lines at least this long are prose, whatever their place.
MAX_JUDGED_WORDS = 40
# An article the model would strip of more than this share of its words is
# left as the rules made it: a page unlike those it learned from.
MAX_REMOVED_SHARE = 0.3
ANCHOR_WORDS = 12
REASON = "line_model"
_SENTENCE_END = tuple('.!?"”»“)…。！？')
_QUOTE_START = tuple('"“„«‚‘\'')
_SEPARATORS = re.compile(r"[|•·/»›>]")
_NUMBER = re.compile(r"^\d[\d.,:/-]*$")

TEXT_FEATURES = (
    "log_words", "log_chars", "ends_sentence", "starts_quote", "digit_share",
    "upper_share", "punct_share", "capitalised_share", "number_word_share",
    "separators", "label_colon", "bracketed", "has_contact", "is_list_item",
    "is_timestamp", "short", "position", "is_first", "is_last",
    "before_first_anchor", "after_last_anchor", "log_anchor_distance",
    "log_previous_words", "log_next_words", "word_share", "log_lines",
    "title_overlap", "author_overlap", "copyright",
)
FEATURES = TEXT_FEATURES + MARKUP_FEATURES


def _tokens(text: str) -> set[str]:
    return set(normalise(text).split())


def _line_shape(line: str, words: int) -> list[float]:
    chars = max(1, len(line))
    letters = sum(map(str.isalpha, line))
    tokens = line.split()
    capitalised = sum(1 for t in tokens if t[:1].isupper())
    numbers = sum(1 for t in tokens if _NUMBER.match(t.strip("()[],.;:")))
    stripped = line.strip()
    return [
        math.log1p(words),
        math.log1p(len(line)),
        float(stripped.endswith(_SENTENCE_END)),
        float(stripped.startswith(_QUOTE_START)),
        sum(map(str.isdigit, line)) / chars,
        sum(map(str.isupper, line)) / letters if letters else 0.0,
        (len(line) - sum(map(str.isalnum, line)) - sum(map(str.isspace, line))) / chars,
        capitalised / len(tokens) if tokens else 0.0,
        numbers / len(tokens) if tokens else 0.0,
        float(len(_SEPARATORS.findall(line))),
        float(":" in line[:30]),
        float(stripped[:1] in "([" and stripped[-1:] in ")]"),
        float(structure.has_contact(line)),
        float(structure.is_list_item(line)),
        float(structure.is_timestamp(line)),
        float(words <= 3),
    ]


def features(lines: Sequence[str], title: str | None = None,
             authors: AbstractSet[str] = frozenset(),
             markup: Sequence[Sequence[float]] | None = None,
             only: Sequence[int] | None = None,
             words: Sequence[int] | None = None) -> list[list[float]]:
    """One feature vector per line of an article (per line in ``only``, when
    given: a line's vector depends on the others only through their word
    counts), in the order of :data:`FEATURES`; ``markup`` holds each line's
    markup features (``markup.markup_features``), zeros when absent."""
    empty = [0.0] * len(MARKUP_FEATURES)
    words = list(words) if words is not None else [word_count(line) for line in lines]
    total = max(1, sum(words))
    anchors = [i for i, w in enumerate(words) if w >= ANCHOR_WORDS]
    title_tokens = _tokens(title or "")
    author_tokens = {t for a in authors for t in a.split()}
    last = len(lines) - 1
    rows = []
    for i in range(len(lines)) if only is None else only:
        line = lines[i]
        tokens = _tokens(line)
        distance = min((abs(i - a) for a in anchors), default=len(lines))
        rows.append([
            *_line_shape(line, words[i]),
            i / last if last else 0.0,
            float(i == 0),
            float(i == last),
            float(bool(anchors) and i < anchors[0]),
            float(bool(anchors) and i > anchors[-1]),
            math.log1p(distance),
            math.log1p(words[i - 1]) if i > 0 else 0.0,
            math.log1p(words[i + 1]) if i < last else 0.0,
            words[i] / total,
            math.log1p(len(lines)),
            len(tokens & title_tokens) / len(tokens) if tokens else 0.0,
            float(bool(author_tokens) and bool(tokens & author_tokens)),
            float("©" in line or "(c)" in line.lower()),
            *(markup[i] if markup is not None else empty),
        ])
    return rows


@dataclasses.dataclass(frozen=True)
class LineModel:
    """Logistic regression weights over standardised features."""

    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    threshold: float
    trained_on: str = ""

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LineModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path} was trained on other features; retrain it "
                             "(bench/train_line_model.py)")
        return cls(weights=tuple(data["weights"]), bias=data["bias"],
                   means=tuple(data["means"]), scales=tuple(data["scales"]),
                   threshold=data["threshold"], trained_on=data.get("trained_on", ""))

    def probabilities(self, rows: list[list[float]]) -> list[float]:
        out = []
        for row in rows:
            z = self.bias + sum(w * (x - m) / s for w, x, m, s in
                                zip(self.weights, row, self.means, self.scales, strict=True))
            out.append(1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))))
        return out

    def off_body(self, lines: Sequence[str], title: str | None = None,
                 authors: AbstractSet[str] = frozenset(),
                 markup: Sequence[Sequence[float]] | None = None) -> list[int]:
        """Indexes of the lines the model takes for chrome; none when that
        would remove more than :data:`MAX_REMOVED_SHARE` of the words."""
        if not lines:
            return []
        words = [word_count(line) for line in lines]
        judged = [i for i, count in enumerate(words) if count < MAX_JUDGED_WORDS]
        rows = features(lines, title, authors, markup, only=judged, words=words)
        chosen = [i for i, p in zip(judged, self.probabilities(rows), strict=True)
                  if p >= self.threshold]
        if sum(words[i] for i in chosen) > MAX_REMOVED_SHARE * sum(words):
            return []
        return chosen
