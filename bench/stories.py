"""Story identity (transforms/lib/stories.py): precision and recall of the
near-duplicate detection on a labelled set built from real pages.

The corpora hold almost no real cross-source copies of one story (one: the
fundus-dev Taz pair, one article captured on two dates), so the positives
are made the way syndication makes them, from real text, and the negatives
are real:

- every real page with a ground-truth body (zyte, fundus-dev) is seen as
  the story stage sees it: the text newsbeam's extract stage gives for it
  (the stage runs between extraction and cleaning), its lines labelled body
  or chrome against the ground truth;
- positives: for each real page, the copies a wire story gets when other
  outlets republish it, one per edit level (``LEVELS``, light to severe),
  each from its own seeded generator: another real page's chrome around it
  (its extracted chrome lines that any page of that site could carry, and
  "read more" teasers with other real headlines), a changed headline, a
  byline and a dateline, the last paragraphs trimmed, paragraphs split or
  merged, some sentences reworded (word replacement or deletion), and
  paragraphs of local context from other real articles of the language.
  The Taz pair is the real exact duplicate.  ``PROBES`` are single edits at
  their strongest, for diagnosis only (not in precision, recall or F1);
- negatives: pairs of different real pages as similar as real pages get:
  every pair from one publisher (the same site chrome), and each page's
  nearest pages of its language by TF-IDF cosine and by word 3-shingle
  Jaccard.  Precision is also measured over every pair of items of a split
  (copies of two stories wearing one site's chrome, too);
- the pages are split by publisher (no story, copy, chrome or donor text is
  in both) into ``dev`` and ``test``, about 50/50 per corpus, fixed seed.
  THRESHOLD, SHINGLE_WORDS and MIN_PROSE_WORDS are chosen on dev only, by
  two rules: ``max-F1`` (the highest F1 with precision >= 0.99 on the
  labelled pairs, over all pairs, and at the cluster level) and ``margin``
  (the same, with THRESHOLD at least ``MARGIN`` above the most similar pair
  of different stories in dev).  Test is only scored.

Reported, for the defaults and both choices, on dev and test: pairwise
precision / recall / F1, recall per edit level, by length and by language,
cluster-level results of ``StoryIndex.assign`` (one story per syndicated
group with the right first copy, false merges, the same result in any
input order and over two runs), LSH candidate rates, and the cost per
article of ``fingerprint`` and ``assign`` next to newsbeam's extract stage
and trafilatura's ``extract``, measured in the same run.  Figures go to
stdout and ``out/bench/stories.json``.  Run: ``PYTHONPATH=. .venv/bin/python
-m bench.stories`` (about 3-4 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from datasketch import MinHashLSH

from bench.corpus import corpus_root, machine, sandbox, write_json
from devsite.corpus_site import CORPORA, load_corpus
from transforms.lib import stories
from transforms.lib.text import normalise

SEED = 13
NAMES = ("zyte", "fundus-dev")  # trafilatura-eval has no ground-truth bodies
DEFAULTS = (stories.THRESHOLD, stories.SHINGLE_WORDS, stories.MIN_PROSE_WORDS)
MIN_PRECISION = 0.99
GRID_THRESHOLD = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))  # 0.1 .. 0.9
GRID_SHINGLE = (2, 3, 4, 5, 6, 7)
GRID_MIN_PROSE = (1, 5, 10, 15, 20)
NEAREST = 3  # nearest pages per page and measure, as negatives
MARGIN = 0.10  # threshold over dev's most similar different stories (recommendation)
LONG_CHROME = 25  # words: a chrome line this long goes to copies only if its site repeats it
BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Edit:
    """What one republication does to a story (the counts are maxima)."""

    headline: bool = False  # a changed headline line at the top
    byline: bool = False    # a byline line and a dateline before the first paragraph
    reshape: int = 0        # paragraphs split or merged
    trim: int = 0           # last paragraphs dropped (never half the story or more)
    reword: float = 0.0     # share of the story's words replaced or deleted
    insert: int = 0         # paragraphs of local context from another article
    chrome: bool = True     # another site's chrome around it


LEVELS = {
    "chrome": Edit(),
    "light": Edit(headline=True, byline=True, reshape=1),
    "medium": Edit(headline=True, byline=True, reshape=2, trim=1, reword=0.05),
    "heavy": Edit(headline=True, byline=True, reshape=3, trim=2, reword=0.10, insert=1),
    "severe": Edit(headline=True, byline=True, reshape=4, trim=3, reword=0.15, insert=2),
}
# One edit at a time at its strongest (diagnosis only, not in P/R/F1).
PROBES = {
    "only-headline-byline": Edit(headline=True, byline=True, chrome=False),
    "only-reshape-4": Edit(reshape=4, chrome=False),
    "only-trim-3": Edit(trim=3, chrome=False),
    "only-reword-15%": Edit(reword=0.15, chrome=False),
    "only-insert-2": Edit(insert=2, chrome=False),
}
EXACT_REAL = "exact-real"

_SENTENCE = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")
_TOKEN = re.compile(r"\w{3,}", re.UNICODE)
READ_MORE = {"de": "Mehr zum Thema:", "es": "Leer más:", "fr": "Lire aussi :",
             "it": "Leggi anche:", "pt": "Leia mais:", "nl": "Lees ook:", "pl": "Czytaj też:"}
BY = {"de": "Von", "es": "Por", "fr": "Par", "it": "Di", "pt": "Por", "nl": "Door", "pl": "Autor:"}
NAMES_FIRST = ("Anna", "Jonas", "Maria", "David", "Sofia", "Lukas", "Elena", "Tom", "Sara", "Ali")
NAMES_LAST = ("Keller", "Moreau", "Rossi", "Novak", "Silva", "Berg", "Walsh", "Kaya", "Jansen")
AGENCIES = ("Reuters", "AP", "AFP", "dpa", "EFE", "ANSA", "APA", "PA", "Kyodo", "Bloomberg")
CITIES = ("BERLIN", "LONDON", "MADRID", "PARIS", "ROME", "WASHINGTON", "VIENNA", "WARSAW",
          "BRUSSELS", "TOKYO", "NEW YORK", "JOHANNESBURG")
HEADLINE_TAGS = ("UPDATE 1-", "Exclusive:", "LIVE:", "Breaking:", "Analysis:", "WATCH:")


# --- the real pages -------------------------------------------------------------------

@dataclasses.dataclass
class Doc:
    """A real page as the story stage sees it: newsbeam's extracted text."""

    key: str             # corpus/id
    corpus: str
    publisher: str
    language: str
    title: str
    truth: str           # ground-truth body
    lines: list[str]     # extracted text, one paragraph a line
    body: list[bool]     # which lines belong to the ground-truth body

    @property
    def text(self) -> str:
        return "\n\n".join(self.lines)

    def body_lines(self) -> list[str]:
        return [line for line, flag in zip(self.lines, self.body, strict=True) if flag]

    def chrome(self) -> tuple[list[str], list[str], list[str]]:
        """Chrome lines before, among and after the body lines."""
        index = [i for i, flag in enumerate(self.body) if flag]
        if not index:
            return list(self.lines), [], []
        first, last = index[0], index[-1]
        middle = [self.lines[i] for i in range(first, last) if not self.body[i]]
        return self.lines[:first], middle, self.lines[last + 1:]


