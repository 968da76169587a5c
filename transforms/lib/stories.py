"""Story identity: which articles tell the same story, deterministically.

The same story reaches the lake through many URLs: AMP and print versions,
category paths, a wire story on twenty sites, republished with small edits.
Two tests, on the article's prose (paragraphs of twenty words or more, so
that site chrome around it does not count), decide:

- **exact**: the same normalised prose (NFKC, case-folded, words only);
- **near**: MinHash over word 3-shingles (datasketch, 128 permutations,
  seed 1; characters for scripts without spaces), candidates from banded
  LSH, accepted when the estimated Jaccard similarity is at least
  ``THRESHOLD`` (0.35).  MinHash's estimate has a standard
  error of about 1/sqrt(128) = 0.09 per pair; LSH's bands (r x b chosen by
  datasketch for the threshold) miss a pair at the threshold with a
  probability of a few percent and almost never one far above it.

Articles are assigned in a total order (fetch time, then publication time,
then id), so the first copy of a story is the same whatever the runner,
the number of workers or the order of arrival.  The first copy's id is the
story's id; every later copy points at it.  :class:`StoryIndex` keeps the
stories of earlier runs, bounded by age and size, so a story republished
tomorrow still finds the one it repeats.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import unicodedata
from datetime import datetime
from typing import Any, Iterable, Iterator

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

NUM_PERM = 128
SEED = 1
# datasketch's permutation scheme, pinned: hash values carry no trace of the
# scheme that made them, and the index stores hash values between runs.
SCHEME = "affine32"
# Chosen on the dev half of a labelled set (bench/stories.py; README,
# "Scheduled runs"): the highest F1 with precision 0.99 or more on labelled
# pairs, on all pairs and per cluster, and the threshold at least 0.1 above
# the most similar pair of different stories.
SHINGLE_WORDS = 3
THRESHOLD = 0.35
MIN_PROSE_WORDS = 20
# A word, or a single character of a script written without spaces (Chinese,
# Japanese kana and kanji), where a "word" run would be a whole clause.
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|"
                   r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+",
                   re.UNICODE)
_FAR_FUTURE = "9999"


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What story matching needs of one article; small, unlike its text."""

    article_id: str
    order: tuple[str, str, str]  # (fetched_at, published_at, id), ISO strings
    exact: str                   # SHA-256 of the normalised prose
    signature: tuple[int, ...]   # MinHash hash values (NUM_PERM of them)


@dataclasses.dataclass(frozen=True)
class Assignment:
    article_id: str
    story_id: str
    duplicate_of: str | None


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def prose(text: str) -> list[str]:
    """The words of the paragraphs that read like prose (all, if none do)."""
    paragraphs = [words(p) for p in text.split("\n\n")]
    long = [p for p in paragraphs if len(p) >= MIN_PROSE_WORDS]
    return [w for p in (long or paragraphs) for w in p]


def shingles(tokens: list[str], size: int | None = None) -> set[bytes]:
    size = SHINGLE_WORDS if size is None else size
    if len(tokens) < size:
        return {" ".join(tokens).encode("utf-8")} if tokens else set()
    return {" ".join(tokens[i:i + size]).encode("utf-8")
            for i in range(len(tokens) - size + 1)}


def minhash(tokens: list[str]) -> MinHash:
    sketch = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    sketch.update_batch(sorted(shingles(tokens)))
    return sketch


def fingerprint(article_id: str, text: str, fetched_at: datetime,
                published_at: datetime | None) -> Fingerprint:
    tokens = prose(text)
    exact = hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest()
    order = (fetched_at.isoformat(), published_at.isoformat() if published_at else _FAR_FUTURE,
             article_id)
    return Fingerprint(article_id, order, exact, tuple(int(v) for v in minhash(tokens).hashvalues))


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """MinHash estimate of the Jaccard similarity of two signatures."""
    return float(np.count_nonzero(np.asarray(a) == np.asarray(b))) / NUM_PERM


def _lean(signature: tuple[int, ...]) -> LeanMinHash:
    return LeanMinHash(seed=SEED, hashvalues=np.asarray(signature, dtype=np.uint32),
                       scheme=SCHEME)


@dataclasses.dataclass
class Member:
    """One known article: its story, its fingerprint, when it was last seen."""

    article_id: str
    story_id: str
    exact: str
    signature: tuple[int, ...]
    seen: float  # epoch seconds of the run (or window) that saw it last

    def to_json(self) -> dict[str, Any]:
        raw = np.asarray(self.signature, dtype=np.uint32).tobytes()
        return {"id": self.article_id, "story": self.story_id, "exact": self.exact,
                "sig": base64.b64encode(raw).decode("ascii"), "seen": self.seen}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Member:
        raw = np.frombuffer(base64.b64decode(row["sig"]), dtype=np.uint32)
        return cls(row["id"], row["story"], row["exact"], tuple(int(v) for v in raw),
                   float(row["seen"]))


class StoryIndex:
    """The stories seen so far: members by exact prose and in a MinHash LSH."""

    def __init__(self, members: Iterable[Member] = ()):
        self._lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        self.members: dict[str, Member] = {}
        self._by_exact: dict[str, str] = {}
        # Stories of earlier runs order before this run's, oldest first.
        self._story_order: dict[str, tuple[Any, ...]] = {}
        for member in sorted(members, key=lambda m: (m.seen, m.article_id)):
            self._add(member, (0, member.seen, member.article_id))

    def _add(self, member: Member, order: tuple[Any, ...]) -> None:
        if member.article_id in self.members:
            self.members[member.article_id].seen = max(self.members[member.article_id].seen,
                                                       member.seen)
            return
        self.members[member.article_id] = member
        self._by_exact.setdefault(member.exact, member.story_id)
        self._story_order.setdefault(member.story_id, order)
        self._lsh.insert(member.article_id, _lean(member.signature))

    def remember(self, member: Member) -> None:
        """A member another writer stored (a streaming window's delta)."""
        self._add(member, (0, member.seen, member.article_id))

    def match(self, print_: Fingerprint) -> str | None:
        """The story ``print_`` repeats, if any: exact prose first, then the
        earliest story among the near duplicates."""
        if not print_.signature:  # no fingerprint: a story of its own
            return None
        if print_.exact in self._by_exact:
            return self._by_exact[print_.exact]
        stories = set()
        for candidate in self._lsh.query(_lean(print_.signature)):
            member = self.members[candidate]
            if similarity(member.signature, print_.signature) >= THRESHOLD:
                stories.add(member.story_id)
        if not stories:
            return None
        return min(stories, key=lambda s: (self._story_order[s], s))

    def assign(self, prints: Iterable[Fingerprint], seen: float) -> Iterator[Assignment]:
        """Assign stories in the total order; each assigned article joins the
        index, so a later copy finds an earlier one of the same batch."""
        for print_ in sorted(prints, key=lambda p: p.order):
            known = self.members.get(print_.article_id)
            story = known.story_id if known else self.match(print_)
            story_id = story or print_.article_id
            if print_.signature:
                self._add(Member(print_.article_id, story_id, print_.exact, print_.signature,
                                 seen), (1, *print_.order))
            yield Assignment(print_.article_id, story_id,
                             None if story_id == print_.article_id else story_id)

    def bounded(self, now: float, ttl_seconds: float, max_members: int) -> list[Member]:
        """The members to keep: seen within the TTL, the newest ``max_members``."""
        fresh = [m for m in self.members.values() if m.seen >= now - ttl_seconds]
        fresh.sort(key=lambda m: (-m.seen, m.article_id))
        return fresh[:max_members]

