"""Deciding which lines of an extracted article are boilerplate.

Evidence, strongest first:
1. the line is the article's own title repeated at the top;
2. a phrase rule matches the whole line (share bars, comment forms ...);
3. the line is another article's headline from the same site or feed;
4. the line recurs across many articles of the same site;
5. it trails a strong end-of-article marker (a share bar, a comment
   prompt, post navigation) where nothing after the marker looks like body
   text: those are the other posts' headlines and the form's labels.
Every removal is returned with its reason for the audit column.
"""
from __future__ import annotations

import dataclasses
from typing import AbstractSet

from schemas import RemovedLine
from transforms.boilerplate.rules import END_CATEGORIES, RuleSet, normalise
from transforms.text import word_count

# A paragraph at least this long is body text; its presence after an end
# marker means the marker was not the end (e.g. a share bar at the top).
BODY_PARAGRAPH_WORDS = 30


@dataclasses.dataclass(frozen=True)
class Cleaned:
    lines: tuple[str, ...]
    removed: tuple[RemovedLine, ...]


@dataclasses.dataclass(frozen=True)
class SiteEvidence:
    """What other articles of the same site say about its chrome."""

    headlines: AbstractSet[str] = frozenset()   # normalised titles of other articles
    recurring: AbstractSet[str] = frozenset()   # normalised lines seen across many articles


def _reasons(lines: list[str], rules: RuleSet, title: str | None,
             evidence: SiteEvidence) -> list[str | None]:
    title_key = normalise(title) if title else None
    reasons: list[str | None] = []
    leading = True
    for index, line in enumerate(lines):
        key = normalise(line)
        reason = None
        if not key:
            reason = "no_words"
        elif leading and index < 3 and key == title_key:
            reason = "title"
        else:
            match = rules.match(line)
            if match is not None:
                reason = match.reason
            elif key in evidence.headlines:
                reason = "other_headline"
            elif key in evidence.recurring:
                reason = "recurring"
        if reason is None:
            leading = False
        reasons.append(reason)
    return reasons


def _tail_start(lines: list[str], reasons: list[str | None]) -> int | None:
    """Index of the first end marker after which nothing looks like body text.

    The body before the marker must outweigh whatever short lines follow
    it, so a share bar at the top of a short article never swallows it.
    """
    words = [word_count(line) for line in lines]
    before = 0
    for index, reason in enumerate(reasons):
        if reason is None:
            before += words[index]
            continue
        if reason.split(":", 1)[0] not in END_CATEGORIES or before == 0:
            continue
        after = [i for i in range(index + 1, len(lines)) if reasons[i] is None]
        if any(words[i] >= BODY_PARAGRAPH_WORDS for i in after):
            continue
        if before >= sum(words[i] for i in after):
            return index
    return None


def clean_lines(lines: list[str], rules: RuleSet, title: str | None = None,
                evidence: SiteEvidence = SiteEvidence()) -> Cleaned:
    reasons = _reasons(lines, rules, title, evidence)
    tail = _tail_start(lines, reasons)
    if tail is not None:
        marker = reasons[tail].split(":", 1)[0]
        for index in range(tail + 1, len(lines)):
            if reasons[index] is None:
                reasons[index] = f"tail_after_{marker}"
    kept = tuple(line for line, reason in zip(lines, reasons, strict=True) if reason is None)
    removed = tuple(RemovedLine(line=line, reason=reason)
                    for line, reason in zip(lines, reasons, strict=True) if reason is not None)
    return Cleaned(kept, removed)