def _grams(text: str, size: int = 3) -> set[tuple[str, ...]]:
    tokens = normalise(text).split()
    return {tuple(tokens[i:i + size]) for i in range(max(1, len(tokens) - size + 1))}


def label_lines(lines: list[str], truth: str) -> list[bool]:
    """A line is body when it is a paragraph of the truth, or at least half
    of its word trigrams are in the truth; short lines only when whole."""
    paragraphs = {normalise(p) for p in truth.splitlines() if p.strip()}
    truth_grams = _grams(truth)
    flags = []
    for line in lines:
        norm = normalise(line)
        if norm in paragraphs:
            flags.append(True)
        elif len(norm.split()) < 4:
            flags.append(False)
        else:
            grams = _grams(line)
            flags.append(len(grams & truth_grams) >= 0.5 * len(grams))
    return flags


def publisher_of(corpus: str, doc: dict[str, Any]) -> str:
    if doc.get("publisher"):
        return f"{corpus}:{doc['publisher']}"
    from urllib.parse import urlsplit

    import tld
    host = urlsplit(doc["url"]).hostname or doc["id"]
    return f"{corpus}:{tld.get_fld(doc['url'], fail_silently=True) or host}"


def load_docs(root: Path, names: Iterable[str] = NAMES, timings: dict | None = None
              ) -> list[Doc]:
    """Every page with a ground-truth body, through newsbeam's extract stage
    (and, if ``timings`` is given, trafilatura's own ``extract`` too, timed)."""
    import trafilatura

    from schemas import FeedEntry, Page
    from transforms.extract import extract
    from transforms.http.charset import decode
    from transforms.language import detect, new_factory

    factory = None
    docs = []
    spent = {"newsbeam_extract": 0.0, "trafilatura_extract": 0.0, "pages": 0}
    for name in names:
        meta = {}
        for line in open(root / name / "docs.jsonl", encoding="utf-8"):
            row = json.loads(line)
            meta[row["id"]] = row
        for page in load_corpus(name, root):
            row = meta[page.id]
            if not row.get("body"):
                continue
            url = f"http://127.0.0.1:1{page.path}"
            entry = FeedEntry(id=page.id, url=url, feed_url=f"http://127.0.0.1:1/{name}",
                              fetched_at=BASE_TIME, title=None)
            html, _ = decode(page.html)
            started = time.perf_counter()
            article, _ = extract(Page(entry=entry, final_url=url, html=html, http_status=200))
            spent["newsbeam_extract"] += time.perf_counter() - started
            if timings is not None:
                started = time.perf_counter()
                trafilatura.extract(html, include_comments=False)
                spent["trafilatura_extract"] += time.perf_counter() - started
            spent["pages"] += 1
            if article is None:
                continue
            language = row.get("language")
            if not language:
                if factory is None:
                    factory = new_factory()
                language = detect(factory, row["body"])[0]
            lines = article.text.split("\n\n")
            docs.append(Doc(f"{name}/{page.id}", name, publisher_of(name, row), language,
                            row.get("title") or page.title, row["body"], lines,
                            label_lines(lines, row["body"])))
    if timings is not None:
        timings.update(spent)
    return docs


def split_by_publisher(docs: list[Doc], seed: int = SEED) -> dict[str, str]:
    """dev or test per doc key: whole publishers, about half the pages of each
    corpus on each side (groups in seeded order, each to the smaller side)."""
    groups: dict[tuple[str, str], list[Doc]] = defaultdict(list)
    for doc in docs:
        groups[(doc.corpus, doc.publisher)].append(doc)
    order = sorted(groups)
    random.Random(f"{seed}/split").shuffle(order)
    sizes: Counter = Counter()
    side = {}
    for corpus, publisher in order:
        dev, test = sizes[(corpus, "dev")], sizes[(corpus, "test")]
        chosen = "dev" if dev < test or (dev == test and len(side) % 2 == 0) else "test"
        sizes[(corpus, chosen)] += len(groups[(corpus, publisher)])
        for doc in groups[(corpus, publisher)]:
            side[doc.key] = chosen
    return side


# --- the labelled set -----------------------------------------------------------------

@dataclasses.dataclass
class Item:
    id: str
    group: str                  # the story: its source page's key
    level: str                  # "original", a LEVELS or PROBES key, or EXACT_REAL
    text: str
    fetched_at: datetime
    published_at: datetime | None
    language: str
    words: int                  # words of the source page's body lines


@dataclasses.dataclass
class Pair:
    a: str
    b: str
    positive: bool
    kind: str                   # edit level, or the negative's kind


@dataclasses.dataclass
class LabelledSet:
    split: str
    items: dict[str, Item]
    pairs: list[Pair]
    natural: list[tuple[str, str]]  # real same-story pairs found in the pages

    def summary(self) -> dict[str, Any]:
        kinds = Counter(p.kind for p in self.pairs)
        originals = [i for i in self.items.values() if i.level == "original"]
        return {
            "pages": len(originals),
            "items": len(self.items),
            "positives": sum(p.positive for p in self.pairs if p.kind not in PROBES),
            "negatives": sum(not p.positive for p in self.pairs),
            "pairs_by_kind": dict(sorted(kinds.items())),
            "languages": dict(Counter(i.language for i in originals).most_common()),
            "natural_duplicates": self.natural,
        }


def sentences(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE.split(paragraph) if s.strip()]


