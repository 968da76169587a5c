from __future__ import annotations

import pytest

from transforms.lib.urls import article_id, canonical_url, source_of


@pytest.mark.parametrize("a,b", [
    ("HTTP://WWW.Example.COM:80/a/b?x=1&y=2#frag", "http://www.example.com/a/b?x=1&y=2"),
    ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
    ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/%7Euser/caf%C3%A9", "https://example.com/~user/caf%C3%A9"),
    ("https://example.com:8443/x?fbclid=abc", "https://example.com:8443/x"),
])
def test_canonical_url(a, b):
    assert canonical_url(a) == b


def test_id_is_stable_across_tracking_noise():
    assert article_id("https://example.com/story?utm_campaign=x#top") == \
        article_id("https://EXAMPLE.com/story")
    assert article_id("https://example.com/story") != article_id("https://example.com/other")
    assert len(article_id("https://example.com/story")) == 32


def test_path_case_matters():
    assert article_id("https://example.com/Story") != article_id("https://example.com/story")


@pytest.mark.parametrize("url,source", [
    ("https://www.bbc.co.uk/news/1", "bbc.co.uk"),
    ("http://127.0.0.1:8080/a", "127.0.0.1:8080"),
    ("https://news.example.com:443/a", "news.example.com"),
])
def test_source_of(url, source):
    assert source_of(url) == source
