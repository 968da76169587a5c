"""Phrase rules, kept as data in ``rules/<language>.json``.

A rule never matches words inside a sentence: ``phrases`` must equal the
whole line, ``prefixes`` must start a short line, ``patterns`` are regular
expressions that must match the whole normalised line, and ``contains``
may appear anywhere in a short line (only for unmistakable markers such as
"all rights reserved").  Lines and rules are compared in a normalised form:
NFKC, case-folded, punctuation and symbols turned into single spaces, so
"ZDIEĽATEĽNÁ URL:" and "Zdieľateľná URL" are the same line.
"""
from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from pathlib import Path

from transforms.text import word_count

RULES_DIR = Path(__file__).with_name("rules")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

# Categories that mark the end of the article body: what follows them on a
# page is other posts, forms and footers.
END_CATEGORIES = frozenset({"share", "comments", "navigation", "related", "newsletter", "tags"})
# A line this short counts as chrome-sized for prefix/contains rules.
SHORT_LINE_WORDS = 16


def normalise(line: str) -> str:
    text = unicodedata.normalize("NFKC", line).casefold()
    return _NON_WORD.sub(" ", text).strip()


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
    languages: tuple[str, ...]

    def match(self, line: str) -> Match | None:
        norm = normalise(line)
        if not norm:
            return None
        hit = self.phrases.get(norm)
        if hit is not None:
            return hit
        for pattern, hit in self.patterns:
            if pattern.fullmatch(norm):
                return hit
        if word_count(norm) > SHORT_LINE_WORDS:
            return None
        for prefix, hit in self.prefixes:
            if norm.startswith(prefix) and (len(norm) == len(prefix) or norm[len(prefix)] == " "):
                return hit
        lowered = unicodedata.normalize("NFKC", line).casefold()
        for needle, hit in self.contains:
            if needle in lowered:
                return hit
        return None


def _load_file(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def build(documents: list[dict]) -> RuleSet:
    """A RuleSet from rule documents (the parsed JSON files)."""
    phrases: dict[str, Match] = {}
    prefixes, contains, patterns, languages = [], [], [], []
    for doc in documents:
        lang = doc["language"]
        languages.append(lang)
        for category, items in doc.get("phrases", {}).items():
            for item in items:
                key = normalise(item)
                if key:
                    phrases.setdefault(key, Match(category, lang, item))
        for category, items in doc.get("prefixes", {}).items():
            for item in items:
                key = normalise(item)
                if key:
                    prefixes.append((key, Match(category, lang, item)))
        for category, items in doc.get("contains", {}).items():
            for item in items:
                contains.append((unicodedata.normalize("NFKC", item).casefold(),
                                 Match(category, lang, item)))
        for category, items in doc.get("patterns", {}).items():
            for item in items:
                patterns.append((re.compile(item, re.UNICODE), Match(category, lang, item)))
    prefixes.sort(key=lambda p: -len(p[0]))
    return RuleSet(phrases, tuple(prefixes), tuple(contains), tuple(patterns),
                   tuple(sorted(set(languages))))


def load_default_rules() -> RuleSet:
    """Every language's rules: chrome is often in another language than the
    article (the seed is an English article on a Slovak theme)."""
    return build([_load_file(p) for p in sorted(RULES_DIR.glob("*.json"))])