def reshape(paragraphs: list[str], operations: int, rng: random.Random) -> list[str]:
    """Split a paragraph at a sentence boundary, or merge two neighbours."""
    out = list(paragraphs)
    for _ in range(operations):
        splittable = [i for i, p in enumerate(out) if len(sentences(p)) >= 2]
        if splittable and (rng.random() < 0.5 or len(out) < 2):
            i = rng.choice(splittable)
            parts = sentences(out[i])
            cut = rng.randrange(1, len(parts))
            out[i:i + 1] = [" ".join(parts[:cut]), " ".join(parts[cut:])]
        elif len(out) >= 2:
            i = rng.randrange(len(out) - 1)
            out[i:i + 2] = [out[i] + " " + out[i + 1]]
    return out


def reword(paragraphs: list[str], share: float, vocabulary: list[str],
           rng: random.Random) -> list[str]:
    """Some sentences reworded: about a third of each chosen sentence's words
    replaced (by a word of another article of the language) or deleted,
    until ``share`` of the story's words changed."""
    split = [[s.split() for s in sentences(p)] for p in paragraphs]
    total = sum(len(s) for p in split for s in p)
    target = round(share * total)
    where = [(i, j) for i, p in enumerate(split) for j in range(len(p))]
    rng.shuffle(where)
    changed = 0
    for i, j in where:
        if changed >= target:
            break
        sentence = split[i][j]
        if not sentence:
            continue
        count = min(max(1, round(len(sentence) / 3)), target - changed)
        positions = sorted(rng.sample(range(len(sentence)), min(count, len(sentence))),
                           reverse=True)
        for k in positions:
            if rng.random() < 0.6 and vocabulary:
                sentence[k] = rng.choice(vocabulary)
            else:
                del sentence[k]
            changed += 1
    return [" ".join(" ".join(s) for s in p if s) for p in split]


