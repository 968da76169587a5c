"""Deciding which lines of an extracted article are boilerplate.

Evidence, strongest first:
1. the article's own title (or a close variant of it) repeated at the top;
2. a phrase rule matching the whole line (share bars, comment forms,
   "Read more: <headline>" teasers ...);
3. another article's headline from the same site;
4. a line that recurs across many articles of the same site;
5. line shapes that are never prose: a CMS shortcode anywhere, and a bare
   URL, a timestamp, the authors' byline or an agency tag ("(dpa)") above
   the first or below the last body paragraph, and below it the entries of
   a source list ("- nytimes.com: <headline>");
6. below the last body paragraph, subscription and promotion lines;
7. everything after a strong end-of-article marker (a share bar, a comment
   prompt, post navigation), when nothing after it reads like body text:
   those are the other posts' headlines and the form's labels.
(The page's markup is evidence too; the extract stage applies it, see
``transforms.boilerplate.markup``.)  Every removal is returned with its
reason for the audit column.
"""
from __future__ import annotations

import dataclasses
from difflib import SequenceMatcher
from typing import AbstractSet, Iterable

from schemas import RemovedLine
from transforms.boilerplate import structure
from transforms.boilerplate.rules import END_CATEGORIES, RuleSet
from transforms.lib.text import normalise, word_count

# A paragraph at least this long is body text.
BODY_PARAGRAPH_WORDS = 30
# A full sentence this long reads like body text even when short.
MIN_SENTENCE_WORDS = 8
# Paragraphs this long anchor the body for the position rules.
ANCHOR_WORDS = 12
# Footer lines can be longer than chrome labels (subscription pitches).
MAX_FOOTER_WORDS = 45
_SENTENCE_END = tuple('.!?"”»“)…。！？')
# How close a leading line must be to the title to be taken for it.
TITLE_SIMILARITY = 0.85
_SITE_SEPARATORS = (" | ", " - ", " – ", " — ", "：", " :: ", " · ")
# A byline names a few people; words other than their names may only be
# connectives, in the languages the rules cover.
MAX_BYLINE_WORDS = 16
_BYLINE_WORDS = frozenset(
    "by from von und and with mit por par di da de del door en av af og och i a y et e u "
    "text texto tekst testo foto photos fotos redaktion".split())


@dataclasses.dataclass(frozen=True)
class Cleaned:
    lines: tuple[str, ...]
    removed: tuple[RemovedLine, ...]


@dataclasses.dataclass(frozen=True)
class SiteEvidence:
    """What other articles of the same site say about its chrome."""

    headlines: AbstractSet[str] = frozenset()   # normalised titles of other articles
    recurring: AbstractSet[str] = frozenset()   # normalised lines seen across many articles


def _line_reason(line: str, key: str, rules: RuleSet, evidence: SiteEvidence) -> str | None:
    match = rules.match(line, key)
    if match is not None:
        return match.reason
    if key in evidence.headlines:
        return "other_headline"
    if key in evidence.recurring:
        return "recurring"
    if structure.is_shortcode(line):
        return "shortcode"
    return None


def title_keys(title: str | None) -> frozenset[str]:
    """The title, and the title without the site name it often carries
    ("Harbour reopens - Coast Times", "…注意報：朝日新聞デジタル")."""
    if not title:
        return frozenset()
    forms = {title}
    for separator in _SITE_SEPARATORS:
        head, found, _ = title.rpartition(separator)
        if found and len(head.strip()) >= len(title) / 2:  # the site name is the short end
            forms.add(head)
    return frozenset(k for k in map(normalise, forms) if k)


def _is_own_title(key: str, titles: AbstractSet[str]) -> bool:
    """The line is the headline: the same, or a close variant (the page's
    ``<h1>`` and the feed's title are often edited apart by a word)."""
    return key in titles or any(
        SequenceMatcher(None, key, title).ratio() >= TITLE_SIMILARITY for title in titles)


def _reasons(lines: list[str], keys: list[str], rules: RuleSet, title: str | None,
             evidence: SiteEvidence) -> list[str | None]:
    titles = title_keys(title)
    reasons: list[str | None] = []
    leading = True
    for index, (line, key) in enumerate(zip(lines, keys, strict=True)):
        if not key:
            reason = "no_words"
        elif leading and index < 3 and _is_own_title(key, titles):
            reason = "title"
        else:
            reason = _line_reason(line, key, rules, evidence)
        if reason is None:
            leading = False
        reasons.append(reason)
    return reasons


