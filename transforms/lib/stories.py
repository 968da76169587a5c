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
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH

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
_UINT32 = np.dtype("<u4")  # the byte order signatures travel and are stored in


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What story matching needs of one article; small, unlike its text."""

    article_id: str
    order: tuple[str, str, str]  # (fetched_at, published_at, id), ISO strings
    exact: str                   # SHA-256 of the normalised prose
    # MinHash hash values, NUM_PERM uint32 little-endian (0.5 KB, where a
    # tuple of Python ints took 5 KB in a runner's grouping); b"" for none.
    signature: bytes


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
    return Fingerprint(article_id, order, exact, packed(minhash(tokens).hashvalues).tobytes())


def similarity(a: bytes | Sequence[int], b: bytes | Sequence[int]) -> float:
    """MinHash estimate of the Jaccard similarity of two signatures."""
    return float(np.count_nonzero(packed(a) == packed(b))) / NUM_PERM


def packed(signature: bytes | Sequence[int]) -> np.ndarray:
    """A signature as the index keeps it: NUM_PERM uint32 in one read-only
    array (about 0.6 KB, against 5 KB as a tuple of Python ints), from a
    fingerprint's bytes or from hash values."""
    if isinstance(signature, (bytes, bytearray)):
        return np.frombuffer(bytes(signature), dtype=_UINT32)  # read-only already
    array = np.array(signature, dtype=_UINT32)
    array.flags.writeable = False
    return array


# The LSH banding datasketch's MinHashLSH picks for the threshold (the
# number of bands and rows per band that minimise its false positive and
# false negative weights): BandIndex reproduces its candidates exactly.
_LSH = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
BANDS, ROWS = _LSH.b, _LSH.r
del _LSH


class BandIndex:
    """MinHash LSH candidates, as datasketch's MinHashLSH finds them (two
    signatures are candidates when all ``ROWS`` values of some band agree),
    in about a third of its memory, and with removal.

    Each band maps the band's values (bytes) to the one key that has them,
    or to a set of keys when several do; datasketch keeps a set per bucket
    and a copy of every band key per member (10 KB a member at 128 hash
    values, against about 3.5 KB here).
    """

    def __init__(self) -> None:
        self._bands: list[dict[bytes, Any]] = [{} for _ in range(BANDS)]

    @staticmethod
    def _keys(signature: np.ndarray) -> Iterator[bytes]:
        for band in range(BANDS):
            yield signature[band * ROWS:(band + 1) * ROWS].tobytes()

    def insert(self, key: str, signature: np.ndarray) -> None:
        if len(signature) != NUM_PERM:
            raise ValueError(f"a signature has {NUM_PERM} hash values, not {len(signature)}")
        for table, band_key in zip(self._bands, self._keys(signature), strict=True):
            held = table.get(band_key)
            if held is None:
                table[band_key] = key
            elif isinstance(held, set):
                held.add(key)
            elif held != key:
                table[band_key] = {held, key}

    def remove(self, key: str, signature: np.ndarray) -> None:
        for table, band_key in zip(self._bands, self._keys(signature), strict=True):
            held = table.get(band_key)
            if held == key:
                del table[band_key]
            elif isinstance(held, set):
                held.discard(key)
                if len(held) == 1:
                    table[band_key] = next(iter(held))

    def query(self, signature: np.ndarray) -> set[str]:
        found: set[str] = set()
        for table, band_key in zip(self._bands, self._keys(signature), strict=True):
            held = table.get(band_key)
            if isinstance(held, set):
                found |= held
            elif held is not None:
                found.add(held)
        return found

    def __len__(self) -> int:
        """Buckets in use (0 once every key was removed)."""
        return sum(len(table) for table in self._bands)


