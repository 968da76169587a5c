"""Phrase rules, kept as data in ``rules/<language>.json``.

A rule never matches words inside a sentence: ``phrases`` must equal the
whole line, ``prefixes`` (punctuation included, "Foto:") must start a short
line, ``patterns`` are regular expressions that must match the whole line,
``contains`` may appear anywhere in a short line (only for unmistakable
markers such as "all rights reserved"), and ``labels`` (plus the related,
navigation, newsletter and advert phrases) mark teaser lines of the form
"Read more: <another headline>".  ``footer`` keywords are only consulted
below an article's last body paragraph.  Lines and rules are compared in a normalised form:
NFKC, case-folded, punctuation and symbols turned into single spaces, so
"ZDIEĽATEĽNÁ URL:" and "Zdieľateľná URL" are the same line.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from transforms.lib.text import fold, normalise, word_count

RULES_DIR = Path(__file__).with_name("rules")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

# Categories that mark the end of the article body: what follows them on a
# page is other posts, forms and footers.
END_CATEGORIES = frozenset({"share", "comments", "navigation", "related", "newsletter", "tags"})
# A line this short counts as chrome-sized for prefix/contains rules.
SHORT_LINE_WORDS = 16
# "Read more: <a headline>" lines are longer than bare labels.
MAX_LABELLED_WORDS = 40
LABEL_CATEGORIES = frozenset({"related", "navigation", "newsletter", "advert"})
_SEPARATOR = re.compile(r"\s*(?::|：|\s[-–—|»>]+)\s+")


@dataclasses.dataclass(frozen=True)
class Match:
    category: str
    language: str
    rule: str

    @property
    def reason(self) -> str:
        return f"{self.category}:{self.language}"


@dataclasses.dataclass(frozen=True)
class RuleSet:
    phrases: dict[str, Match]
    prefixes: tuple[tuple[str, Match], ...]
    contains: tuple[tuple[str, Match], ...]
    patterns: tuple[tuple[re.Pattern, Match], ...]
    footers: tuple[tuple[str, Match], ...]
    labels: dict[str, Match]
    languages: tuple[str, ...]

    def _labelled(self, line: str) -> Match | None:
        """"Read more: <headline>", "Lea también – <headline>": a teaser label
        (from the label lists, or any related / navigation / newsletter /
        advert phrase) followed by a separator and the rest of the line."""
        match = _SEPARATOR.search(line[:80])
        if match is None or word_count(line) > MAX_LABELLED_WORDS:
            return None
        return self.labels.get(normalise(line[:match.start()]))

    def footer(self, line: str) -> Match | None:
        """A footer keyword (subscription pitch, credit line) inside the line;
        only consulted below the article's last body paragraph."""
        raw = fold(line)
        for needle, hit in self.footers:
            if needle in raw:
                return hit
        return None

    def match(self, line: str, norm: str | None = None) -> Match | None:
        """The rule the whole ``line`` matches, if any (``norm``: its
        normalised form, when the caller has it already)."""
        norm = normalise(line) if norm is None else norm
        if not norm:
            return None
        hit = self.phrases.get(norm)
        if hit is not None:
            return hit
        label = self.labels.get(norm)
        if label is not None:  # a label on a line of its own heads a list ("Ähnliche:")
            return label
        labelled = self._labelled(line)
        if labelled is not None:
            return Match("teaser", labelled.language, labelled.rule)
        if word_count(norm) > SHORT_LINE_WORDS:
            return None  # every remaining rule is for chrome-sized lines
        raw = fold(line)
        for pattern, hit in self.patterns:
            if pattern.fullmatch(norm) or pattern.fullmatch(raw):
                return hit
        for prefix, hit in self.prefixes:
            if raw.startswith(prefix) and (len(raw) == len(prefix) or not prefix[-1].isalnum()
                                           or not raw[len(prefix)].isalnum()):
                return hit
        for needle, hit in self.contains:
            if needle in raw:
                return hit
        return None


def _load_file(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _entries(doc: dict, section: str, extra: tuple[str, ...] = ()):
    """(category, string, Match) for every string of a rule document's
    ``section`` (and of the ``phrases`` categories named in ``extra``)."""
    lang = doc["language"]
    groups = list(doc.get(section, {}).items()) + [
        (c, v) for c, v in doc.get("phrases", {}).items() if c in extra]
    for category, items in groups:
        for item in items:
            yield item, Match(category, lang, item)


def build(documents: list[dict]) -> RuleSet:
    """A RuleSet from rule documents (the parsed JSON files)."""
    phrases: dict[str, Match] = {}
    labels: dict[str, Match] = {}
    prefixes, contains, patterns, footers = [], [], [], []
    for doc in documents:
        for item, hit in _entries(doc, "phrases"):
            if normalise(item):
                phrases.setdefault(normalise(item), hit)
        for item, hit in _entries(doc, "labels", extra=tuple(LABEL_CATEGORIES)):
            if normalise(item):
                labels.setdefault(normalise(item), hit)
        # Prefixes keep their punctuation: "Foto:" must not match "Fotos".
        prefixes += [(fold(item), hit) for item, hit in _entries(doc, "prefixes") if fold(item)]
        contains += [(fold(item), hit) for item, hit in _entries(doc, "contains")]
        footers += [(fold(item), hit) for item, hit in _entries(doc, "footer")]
        patterns += [(re.compile(item, re.UNICODE), hit)
                     for item, hit in _entries(doc, "patterns")]
    prefixes.sort(key=lambda p: -len(p[0]))
    languages = tuple(sorted({doc["language"] for doc in documents}))
    return RuleSet(phrases, tuple(prefixes), tuple(contains), tuple(patterns), tuple(footers),
                   labels, languages)


def load_default_rules() -> RuleSet:
    """Every language's rules: chrome is often in another language than the
    article (the seed is an English article on a Slovak theme).  English
    loads first, so a string that themes leave untranslated everywhere
    ("Read next") is reported as English."""
    paths = sorted(RULES_DIR.glob("*.json"), key=lambda p: (p.stem != "en", p.stem))
    return build([_load_file(p) for p in paths])

