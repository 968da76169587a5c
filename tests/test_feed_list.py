from __future__ import annotations

import os

import pytest

from transforms.feed.locations import FeedListError, load_feed_list

OPML = """<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>
<outline text="News"><outline type="rss" text="A" xmlUrl="https://a.example/feed"/>
<outline type="rss" text="B" xmlUrl="https://b.example/rss.xml"/></outline>
<outline type="rss" text="A again" xmlUrl="https://a.example/feed"/></body></opml>"""


def test_single_url():
    assert load_feed_list("https://example.com/feed.xml") == ["https://example.com/feed.xml"]


def test_text_list_with_comments_and_relative_paths(tmp_path):
    (tmp_path / "local.xml").write_text("<rss/>")
    listing = tmp_path / "feeds.txt"
    listing.write_text("# my feeds\nhttps://b.example/feed   # inline comment\n\n"
                       "https://a.example/feed\nlocal.xml\nhttps://a.example/feed\n"
                       "https://c.example/feed#section\n")
    assert load_feed_list(str(listing)) == sorted([
        "https://a.example/feed", "https://b.example/feed", "https://c.example/feed#section",
        str(tmp_path / "local.xml")])


def test_opml(tmp_path):
    path = tmp_path / "subs.opml"
    path.write_text(OPML)
    assert load_feed_list(str(path)) == ["https://a.example/feed", "https://b.example/rss.xml"]


def test_a_local_feed_file_is_itself_the_feed(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text('<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>')
    assert load_feed_list(str(path)) == [str(path)]
    assert load_feed_list(f"file://{path}") == [str(path)]


@pytest.mark.parametrize("content,message", [("", "no feed locations"),
                                             ("# only comments\n", "no feed locations"),
                                             ("<opml><body>", "not valid OPML")])
def test_unusable_lists_are_errors(tmp_path, content, message):
    path = tmp_path / "feeds.txt"
    path.write_text(content)
    with pytest.raises(FeedListError, match=message):
        load_feed_list(str(path))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FeedListError, match="feeds file not found"):
        load_feed_list(str(tmp_path / "nope.txt"))
    with pytest.raises(FeedListError, match="directory"):
        load_feed_list(str(tmp_path))
    assert not os.path.exists(tmp_path / "nope.txt")
