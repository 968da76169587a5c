"""Conditional requests, scheduling and health: the pure rules and the store."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import FeedState
from tests.conftest import FETCHED_AT
from transforms.feed.states import (
    after_failure,
    after_response,
    conditional_headers,
    freshness,
    next_poll,
)
from transforms.lib.state_dir import StateDir, feed_state_from_json, feed_state_to_json

DAY = timedelta(hours=24)
SCHEDULE = {"min_interval": timedelta(minutes=1), "max_interval": DAY}
URL = "https://x.example/feed"


def known(**fields) -> FeedState:
    base = dict(url=URL, etag='"abc"', last_modified="Tue, 25 Nov 2026 10:00:00 GMT",
                body_sha256="h1", last_full_fetch_at=FETCHED_AT - timedelta(hours=1))
    base.update(fields)
    return FeedState(**base)


def test_conditional_headers_from_validators():
    assert conditional_headers(known(), FETCHED_AT, DAY) == {
        "If-None-Match": '"abc"', "If-Modified-Since": "Tue, 25 Nov 2026 10:00:00 GMT"}


def test_full_fetch_when_unknown_stale_or_unreliable():
    assert conditional_headers(None, FETCHED_AT, DAY) == {}
    assert conditional_headers(known(last_full_fetch_at=FETCHED_AT - DAY), FETCHED_AT, DAY) == {}
    assert conditional_headers(known(validators_unreliable=True), FETCHED_AT, DAY) == {}


def test_same_validators_with_new_body_marks_the_server_unreliable():
    state = after_response(known(), URL, FETCHED_AT, status=200,
                           headers={"etag": '"abc"'}, digest="h2", conditional=False,
                           entries=5, schedule=SCHEDULE)
    assert state.validators_unreliable and state.last_outcome == "fetched"
    assert conditional_headers(state, FETCHED_AT, DAY) == {}


def test_same_body_is_unchanged_and_keeps_entry_count():
    state = after_response(known(entries=7), URL, FETCHED_AT, status=200,
                           headers={"etag": '"abd"'}, digest="h1", conditional=True,
                           entries=0, schedule=SCHEDULE)
    assert state.last_outcome == "unchanged" and state.entries == 7
    assert not state.validators_unreliable and state.etag == '"abd"'


def test_304_keeps_validators_and_counts_as_success():
    failing = known(consecutive_failures=3)
    state = after_response(failing, URL, FETCHED_AT, status=304, headers={}, digest=None,
                           conditional=True, entries=0, schedule=SCHEDULE)
    assert (state.last_outcome, state.consecutive_failures, state.etag) == (
        "not_modified", 0, '"abc"')
    assert state.last_full_fetch_at == known().last_full_fetch_at


def test_failures_accumulate_and_honour_retry_after():
    state = after_failure(known(), URL, FETCHED_AT, error_type="http_503", message="busy",
                          retry_after=600, schedule=SCHEDULE)
    state = after_failure(state, URL, FETCHED_AT, error_type="http_503", message="busy",
                          retry_after=600, schedule=SCHEDULE)
    assert state.consecutive_failures == 2 and state.last_error == "http_503: busy"
    assert state.retry_after_until == FETCHED_AT + timedelta(seconds=600)
    assert state.next_poll_at == FETCHED_AT + timedelta(seconds=600)


def test_freshness_from_cache_control_and_expires():
    assert freshness({"cache-control": "public, max-age=900"}, FETCHED_AT) == \
        timedelta(seconds=900)
    assert freshness({"cache-control": "no-cache, max-age=900"}, FETCHED_AT) == timedelta(0)
    assert freshness({"expires": "Wed, 25 Nov 2026 12:30:00 GMT",
                      "date": "Wed, 25 Nov 2026 12:00:00 GMT"}, FETCHED_AT) == \
        timedelta(minutes=30)
    assert freshness({"expires": "0"}, FETCHED_AT) == timedelta(0)
    assert freshness({}, FETCHED_AT) is None


def test_next_poll_is_clamped():
    assert next_poll(FETCHED_AT, headers={"cache-control": "max-age=31536000"},
                     **SCHEDULE) == FETCHED_AT + DAY
    assert next_poll(FETCHED_AT, headers={"cache-control": "max-age=5"}, **SCHEDULE) == \
        FETCHED_AT + timedelta(minutes=1)
    assert next_poll(FETCHED_AT, retry_after=7200, **SCHEDULE) == \
        FETCHED_AT + timedelta(hours=2)


def test_json_round_trip_and_unknown_fields():
    state = known(next_poll_at=datetime(2026, 11, 25, 13, tzinfo=UTC), consecutive_failures=2)
    assert feed_state_from_json(feed_state_to_json(state)) == state
    assert feed_state_from_json('{"url": "u", "added_later": 1}') == FeedState(url="u")


def test_store_promotes_pending_states_only_when_asked(tmp_path):
    state = StateDir(str(tmp_path))
    assert state.feed_states() == {}
    state.write_pending_feed_states([known()], "run1")
    assert state.feed_states() == {}
    assert state.promote("run1") == {URL: known()}
    assert state.feed_states() == {URL: known()}
    assert not (tmp_path / "pending" / "feeds-run1.jsonl").exists()
    assert state.promote("never-written") == {URL: known()}