def _anchors(words: list[int], reasons: list[str | None]) -> list[int]:
    return [i for i, r in enumerate(reasons) if r is None and words[i] >= ANCHOR_WORDS]


def _is_byline(key: str, authors: AbstractSet[str]) -> bool:
    """The line names the article's own authors and nothing else but
    connectives ("Daniel Aragón", "By Ana Pereira and Tom Berg")."""
    if not authors or len(key.split()) > MAX_BYLINE_WORDS:
        return False
    rest = f" {key} "
    for author in sorted(authors, key=len, reverse=True):
        rest = rest.replace(f" {author} ", " ")
    return rest.strip() != key and all(w in _BYLINE_WORDS for w in rest.split())


def _mark_edges(lines: list[str], keys: list[str], words: list[int],
                reasons: list[str | None], authors: AbstractSet[str]) -> None:
    """Above the first and below the last body paragraph, bare URLs,
    timestamps and the authors' names are page furniture (datelines,
    "updated at", embeds, bylines).  In the body they may be content (an
    event's date, a link to a petition, a speaker's name)."""
    anchors = _anchors(words, reasons)
    if not anchors:
        return
    for i in [*range(anchors[0]), *range(anchors[-1] + 1, len(lines))]:
        if reasons[i] is None:
            if structure.is_url_only(lines[i]):
                reasons[i] = "url_only"
            elif structure.is_timestamp(lines[i]):
                reasons[i] = "timestamp"
            elif _is_byline(keys[i], authors) or structure.is_source_tag(lines[i]):
                reasons[i] = "author"
            elif i > anchors[-1] and structure.is_citation(lines[i]):
                reasons[i] = "citation"


def _mark_footer(lines: list[str], words: list[int], reasons: list[str | None],
                 rules: RuleSet) -> None:
    """Below the last body paragraph, subscription and promotion pitches.
    List items are left alone: articles end with lists of steps too."""
    body = [i for i, r in enumerate(reasons) if r is None and words[i] >= BODY_PARAGRAPH_WORDS]
    if not body:
        return
    for i in range(body[-1] + 1, len(lines)):
        if reasons[i] is None and words[i] <= MAX_FOOTER_WORDS \
                and not structure.is_list_item(lines[i]):
            hit = rules.footer(lines[i])
            if hit is not None:
                reasons[i] = hit.reason


def _reads_like_body(line: str, words: int) -> bool:
    """A paragraph of prose: long, or a full sentence of some length."""
    return words >= BODY_PARAGRAPH_WORDS or (
        words >= MIN_SENTENCE_WORDS and line.rstrip().endswith(_SENTENCE_END))


def _tail_start(lines: list[str], words: list[int], reasons: list[str | None]) -> int | None:
    """Index of the first end marker after which nothing reads like body text.

    The body before the marker must outweigh whatever short lines follow
    it, so a share bar at the top of a short article never swallows it.
    """
    before = 0
    for index, reason in enumerate(reasons):
        if reason is None:
            before += words[index]
            continue
        if reason.split(":", 1)[0] not in END_CATEGORIES or before == 0:
            continue
        after = [i for i in range(index + 1, len(lines)) if reasons[i] is None]
        if any(_reads_like_body(lines[i], words[i]) for i in after):
            continue
        if before >= sum(words[i] for i in after):
            return index
    return None


def clean_lines(lines: list[str], rules: RuleSet, title: str | None = None,
                evidence: SiteEvidence = SiteEvidence(), authors: Iterable[str] = ()) -> Cleaned:
    keys = [normalise(line) for line in lines]
    words = [word_count(line) for line in lines]
    reasons = _reasons(lines, keys, rules, title, evidence)
    _mark_edges(lines, keys, words, reasons, frozenset(filter(None, map(normalise, authors))))
    _mark_footer(lines, words, reasons, rules)
    tail = _tail_start(lines, words, reasons)
    if tail is not None:
        marker = reasons[tail].split(":", 1)[0]
        for index in range(tail + 1, len(lines)):
            if reasons[index] is None:
                reasons[index] = f"tail_after_{marker}"
    kept = tuple(line for line, reason in zip(lines, reasons, strict=True) if reason is None)
    removed = tuple(RemovedLine(line=line, reason=reason)
                    for line, reason in zip(lines, reasons, strict=True) if reason is not None)
    return Cleaned(kept, removed)
