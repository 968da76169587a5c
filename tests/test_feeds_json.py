"""JSON Feed, field by field: a bad field is absent, a bad item is its own dead letter."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import FETCHED_AT
from tests.test_feeds_props import assert_clean, fuzz_settings, is_web_url
from transforms.feeds import FeedProblem, parse_feed

FEED_URL = "https://json.example/feed.json"
VERSION = "https://jsonfeed.org/version/1.1"
GOOD = {"id": "good", "url": "https://json.example/good", "title": "Good item",
        "content_html": "<p>Body</p>", "summary": "A summary",
        "date_published": "2025-04-26T10:00:00Z", "authors": [{"name": "J. Son"}],
        "tags": ["news", "world"]}
SETTINGS = fuzz_settings(150)


def feed(items, **fields) -> bytes:
    return json.dumps({"version": VERSION, "title": "JSON News", "items": items, **fields},
                      allow_nan=True).encode()


def parse(body: bytes, location: str = FEED_URL):
    return parse_feed(body, location, FETCHED_AT, "application/feed+json")


@pytest.mark.parametrize("field,value", [
    ("date_published", "9999-12-31T23:59:59-05:00"),
    ("date_published", "0001-01-01T00:00:00+01:00"),
    ("date_published", 5), ("date_published", "yesterday"), ("tags", 5), ("tags", [1, None, {}]),
    ("authors", "x"), ("authors", [5, {"name": 7}]), ("author", []), ("title", {}),
    ("title", ["a"]), ("id", {}), ("id", True), ("summary", 5), ("content_html", []),
    ("content_text", {}), ("date_modified", []),
])
def test_a_bad_optional_field_reads_as_absent(field, value):
    parsed = parse(feed([{**GOOD, field: value}, GOOD | {"id": "2", "url": "https://json.example/2"}]))
    assert [e.url for e in parsed.entries] == ["https://json.example/good", "https://json.example/2"]
    assert parsed.problems == []
    first = parsed.entries[0]
    if field.startswith("date"):
        assert first.published_at is None or field == "date_modified"
    assert all(isinstance(t, str) for t in first.tags + first.authors)


def test_fields_are_read():
    entry = parse(feed([GOOD])).entries[0]
    assert (entry.title, entry.guid, entry.content, entry.summary, entry.authors, entry.tags) == (
        "Good item", "good", "<p>Body</p>", "A summary", ("J. Son",), ("news", "world"))
    assert entry.published_at.isoformat() == "2025-04-26T10:00:00+00:00"
    numeric = parse(feed([GOOD | {"id": 42, "content_html": None, "content_text": "a < b"}]))
    assert numeric.entries[0].guid == "42" and numeric.entries[0].content == "a &lt; b"


@pytest.mark.parametrize("url,kind", [
    (7, "unsupported_link"), ("javascript:alert(1)", "unsupported_link"),
    ("file:///etc/passwd", "unsupported_link"), ({"href": "x"}, "unsupported_link"),
    (None, "entry_without_link"), ("", "entry_without_link"),
])
def test_a_bad_link_is_that_items_dead_letter(url, kind):
    parsed = parse(feed([GOOD | {"url": url}, GOOD | {"id": "2", "url": "https://json.example/2"}]))
    assert [e.url for e in parsed.entries] == ["https://json.example/2"]
    assert [p[0] for p in parsed.problems] == [kind]


@pytest.mark.parametrize("item", [5, "https://json.example/x", None, [GOOD]])
def test_an_item_that_is_not_an_object_is_its_own_dead_letter(item):
    parsed = parse(feed([item, GOOD]))
    assert [e.url for e in parsed.entries] == [GOOD["url"]]
    assert [p[0] for p in parsed.problems] == ["malformed_entry"]


@pytest.mark.parametrize("items", [5, "x", {}, None, {"0": GOOD}])
def test_items_that_are_not_a_list_fail_the_feed(items):
    with pytest.raises(FeedProblem) as err:
        parse(feed(items))
    assert err.value.error_type == "malformed_feed"


@pytest.mark.parametrize("body,kind", [
    (json.dumps({"version": 1.1, "items": []}).encode(), "not_a_feed"),
    (json.dumps([GOOD]).encode(), "not_a_feed"),
    (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "malformed_feed"),  # too deep for json
    (b'{"version": "https://jsonfeed.org/version/1", "items": [' + b"1" * 5000 + b"]}",
     "malformed_feed"),  # an integer past Python's digit limit
])
def test_documents_that_are_not_json_feeds(body, kind):
    with pytest.raises(FeedProblem) as err:
        parse(body)
    assert err.value.error_type == kind


def test_a_json_feed_in_utf16_with_a_bom():
    body = "\ufeff".encode("utf-16-le") + feed([GOOD]).decode().encode("utf-16-le")
    assert [e.url for e in parse(body).entries] == [GOOD["url"]]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from(["https://json.example/x", "/rel", "//cdn.example/y", "javascript:x",
                       "file:///etc/passwd", "9999-12-31T23:59:59-05:00", "<b>&amp;</b>",
                       "\x00\x85\ud800\u202e"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "url", "id", "x"]), inner, max_size=3),
    max_leaves=6)
ITEM_FIELDS = ["id", "url", "external_url", "title", "content_html", "content_text", "summary",
               "date_published", "date_modified", "authors", "author", "tags", "image"]
FEED_FIELDS = ["title", "home_page_url", "feed_url", "authors", "description", "icon"]


@st.composite
def json_feeds(draw):
    """A JSON Feed with good items and items with any JSON value in any field."""
    items, good = [], []
    for i in range(draw(st.integers(1, 6))):
        item = {**GOOD, "id": f"item-{i}", "url": f"https://json.example/{i}"}
        broken = draw(st.dictionaries(st.sampled_from(ITEM_FIELDS), JSON_VALUES, max_size=4))
        if not draw(st.integers(0, 9)):
            items.append(draw(JSON_VALUES))  # not even an object, most likely
            continue
        if not broken:
            good.append(item["url"])
        items.append({**item, **broken})
    extra = draw(st.dictionaries(st.sampled_from(FEED_FIELDS), JSON_VALUES, max_size=3))
    location = draw(st.sampled_from([FEED_URL, "/srv/feeds/feed.json"]))
    return feed(items, **extra), items, good, location


@SETTINGS
@given(json_feeds())
def test_any_json_value_in_any_field(case):
    body, items, good, location = case
    parsed = parse(body, location)  # never raises: items is a list, the version is right
    urls = [e.url for e in parsed.entries]
    assert set(good) <= set(urls), "a good item was lost"
    assert len(parsed.entries) + len(parsed.problems) == len(items), "one outcome per item"
    assert all(is_web_url(url) for url in urls)
    assert_clean(parsed, body, location)
    for entry in parsed.entries:
        when = entry.published_at
        assert when is None or (when.tzinfo is not None and math.isfinite(when.timestamp()))


@SETTINGS
@given(st.sampled_from(["version", "items", "title"]), JSON_VALUES)
def test_any_json_value_in_the_required_fields(field, value):
    body = json.dumps({"version": VERSION, "items": [GOOD], field: value}).encode()
    try:
        parsed = parse(body)
    except FeedProblem as exc:
        assert exc.error_type in ("not_a_feed", "malformed_feed")
        assert field in ("version", "items")
        return
    if field != "items":
        assert [e.url for e in parsed.entries] == [GOOD["url"]]