@dataclasses.dataclass(eq=False)
class Member:
    """One known article: its story, its fingerprint, when it was last seen."""

    article_id: str
    story_id: str
    exact: str
    signature: bytes | Sequence[int]  # packed() once in an index
    seen: float  # epoch seconds of the run (or window) that saw it last

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Member):
            return NotImplemented
        return ((self.article_id, self.story_id, self.exact, self.seen)
                == (other.article_id, other.story_id, other.exact, other.seen)
                and np.array_equal(packed(self.signature), packed(other.signature)))

    __hash__ = None  # mutable (``seen``)

    def to_json(self) -> dict[str, Any]:
        raw = packed(self.signature).tobytes()
        return {"id": self.article_id, "story": self.story_id, "exact": self.exact,
                "sig": base64.b64encode(raw).decode("ascii"), "seen": self.seen}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Member:
        return cls(row["id"], row["story"], row["exact"], packed(base64.b64decode(row["sig"])),
                   float(row["seen"]))


class StoryIndex:
    """The stories seen so far: members by exact prose and in a MinHash LSH.

    A long-lived index (streaming keeps one for the life of the worker)
    stays bounded by :meth:`expire`, which forgets members exactly as
    :meth:`bounded` leaves them out: every structure drops what only they
    held.
    """

    def __init__(self, members: Iterable[Member] = ()):
        self._lsh = BandIndex()
        self.members: dict[str, Member] = {}
        self._by_exact: dict[str, str] = {}
        self._exact_members: dict[str, int] = {}
        # Stories of earlier runs order before this run's, oldest first.
        self._story_order: dict[str, tuple[Any, ...]] = {}
        self._story_members: dict[str, int] = {}
        for member in sorted(members, key=lambda m: (m.seen, m.article_id)):
            self._add(member, (0, member.seen, member.article_id))

    def _add(self, member: Member, order: tuple[Any, ...]) -> None:
        if member.article_id in self.members:
            self.members[member.article_id].seen = max(self.members[member.article_id].seen,
                                                       member.seen)
            return
        member.signature = packed(member.signature)
        self.members[member.article_id] = member
        self._by_exact.setdefault(member.exact, member.story_id)
        self._exact_members[member.exact] = self._exact_members.get(member.exact, 0) + 1
        self._story_order.setdefault(member.story_id, order)
        self._story_members[member.story_id] = self._story_members.get(member.story_id, 0) + 1
        self._lsh.insert(member.article_id, member.signature)

    def remember(self, member: Member) -> None:
        """A member another writer stored (a streaming window's delta)."""
        self._add(member, (0, member.seen, member.article_id))

    def forget(self, article_id: str) -> None:
        """Drop one member; an exact text or a story nobody else holds goes too."""
        member = self.members.pop(article_id, None)
        if member is None:
            return
        self._lsh.remove(article_id, member.signature)
        if _release(self._exact_members, member.exact):
            del self._by_exact[member.exact]
        if _release(self._story_members, member.story_id):
            del self._story_order[member.story_id]

    def expire(self, now: float, ttl_seconds: float, max_members: int) -> int:
        """Forget every member :meth:`bounded` would leave out; returns how many."""
        if len(self.members) <= max_members:
            old = [i for i, m in self.members.items() if m.seen < now - ttl_seconds]
        else:
            kept = {m.article_id for m in self.bounded(now, ttl_seconds, max_members)}
            old = [i for i in self.members if i not in kept]
        for article_id in old:
            self.forget(article_id)
        return len(old)

    def sizes(self) -> dict[str, int]:
        """How many entries each structure holds (for tests and reports)."""
        return {"members": len(self.members), "exact": len(self._by_exact),
                "exact_counts": len(self._exact_members), "stories": len(self._story_order),
                "story_counts": len(self._story_members), "lsh_buckets": len(self._lsh)}

    def match(self, print_: Fingerprint) -> str | None:
        """The story ``print_`` repeats, if any: exact prose first, then the
        earliest story among the near duplicates."""
        if not print_.signature:  # no fingerprint: a story of its own
            return None
        if print_.exact in self._by_exact:
            return self._by_exact[print_.exact]
        signature = packed(print_.signature)
        stories = set()
        for candidate in self._lsh.query(signature):
            member = self.members[candidate]
            if similarity(member.signature, signature) >= THRESHOLD:
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



def _release(counts: dict[str, int], key: str) -> bool:
    """One holder of ``key`` fewer; True when it was the last."""
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
        return False
    counts.pop(key, None)
    return True