def new_headline(title: str, vocabulary: list[str], rng: random.Random) -> str:
    tokens = title.split()
    for k in rng.sample(range(len(tokens)), max(1, len(tokens) // 3)) if tokens else []:
        tokens[k] = rng.choice(vocabulary) if vocabulary else tokens[k]
    if rng.random() < 0.4:
        tokens.insert(0, rng.choice(HEADLINE_TAGS))
    return " ".join(tokens)


def teaser(language: str, headline: str) -> str:
    return f"{READ_MORE.get(language, 'Read more:')} {headline}"


class Builder:
    """Makes the copies of one split's pages from that split's pages only."""

    def __init__(self, docs: list[Doc], seed: int):
        self.seed = seed
        self.docs = sorted(docs, key=lambda d: d.key)
        self.by_language: dict[str, list[Doc]] = defaultdict(list)
        for doc in self.docs:
            self.by_language[doc.language].append(doc)
        self.vocabulary = {
            language: sorted({w for d in group for w in _TOKEN.findall(d.truth)})
            for language, group in self.by_language.items()}
        self.local = {  # paragraphs of 20-80 words, for local context
            language: [(d.key, line) for d in group for line in d.body_lines()
                       if 20 <= len(line.split()) <= 80]
            for language, group in self.by_language.items()}
        pages: dict[tuple[str, str], set[str]] = defaultdict(set)
        for doc in self.docs:
            for line in doc.lines:
                pages[(doc.publisher, normalise(line))].add(doc.key)
        self._pages_with = pages

    def site_chrome(self, doc: Doc) -> tuple[list[str], list[str], list[str]]:
        """``doc``'s chrome lines that any page of its site could carry: lines
        under ``LONG_CHROME`` words, and longer ones only when another page of
        the site has them too (a newsletter box, a paywall appeal), never the
        page's own summaries, related-story excerpts or prose the ground
        truth left out, which would put one story's text into another's copy."""
        def static(line: str) -> bool:
            return (len(line.split()) < LONG_CHROME
                    or len(self._pages_with[(doc.publisher, normalise(line))]) > 1)
        return tuple([line for line in part if static(line)]  # type: ignore[return-value]
                     for part in doc.chrome())

    def _others(self, doc: Doc) -> list[Doc]:
        same = [d for d in self.by_language[doc.language] if d.publisher != doc.publisher]
        return same or [d for d in self.docs if d.publisher != doc.publisher]

    def copy(self, doc: Doc, level: str, edit: Edit) -> str:
        rng = random.Random(f"{self.seed}/{doc.key}/{level}")
        vocabulary = self.vocabulary.get(doc.language, [])
        body = doc.body_lines() or list(doc.lines)
        if edit.trim:
            body = body[:len(body) - min(edit.trim, (len(body) - 1) // 2)]
        body = reshape(body, edit.reshape, rng)
        if edit.reword:
            body = reword(body, edit.reword, vocabulary, rng)
        local = [text for key, text in self.local.get(doc.language, []) if key != doc.key]
        for _ in range(edit.insert if local else 0):
            body.insert(rng.randrange(1, len(body) + 1) if len(body) > 1 else 1,
                        rng.choice(local))
        lines: list[str] = []
        top = middle = bottom = []
        if edit.chrome:
            donor = rng.choice(self._others(doc))
            top, middle, bottom = self.site_chrome(donor)
            others = [d.title for d in self._others(doc) if d.key != donor.key]
            teasers = [teaser(doc.language, t) for t in
                       rng.sample(others, min(len(others), rng.randint(1, 3)))]
            middle = middle + teasers
        lines += top
        if edit.headline:
            lines.append(new_headline(doc.title, vocabulary, rng))
        elif edit.chrome:
            lines.append(doc.title)
        if edit.byline:
            by = BY.get(doc.language, "By")
            lines.append(f"{by} {rng.choice(NAMES_FIRST)} {rng.choice(NAMES_LAST)}, "
                         f"{rng.choice(AGENCIES)}")
            body = [f"{rng.choice(CITIES)} ({rng.choice(AGENCIES)}) – {body[0]}"] + body[1:]
        for line in middle:
            body.insert(rng.randrange(1, len(body) + 1) if len(body) > 1 else 1, line)
        return "\n\n".join(lines + body + bottom)


def natural_duplicates(docs: list[Doc], at_least: float = 0.3) -> list[tuple[str, str, float]]:
    """Real pages whose bodies share word 5-shingles (Jaccard >= ``at_least``)."""
    shingled = {d.key: stories.shingles(stories.words(d.truth), 5) for d in docs}
    found = []
    for _language, group in _by_language(docs).items():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                sa, sb = shingled[a.key], shingled[b.key]
                if sa and sb:
                    jaccard = len(sa & sb) / len(sa | sb)
                    if jaccard >= at_least:
                        found.append((a.key, b.key, round(jaccard, 3)))
    return found


def _by_language(docs: list[Doc]) -> dict[str, list[Doc]]:
    groups: dict[str, list[Doc]] = defaultdict(list)
    for doc in sorted(docs, key=lambda d: d.key):
        groups[doc.language].append(doc)
    return groups


def _tfidf(docs: list[Doc]) -> dict[str, dict[str, float]]:
    counts = {d.key: Counter(stories.words(d.truth)) for d in docs}
    df = Counter(w for c in counts.values() for w in c)
    vectors = {}
    for key, c in counts.items():
        vector = {w: n * math.log(len(docs) / df[w]) for w, n in c.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vectors[key] = {w: v / norm for w, v in vector.items()}
    return vectors


def nearest_pairs(docs: list[Doc], k: int = NEAREST) -> dict[tuple[str, str], str]:
    """Negatives: same-publisher pairs, then each page's ``k`` nearest pages of
    its language by TF-IDF cosine (bodies) and by word 3-shingle Jaccard
    (the whole extracted text, chrome included)."""
    pairs: dict[tuple[str, str], str] = {}
    by_publisher: dict[str, list[str]] = defaultdict(list)
    for doc in sorted(docs, key=lambda d: d.key):
        by_publisher[doc.publisher].append(doc.key)
    for keys in by_publisher.values():
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                pairs.setdefault((a, b), "same-publisher")
    for _language, group in _by_language(docs).items():
        vectors = _tfidf(group)
        grams = {d.key: stories.shingles(stories.words(d.text), 3) for d in group}
        for doc in group:
            others = [d for d in group if d.key != doc.key]
            cosine = sorted(others, key=lambda d: (-sum(
                v * vectors[d.key].get(w, 0.0) for w, v in vectors[doc.key].items()), d.key))
            jaccard = sorted(others, key=lambda d: (-len(grams[doc.key] & grams[d.key]) / max(
                1, len(grams[doc.key] | grams[d.key])), d.key))
            for kind, ranked in (("nearest-tfidf", cosine), ("nearest-jaccard", jaccard)):
                for other in ranked[:k]:
                    pairs.setdefault(tuple(sorted((doc.key, other.key))), kind)
    return pairs


def build(docs: list[Doc], split: str, seed: int = SEED, levels: dict[str, Edit] = LEVELS,
          probes: dict[str, Edit] = PROBES) -> LabelledSet:
    """The labelled set of one split's pages."""
    docs = sorted(docs, key=lambda d: d.key)
    builder = Builder(docs, seed)
    natural = natural_duplicates(docs)
    same_story = {}
    for a, b, _ in natural:  # a real later copy belongs to the first page's story
        same_story.setdefault(b, same_story.get(a, a))
    items: dict[str, Item] = {}
    pairs: list[Pair] = []
    for doc in docs:
        rng = random.Random(f"{seed}/{doc.key}/time")
        fetched = BASE_TIME + timedelta(minutes=rng.randrange(30 * 24 * 60))
        group = same_story.get(doc.key, doc.key)
        if group != doc.key:  # the real copy comes a day after the first
            fetched = items[group].fetched_at + timedelta(days=1)
        words = sum(len(line.split()) for line in doc.body_lines())
        items[doc.key] = Item(doc.key, group, "original", doc.text, fetched,
                              fetched - timedelta(minutes=rng.randrange(120)), doc.language,
                              words)
        if group != doc.key:
            pairs.append(Pair(group, doc.key, True, EXACT_REAL))
            continue
        for level, edit in {**levels, **probes}.items():
            copy_id = f"{doc.key}#{level}"
            at = fetched + timedelta(minutes=rng.randrange(10, 36 * 60))
            items[copy_id] = Item(copy_id, doc.key, level, builder.copy(doc, level, edit), at,
                                  at - timedelta(minutes=rng.randrange(120)), doc.language, words)
            pairs.append(Pair(doc.key, copy_id, True, level))
    for (a, b), kind in sorted(nearest_pairs(docs).items()):
        if items[a].group != items[b].group:
            pairs.append(Pair(a, b, False, kind))
    return LabelledSet(split, items, pairs, [(a, b) for a, b, _ in natural])


# --- scoring --------------------------------------------------------------------------

@contextlib.contextmanager
def parameters(threshold: float, shingle_words: int, min_prose_words: int) -> Iterator[None]:
    """The library's constants, set for a while (``shingles`` binds its size
    as a default argument at import, so that default is set too)."""
    saved = (stories.THRESHOLD, stories.SHINGLE_WORDS, stories.MIN_PROSE_WORDS,
             stories.shingles.__defaults__)
    stories.THRESHOLD, stories.SHINGLE_WORDS = threshold, shingle_words
    stories.MIN_PROSE_WORDS, stories.shingles.__defaults__ = min_prose_words, (shingle_words,)
    try:
        probe = stories.shingles([str(i) for i in range(12)])
        assert len(next(iter(probe)).split()) == shingle_words, "shingle size not applied"
        yield
    finally:
        (stories.THRESHOLD, stories.SHINGLE_WORDS, stories.MIN_PROSE_WORDS,
         stories.shingles.__defaults__) = saved


def fingerprints(items: Iterable[Item]) -> dict[str, stories.Fingerprint]:
    return {i.id: stories.fingerprint(i.id, i.text, i.fetched_at, i.published_at)
            for i in items}


def bands(threshold: float) -> tuple[int, int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=stories.NUM_PERM)
    return lsh.b, lsh.r


class PairScores:
    """Per labelled pair: exact match, per-permutation equality, similarity;
    decisions for any threshold (exact, or an LSH band collision and an
    estimated similarity at least the threshold, as ``StoryIndex.match``)."""

    def __init__(self, pairs: list[Pair], prints: dict[str, stories.Fingerprint]):
        self.pairs = pairs
        sig = {k: stories.packed(p.signature) for k, p in prints.items()}
        self.equal = np.array([sig[p.a] == sig[p.b] for p in pairs]).reshape(
            len(pairs), stories.NUM_PERM)
        self.exact = np.array([prints[p.a].exact == prints[p.b].exact for p in pairs])
        self.similarity = self.equal.mean(axis=1)
        self.positive = np.array([p.positive for p in pairs])
        self.kind = np.array([p.kind for p in pairs])

    def decide(self, threshold: float) -> np.ndarray:
        b, r = bands(threshold)
        collide = self.equal[:, :b * r].reshape(len(self.pairs), b, r).all(axis=2).any(axis=1)
        return self.exact | (collide & (self.similarity >= threshold))

    def metrics(self, threshold: float, probes: bool = False) -> dict[str, Any]:
        same = self.decide(threshold)
        scored = ~np.isin(self.kind, list(PROBES))
        tp = int((same & self.positive & scored).sum())
        fn = int((~same & self.positive & scored).sum())
        fp = int((same & ~self.positive).sum())
        tn = int((~same & ~self.positive).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out: dict[str, Any] = {"precision": precision, "recall": recall, "f1": f1,
                               "tp": tp, "fn": fn, "fp": fp, "tn": tn}
        if not probes:
            return out
        out["recall_by_level"] = {
            kind: round(float(same[self.kind == kind].mean()), 4)
            for kind in (EXACT_REAL, *LEVELS, *PROBES) if (self.kind == kind).any()}
        out["false_positives_by_kind"] = {
            str(kind): f"{int((same & (self.kind == kind)).sum())}/{int((self.kind == kind).sum())}"
            for kind in sorted(set(self.kind[~self.positive]))}
        out["false_positive_pairs"] = [
            (p.a, p.b, round(float(s), 3)) for p, s, d in
            zip(self.pairs, self.similarity, same, strict=True) if d and not p.positive]
        out["similarity"] = {
            str(kind): _quantiles(self.similarity[self.kind == kind])
            for kind in (EXACT_REAL, *LEVELS, *PROBES, *sorted(set(self.kind[~self.positive])))
            if (self.kind == kind).any()}
        return out


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {"min": round(float(values.min()), 3), "median": round(float(np.median(values)), 3),
            "p90": round(float(np.quantile(values, 0.9)), 3),
            "max": round(float(values.max()), 3)}


class AllPairs:
    """Every pair of a split's items (probes left out), positive when both
    tell one story: the base rate the index meets, where nearly all pairs
    are different stories (copies of two stories in one site's chrome too)."""

    def __init__(self, items: list[Item], prints: dict[str, stories.Fingerprint]):
        self.keys = [i.id for i in items]
        self.sig = np.array([stories.packed(prints[k].signature) for k in self.keys])
        counts = np.zeros((len(items), len(items)), dtype=np.uint8)
        for column in self.sig.T:
            counts += column[:, None] == column[None, :]
        self.first, self.second = np.triu_indices(len(items), 1)
        self.similarity = counts[self.first, self.second] / stories.NUM_PERM
        group = {g: n for n, g in enumerate(sorted({i.group for i in items}))}
        groups = np.array([group[i.group] for i in items])
        self.same = groups[self.first] == groups[self.second]
        exact = {e: n for n, e in enumerate(sorted({prints[k].exact for k in self.keys}))}
        exacts = np.array([exact[prints[k].exact] for k in self.keys])
        self.exact = exacts[self.first] == exacts[self.second]
        different = self.similarity[~self.same]
        self.max_different = float(different.max()) if len(different) else 0.0

    def decide(self, threshold: float) -> np.ndarray:
        b, r = bands(threshold)
        near = np.nonzero(self.similarity >= threshold)[0]
        equal = self.sig[self.first[near]] == self.sig[self.second[near]]
        collide = equal[:, :b * r].reshape(len(near), b, r).all(axis=2).any(axis=1)
        decided = self.exact.copy()
        decided[near[collide]] = True
        return decided

    def candidate_rate(self, threshold: float) -> float:
        """The share of different-story pairs LSH offers as candidates: each
        query's similarity checks, per member of the index."""
        b, r = bands(threshold)
        different = np.nonzero(~self.same)[0]
        hits = 0
        for chunk in np.array_split(different, max(1, len(different) // 50_000)):
            equal = self.sig[self.first[chunk]] == self.sig[self.second[chunk]]
            hits += int(equal[:, :b * r].reshape(len(chunk), b, r).all(axis=2).any(axis=1).sum())
        return hits / max(1, len(different))

    def metrics(self, threshold: float, examples: int = 0) -> dict[str, Any]:
        decided = self.decide(threshold)
        tp = int((decided & self.same).sum())
        fp = int((decided & ~self.same).sum())
        fn = int((~decided & self.same).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out: dict[str, Any] = {"all_precision": precision, "all_recall": recall, "all_f1": f1,
                               "all_fp": fp, "all_pairs": len(self.same),
                               "all_positive_pairs": int(self.same.sum()),
                               "max_cross_story_similarity": self.max_different}
        if examples:
            wrong = np.nonzero(decided & ~self.same)[0][:examples]
            out["all_fp_examples"] = [
                (self.keys[self.first[n]], self.keys[self.second[n]],
                 round(float(self.similarity[n]), 3)) for n in wrong]
        return out


def recall_by_length(pairs: list[Pair], items: dict[str, Item], same: np.ndarray
                     ) -> dict[str, str]:
    buckets: dict[str, list[bool]] = defaultdict(list)
    for pair, decided in zip(pairs, same, strict=True):
        if pair.positive and pair.kind in LEVELS:
            words = items[pair.a].words
            bucket = "<150" if words < 150 else "150-400" if words < 400 else ">=400"
            buckets[bucket].append(bool(decided))
    return {b: f"{sum(v)}/{len(v)} = {sum(v) / len(v):.3f}"
            for b, v in sorted(buckets.items())}


def recall_by_language(pairs: list[Pair], items: dict[str, Item], same: np.ndarray
                       ) -> dict[str, str]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for pair, decided in zip(pairs, same, strict=True):
        if pair.positive and pair.kind in LEVELS:
            groups[items[pair.a].language].append(bool(decided))
    return {k: f"{sum(v)}/{len(v)}" for k, v in sorted(groups.items(), key=lambda x: -len(x[1]))}


def sweep(labelled: LabelledSet) -> list[dict[str, Any]]:
    """Every grid point, scored on ``labelled`` (dev)."""
    rows = []
    items = [i for i in labelled.items.values() if i.level not in PROBES]
    pairs = [p for p in labelled.pairs if p.kind not in PROBES]
    for shingle_words in GRID_SHINGLE:
        for min_prose in GRID_MIN_PROSE:
            with parameters(DEFAULTS[0], shingle_words, min_prose):
                prints = fingerprints(items)
            scores, every = PairScores(pairs, prints), AllPairs(items, prints)
            for threshold in GRID_THRESHOLD:
                rows.append({"threshold": threshold, "shingle_words": shingle_words,
                             "min_prose_words": min_prose, **scores.metrics(threshold),
                             **every.metrics(threshold)})
    return rows


def _rank(row: dict[str, Any]) -> tuple[float, ...]:
    """Higher F1, then higher precision, then nearer the defaults."""
    return (round(row["f1"], 6), round(row["precision"], 6),
            -abs(row["threshold"] - DEFAULTS[0]), -abs(row["shingle_words"] - DEFAULTS[1]),
            -abs(row["min_prose_words"] - DEFAULTS[2]))


def _pick(eligible: list[dict[str, Any]], labelled: LabelledSet
          ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The best eligible row that also keeps B-cubed precision >= MIN_PRECISION
    in ``StoryIndex.assign`` on ``labelled``; and the rows checked."""
    items = [i for i in labelled.items.values() if i.level not in PROBES]
    checked = []
    for row in sorted(eligible, key=_rank, reverse=True):
        params = (row["threshold"], row["shingle_words"], row["min_prose_words"])
        with parameters(*params):
            found = clusters(labelled, fingerprints(items), thorough=False)
        checked.append({"threshold": params[0], "shingle_words": params[1],
                        "min_prose_words": params[2], "f1": row["f1"],
                        "bcubed_precision": found["bcubed_precision"],
                        "false_merges": found["false_merges"]})
        if found["bcubed_precision"] >= MIN_PRECISION:
            return row, checked
    raise SystemExit("no grid point reaches the precision floors on dev")


def _precise(row: dict[str, Any]) -> bool:
    return row["precision"] >= MIN_PRECISION and row["all_precision"] >= MIN_PRECISION


def choose_max_f1(rows: list[dict[str, Any]], labelled: LabelledSet
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The highest dev F1 (labelled pairs) with precision >= MIN_PRECISION on
    the labelled pairs, over all pairs of the split, and at the cluster level
    (B-cubed, ``StoryIndex.assign``): a false merge hides a distinct story."""
    return _pick([r for r in rows if _precise(r)], labelled)


def choose_with_margin(rows: list[dict[str, Any]], labelled: LabelledSet
                       ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """As :func:`choose_max_f1`, and the threshold at least ``MARGIN`` above
    the most similar pair of different stories in dev (every pair of the
    split, at that shingle size and prose filter), so that precision does
    not rest on a cliff that the next, larger set of stories can cross."""
    return _pick([r for r in rows if _precise(r) and r["threshold"]
                  >= r["max_cross_story_similarity"] + MARGIN - 1e-9], labelled)


def clusters(labelled: LabelledSet, prints: dict[str, stories.Fingerprint],
             thorough: bool = True) -> dict[str, Any]:
    """``StoryIndex.assign`` over the split's items (probes left out); with
    ``thorough``, also in shuffled orders and over two runs."""
    items = {k: i for k, i in labelled.items.items() if i.level not in PROBES}
    ordered = [prints[k] for k in sorted(items)]
    started = time.perf_counter()
    assigned = {a.article_id: a for a in stories.StoryIndex().assign(ordered, 1.0)}
    seconds = time.perf_counter() - started
    same_any_order = True
    for attempt in range(3 if thorough else 0):
        shuffled = list(ordered)
        random.Random(f"{SEED}/shuffle/{attempt}").shuffle(shuffled)
        again = {a.article_id: a for a in stories.StoryIndex().assign(shuffled, 1.0)}
        same_any_order &= again == assigned
    story = {k: a.story_id for k, a in assigned.items()}
    truth: dict[str, list[str]] = defaultdict(list)
    predicted: dict[str, list[str]] = defaultdict(list)
    for key, item in items.items():
        truth[item.group].append(key)
        predicted[story[key]].append(key)
    precision = statistics.fmean(
        sum(items[o].group == items[k].group for o in predicted[story[k]])
        / len(predicted[story[k]]) for k in items)
    recall = statistics.fmean(
        sum(story[o] == story[k] for o in truth[items[k].group]) / len(truth[items[k].group])
        for k in items)
    first = {g: min(keys, key=lambda k: prints[k].order) for g, keys in truth.items()}
    syndicated = {g: keys for g, keys in truth.items() if len(keys) > 1}
    # Groups whose copies up to each level all sit in the first copy's story,
    # a story that holds nothing else.
    ranks = {"original": -1, EXACT_REAL: -1, **{level: n for n, level in enumerate(LEVELS)}}
    whole_up_to = {}
    for n, level in enumerate(LEVELS):
        whole = [g for g, keys in syndicated.items()
                 if {story[k] for k in keys if ranks[items[k].level] <= n} == {first[g]}
                 and all(items[o].group == g for o in predicted[first[g]])]
        whole_up_to[level] = len(whole)
    merges = [sorted({items[k].group for k in keys}) for s, keys in sorted(predicted.items())
              if len({items[k].group for k in keys}) > 1]
    by_level: dict[str, list[bool]] = defaultdict(list)
    for key, item in items.items():
        if item.level != "original":
            by_level[item.level].append(story[key] == first[item.group])
        elif item.group != key:
            by_level[EXACT_REAL].append(story[key] == first[item.group])
    return {
        "items": len(items), "stories_true": len(truth), "stories_found": len(predicted),
        "bcubed_precision": round(precision, 4), "bcubed_recall": round(recall, 4),
        "syndicated_groups": len(syndicated),
        "groups_whole_up_to_level": whole_up_to,
        "right_first_copy": sum(story[first[g]] == first[g] for g in syndicated),
        "false_merges": len(merges), "merged_groups": merges[:20],
        "copies_in_first_copys_story_by_level": {
            level: f"{sum(v)}/{len(v)} = {sum(v) / len(v):.3f}" for level, v in by_level.items()},
        "same_in_any_input_order": same_any_order,
        "same_across_two_runs": two_runs(items, prints, assigned) if thorough else None,
        "assign_ms_per_article": round(1000 * seconds / len(items), 4),
    }


def two_runs(items: dict[str, Item], prints: dict[str, stories.Fingerprint],
             one_batch: dict[str, stories.Assignment]) -> float:
    """Originals in one run, copies in the next from the saved members:
    the share of articles given the same story as in one batch."""
    first = [prints[k] for k, i in items.items() if i.level == "original" and i.group == k]
    index = stories.StoryIndex()
    assigned = {a.article_id: a for a in index.assign(first, 1.0)}
    saved = [json.loads(json.dumps(m.to_json())) for m in index.bounded(1.0, 3600, 10**6)]
    later = stories.StoryIndex(stories.Member.from_json(r) for r in saved)
    rest = [prints[k] for k in items if k not in assigned]
    assigned.update({a.article_id: a for a in later.assign(rest, 2.0)})
    return round(statistics.fmean(assigned[k] == one_batch[k] for k in one_batch), 4)


def evaluate(labelled: LabelledSet, params: tuple[float, int, int]) -> dict[str, Any]:
    threshold, shingle_words, min_prose = params
    with parameters(threshold, shingle_words, min_prose):
        prints = fingerprints(labelled.items.values())
        scores = PairScores(labelled.pairs, prints)
        result = scores.metrics(threshold, probes=True)
        same = scores.decide(threshold)
        result["recall_by_length"] = recall_by_length(labelled.pairs, labelled.items, same)
        result["recall_by_language"] = recall_by_language(labelled.pairs, labelled.items, same)
        scored = [i for i in labelled.items.values() if i.level not in PROBES]
        every = AllPairs(scored, prints)
        result.update(every.metrics(threshold, examples=20))
        result["lsh_candidate_rate"] = every.candidate_rate(threshold)
        result["clusters"] = clusters(labelled, prints)
    return result


# --- cost ----------------------------------------------------------------------------

def cost(sets: list[LabelledSet], choices: dict[str, tuple[float, int, int]],
         repeats: int = 3) -> dict[str, dict[str, float]]:
    """Mean ms per article of ``fingerprint`` and of ``assign`` (one index,
    every item of both splits, probes left out), per parameter set; each
    measured ``repeats`` times, interleaved, the median kept (the machine
    is shared)."""
    items = [i for s in sets for i in s.items.values() if i.level not in PROBES]
    seen: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _ in range(repeats):
        for name, params in choices.items():
            with parameters(*params):
                started = time.perf_counter()
                prints = fingerprints(items)
                fingerprint_seconds = time.perf_counter() - started
                started = time.perf_counter()
                for _assignment in stories.StoryIndex().assign(prints.values(), 1.0):
                    pass
                seen[name].append((fingerprint_seconds, time.perf_counter() - started))
    return {name: {"articles": len(items),
                   "fingerprint_ms": round(1000 * statistics.median(f for f, _ in runs)
                                           / len(items), 4),
                   "assign_ms": round(1000 * statistics.median(a for _, a in runs)
                                      / len(items), 4)}
            for name, runs in seen.items()}


# --- report --------------------------------------------------------------------------

def _row(name: str, m: dict[str, Any]) -> str:
    return (f"{name:30s} {m['precision']:7.4f} {m['recall']:7.4f} {m['f1']:7.4f} "
            f"{m['tp']:5d} {m['fn']:5d} {m['fp']:4d} {m['tn']:5d}   "
            f"{m['all_precision']:7.4f} {m['all_recall']:7.4f} {m['all_f1']:7.4f} "
            f"{m['all_fp']:5d}/{m['all_pairs'] - m['all_positive_pairs']}")


def landscape(rows: list[dict[str, Any]], min_prose: int) -> list[str]:
    """Dev F1 per shingle size and threshold at one MIN_PROSE_WORDS; '*'
    where both precisions reach MIN_PRECISION."""
    out = [f"dev F1 (labelled) at MIN_PROSE_WORDS={min_prose}; * = precision >= "
           f"{MIN_PRECISION} on labelled and on all pairs",
           "  k \\ T " + " ".join(f"{t:6.2f}" for t in GRID_THRESHOLD)]
    for k in GRID_SHINGLE:
        cells = []
        for t in GRID_THRESHOLD:
            row = next(r for r in rows if r["shingle_words"] == k and r["threshold"] == t
                       and r["min_prose_words"] == min_prose)
            ok = row["precision"] >= MIN_PRECISION and row["all_precision"] >= MIN_PRECISION
            cells.append(f"{row['f1']:5.3f}{'*' if ok else ' '}")
        out.append(f"  {k:5d}  " + " ".join(cells))
    return out


def render(report: dict[str, Any]) -> str:
    out = []
    for split, summary in report["set"].items():
        out.append(f"{split}: {summary['pages']} pages, {summary['items']} items, "
                   f"{summary['positives']} positive / {summary['negatives']} negative "
                   f"labelled pairs; {summary['pairs_by_kind']}")
        out.append(f"  languages {summary['languages']}")
    out.append(f"natural same-story pairs among the real pages: {report['natural_duplicates']}")
    for name, p in report["choices"].items():
        if name == "defaults":
            continue
        row = report["chosen_rows"][name]
        rule = ("max F1" if name == "max-F1" else
                f"max F1 with THRESHOLD >= dev's most similar different stories + {MARGIN}")
        out.append(f"\n{name} (chosen on dev: {rule}; precision >= {MIN_PRECISION} on labelled "
                   f"pairs, all pairs and B-cubed): THRESHOLD={p['threshold']} "
                   f"SHINGLE_WORDS={p['shingle_words']} MIN_PROSE_WORDS={p['min_prose_words']}"
                   f"  (dev F1 {row['f1']:.4f}, most similar different stories "
                   f"{row['max_cross_story_similarity']:.3f})")
        for checked in report["checked_at_cluster_level"][name]:
            out.append(f"  checked: T={checked['threshold']:.2f} k={checked['shingle_words']} "
                       f"m={checked['min_prose_words']:2d} F1={checked['f1']:.4f} B-cubed P="
                       f"{checked['bcubed_precision']:.4f} false merges {checked['false_merges']}")
    out.append("\ntop of the dev sweep (precision >= 0.99 on labelled and all pairs):")
    for row in report["sweep_top"]:
        out.append(f"  T={row['threshold']:.2f} k={row['shingle_words']} "
                   f"m={row['min_prose_words']:2d}  P={row['precision']:.4f} "
                   f"R={row['recall']:.4f} F1={row['f1']:.4f} fp={row['fp']}  all pairs "
                   f"P={row['all_precision']:.4f} fp={row['all_fp']}  max different "
                   f"{row['max_cross_story_similarity']:.3f}")
    shown = {DEFAULTS[2]}
    for p in report["choices"].values():
        if p["min_prose_words"] not in shown or p is report["choices"]["defaults"]:
            out += landscape(report["sweep"], p["min_prose_words"])
            shown.add(p["min_prose_words"])
    out.append("most similar different stories on dev (all pairs) per SHINGLE_WORDS and "
               "MIN_PROSE_WORDS:")
    for k in GRID_SHINGLE:
        out.append(f"  k={k}: " + "  ".join(
            f"m={m}: {next(r for r in report['sweep'] if r['shingle_words'] == k and r['min_prose_words'] == m)['max_cross_story_similarity']:.3f}"  # noqa: E501
            for m in GRID_MIN_PROSE))
    out.append(f"\n{'':30s} {'labelled pairs':^47s}   {'all pairs of the split':^40s}")
    out.append(f"{'':30s} {'P':>7s} {'R':>7s} {'F1':>7s} {'tp':>5s} {'fn':>5s} {'fp':>4s} "
               f"{'tn':>5s}   {'P':>7s} {'R':>7s} {'F1':>7s} {'fp/negatives':>12s}")
    for name, result in report["results"].items():
        out.append(_row(name, result))
    levels = [EXACT_REAL, *LEVELS, *PROBES]
    out.append("\nrecall per edit level (pairs original/copy; the only-* probes are single "
               "edits, not in P/R/F1)")
    out.append(f"{'':30s} " + " ".join(f"{k[:11]:>11s}" for k in levels))
    for name, result in report["results"].items():
        rec = result["recall_by_level"]
        out.append(f"{name:30s} " + " ".join(
            f"{rec[k]:11.3f}" if k in rec else f"{'-':>11s}" for k in levels))
    out.append("\nrecall by body length (words) and false positives by negative kind")
    for name, result in report["results"].items():
        out.append(f"{name:30s} {result['recall_by_length']}  "
                   f"{result['false_positives_by_kind']}")
    out.append("\nsimilarity per kind (median / max)")
    for name, result in report["results"].items():
        out.append(f"{name:30s} " + ", ".join(
            f"{k} {v['median']:.2f}/{v['max']:.2f}" for k, v in result["similarity"].items()))
    out.append("\nclusters (StoryIndex.assign over each split's items, probes left out)")
    for name, result in report["results"].items():
        c = result["clusters"]
        whole = ", ".join(f"{k} {v}" for k, v in c["groups_whole_up_to_level"].items())
        out.append(f"{name:30s} {c['syndicated_groups']} groups; whole, with the right first "
                   f"copy, counting copies up to: {whole}")
        out.append(f"{'':30s} false merges {c['false_merges']}, B-cubed P/R "
                   f"{c['bcubed_precision']:.4f}/{c['bcubed_recall']:.4f}, stories "
                   f"{c['stories_found']} found / {c['stories_true']} true, same in any input "
                   f"order {c['same_in_any_input_order']}, same over two runs "
                   f"{c['same_across_two_runs']:.4f}")
    out.append("\nLSH candidates (different-story pairs offered for a similarity check)")
    for name, result in report["results"].items():
        rate = result["lsh_candidate_rate"]
        out.append(f"{name:30s} {rate:.5f} of pairs: about {rate * 200_000:,.0f} checks per "
                   f"article against a full index of 200,000 members")
    c = report["cost"]
    out.append(f"\ncost per article (mean over {next(iter(c['per_choice'].values()))['articles']}"
               f" articles, median of 3 interleaved runs); same run, {c['pages']} real pages: "
               f"newsbeam's extract stage {c['newsbeam_extract_ms']:.2f} ms, trafilatura.extract "
               f"{c['trafilatura_extract_ms']:.2f} ms per page")
    for name, row in c["per_choice"].items():
        out.append(f"  {name:9s} fingerprint {row['fingerprint_ms']:.3f} ms, assign "
                   f"{row['assign_ms']:.3f} ms; together {row['vs_trafilatura_extract']:.3f} x "
                   f"trafilatura.extract, {row['vs_newsbeam_extract_stage']:.3f} x the extract "
                   f"stage")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/bench/stories.json")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    sandbox()
    root = corpus_root()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    docs = load_docs(root, NAMES, timings)
    side = split_by_publisher(docs, args.seed)
    sets = {split: build([d for d in docs if side[d.key] == split], split, args.seed)
            for split in ("dev", "test")}
    phases = {"load_and_extract": time.perf_counter() - started}
    rows = sweep(sets["dev"])
    phases["sweep"] = time.perf_counter() - started - sum(phases.values())
    max_f1, checked_max_f1 = choose_max_f1(rows, sets["dev"])
    margin, checked_margin = choose_with_margin(rows, sets["dev"])
    phases["choose"] = time.perf_counter() - started - sum(phases.values())
    choices = {"defaults": DEFAULTS}
    for name, row in (("max-F1", max_f1), ("margin", margin)):
        choices[name] = (row["threshold"], row["shingle_words"], row["min_prose_words"])
    results = {}
    for name, p in choices.items():
        for split in ("dev", "test"):
            results[f"{split} {name} T={p[0]} k={p[1]} m={p[2]}"] = evaluate(sets[split], p)
    phases["evaluate"] = time.perf_counter() - started - sum(phases.values())
    costs = cost(list(sets.values()), choices)
    phases["cost"] = time.perf_counter() - started - sum(phases.values())
    pages = timings["pages"]
    newsbeam_ms = 1000 * timings["newsbeam_extract"] / pages
    trafilatura_ms = 1000 * timings["trafilatura_extract"] / pages
    for row in costs.values():
        per_article = row["fingerprint_ms"] + row["assign_ms"]
        row["vs_trafilatura_extract"] = round(per_article / trafilatura_ms, 4)
        row["vs_newsbeam_extract_stage"] = round(per_article / newsbeam_ms, 4)
    report = {
        "corpora": str(root), "seed": args.seed, "defaults": DEFAULTS,
        "set": {split: s.summary() for split, s in sets.items()},
        "levels": {k: dataclasses.asdict(v) for k, v in LEVELS.items()},
        "probes": {k: dataclasses.asdict(v) for k, v in PROBES.items()},
        "natural_duplicates": natural_duplicates(docs),
        "choices": {name: dict(zip(("threshold", "shingle_words", "min_prose_words"), p,
                                   strict=True)) for name, p in choices.items()},
        "chosen_rows": {"max-F1": max_f1, "margin": margin},
        "checked_at_cluster_level": {"max-F1": checked_max_f1, "margin": checked_margin},
        "sweep_top": sorted((r for r in rows if _precise(r)), key=_rank, reverse=True)[:12],
        "sweep": rows,
        "results": results,
        "cost": {"pages": pages, "per_choice": costs,
                 "newsbeam_extract_ms": round(newsbeam_ms, 3),
                 "trafilatura_extract_ms": round(trafilatura_ms, 3)},
        "seconds": round(time.perf_counter() - started, 1),
        "phases": {k: round(v, 1) for k, v in phases.items()},
        "machine": machine(),
    }
    print(f"corpora: {root} | seed {args.seed} | {report['seconds']} s {report['phases']}")
    if root.resolve() == CORPORA.resolve():
        print("NOTE: fixture pages only (../shared/corpora is missing): about 30 pages per "
              "split, too few to choose constants by; the figures are indicative only.")
    print(render(report))
    write_json(Path(args.out), report)


if __name__ == "__main__":
    main()
