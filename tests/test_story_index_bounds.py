"""The story index a stream keeps for its whole life stays bounded.

``StoryIndex.expire`` forgets exactly what ``bounded`` leaves out, and every
structure of the index (members, exact texts, story order, LSH buckets)
lets go of what only the forgotten members held; ``BandIndex`` finds the
candidates datasketch's MinHashLSH finds; the streaming assign step expires
after every window and deletes the deltas past the TTL.
"""
from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import numpy as np
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.timestamp import Timestamp
from datasketch import LeanMinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.lib import stories as lib
from transforms.lib.state_dir import StateDir
from transforms.lib.stories import BandIndex, Fingerprint, Member, StoryIndex, packed
from transforms.stories import StorySettings, _AssignFn

# Few distinct values per hash position, so that bands collide often.
_values = st.integers(min_value=0, max_value=3)
_signatures = st.lists(_values, min_size=lib.NUM_PERM, max_size=lib.NUM_PERM).map(
    lambda values: np.array(values, dtype=np.uint32) * np.uint32(2 ** 31 - 1))


def _datasketch(signatures: dict[str, np.ndarray]) -> MinHashLSH:
    lsh = MinHashLSH(threshold=lib.THRESHOLD, num_perm=lib.NUM_PERM)
    for key, signature in signatures.items():
        lsh.insert(key, LeanMinHash(seed=lib.SEED, hashvalues=signature, scheme=lib.SCHEME))
    return lsh


@settings(max_examples=60)
@given(st.lists(_signatures, min_size=1, max_size=12), _signatures,
       st.lists(st.integers(min_value=0, max_value=11), max_size=6))
def test_band_index_finds_what_datasketch_finds(signatures, query, removed):
    keyed = {f"k{i}": packed(s) for i, s in enumerate(signatures)}
    ours = BandIndex()
    for key, signature in keyed.items():
        ours.insert(key, signature)
    for i in removed:
        key = f"k{i}"
        if key in keyed:
            ours.remove(key, keyed.pop(key))
    theirs = _datasketch(keyed)
    for probe in [packed(query), *keyed.values()]:
        expected = set(theirs.query(LeanMinHash(seed=lib.SEED, hashvalues=probe,
                                                scheme=lib.SCHEME)))
        assert ours.query(probe) == expected


@given(st.lists(_signatures, max_size=10))
def test_band_index_is_empty_once_every_key_is_removed(signatures):
    index = BandIndex()
    for i, signature in enumerate(signatures):
        index.insert(f"k{i}", packed(signature))
    for i, signature in enumerate(signatures):
        index.remove(f"k{i}", packed(signature))
    assert len(index) == 0


# A window: (its time offset in seconds, the members it adds: (article,
# story, exact text, signature)).  Ids repeat across windows (re-sightings),
# stories and exact texts are shared between members.
_member = st.tuples(st.integers(0, 40), st.integers(0, 8), st.integers(0, 8), _signatures)
_windows = st.lists(st.tuples(st.integers(0, 50), st.lists(_member, max_size=6)),
                    min_size=1, max_size=12)


@settings(max_examples=60)
@given(_windows, st.integers(min_value=1, max_value=15), st.integers(min_value=1, max_value=200))
def test_expire_keeps_exactly_what_bounded_keeps_and_never_more_than_the_cap(
        windows, max_members, ttl):
    index = StoryIndex()
    now = 0.0
    for step, added in windows:
        now += step
        for article, story, exact, signature in added:
            index.remember(Member(f"a{article}", f"s{story}", f"e{exact}", signature, now))
        expected = {m.article_id for m in index.bounded(now, ttl, max_members)}
        index.expire(now, ttl, max_members)
        assert set(index.members) == expected
        assert len(index.members) <= max_members
        sizes = index.sizes()
        # Nothing outlives its members: every exact text and story still
        # indexed belongs to a member that is still there.
        assert sizes["exact"] == sizes["exact_counts"] == len(
            {m.exact for m in index.members.values()})
        assert sizes["stories"] == sizes["story_counts"] == len(
            {m.story_id for m in index.members.values()})
        assert sizes["lsh_buckets"] <= lib.BANDS * len(index.members)
    index.expire(now + ttl + 1, ttl, max_members)
    assert index.sizes() == dict.fromkeys(index.sizes(), 0)


@settings(max_examples=60)
@given(_windows, st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=8))
def test_after_expiry_matches_lead_only_to_stories_still_held(windows, ttl, max_members):
    """A forgotten member leaves nothing a later article could match: every
    answer is the story of a member still in the index.  (As in real use, one
    exact text belongs to one story.)"""
    index, now = StoryIndex(), 0.0
    for step, added in windows:
        now += step
        for article, _, exact, signature in added:
            index.remember(Member(f"a{article}", f"s{exact}", f"e{exact}", signature, now))
        index.expire(now, ttl, max_members)
        held = {m.story_id for m in index.members.values()}
        for _, _, exact, signature in added:
            for text in (f"e{exact}", "e-unknown"):
                probe = Fingerprint("probe", ("", "", "probe"), text, tuple(signature))
                assert index.match(probe) in held | {None}


def _print(i: int, at: datetime) -> Fingerprint:
    signature = np.random.default_rng(i).integers(0, 2 ** 32, lib.NUM_PERM, dtype=np.uint32)
    return Fingerprint(f"{i:064x}", (at.isoformat(), "9999", f"{i:064x}"), f"exact-{i}",
                       signature.astype("<u4").tobytes())


def test_a_stream_forgets_stories_past_the_ttl_and_their_deltas(tmp_path):
    """The streaming assign step, window after window (5 s windows, a 10 s
    story TTL, 4 new articles a window): the index holds the TTL's worth of
    members, and the deltas past the TTL are deleted."""
    state = StateDir(str(tmp_path / "state"))
    fn = _AssignFn(StorySettings(state_dir=state.root, ttl_hours=10 / 3600, max_members=1000))
    start = time.time() - 1000  # windows in the past: a delta is written after its window
    stamped: set[str] = set()
    sizes = []
    for w in range(12):
        at = datetime.fromtimestamp(start + 5 * w, tz=UTC)
        window = IntervalWindow(Timestamp.from_utc_datetime(at),
                                Timestamp.from_utc_datetime(at) + 5)
        prints = [_print(w * 4 + k, at) for k in range(4)]
        assigned = list(fn.process(("all", prints), window=window))
        assert len(assigned) == 4
        # Each delta as old as the window it describes (written in real time).
        for meta in state.listing(state.stories_dir, "delta-*.jsonl"):
            if meta.path not in stamped:
                os.utime(meta.path, (start + 5 * w, start + 5 * w))
                stamped.add(meta.path)
        sizes.append(fn._index.sizes())
    # Seen within the last 10 s: this window's and the two before it.
    assert all(s["members"] <= 12 for s in sizes)
    assert all(s["lsh_buckets"] <= lib.BANDS * 12 for s in sizes)
    assert sizes[-1]["members"] == 12
    left = {m.path for m in state.listing(state.stories_dir, "delta-*.jsonl")}
    assert 0 < len(left) <= 3
    assert fn._deltas_read <= left
