"""Markup evidence: lines in small containers labelled as chrome."""
from __future__ import annotations

from trafilatura.utils import load_html

from transforms.boilerplate.markup import chrome_by_markup

BODY = ("The council approved the budget after a long debate on Monday night, with twelve votes "
        "in favour and eleven against, ending months of negotiations.")
PAGE = f"""<html><body>
<article class="post category-news tag-politics">
  <div class="kicker">Politics</div>
  <p class="byline">By Jane Doe</p>
  <div class="entry-content"><p>{BODY}</p><p>{BODY.replace("council", "mayor")}</p>
  <p>Related coverage is available in our archive of council stories from the past year.</p>
  </div>
  <div class="related-posts"><a href="/b">Mayor resigns after vote</a></div>
</article></body></html>"""


def test_small_labelled_containers_mark_their_lines():
    lines = ["Politics", "By Jane Doe", BODY, BODY.replace("council", "mayor"),
             "Related coverage is available in our archive of council stories from the past year.",
             "Mayor resigns after vote"]
    marks = chrome_by_markup(load_html(PAGE), lines)
    assert marks == {0: "markup:kicker", 1: "markup:byline", 5: "markup:related"}


def test_article_level_labels_are_not_evidence():
    # WordPress puts category-*/tag-* on <article>: too big a container to count.
    assert 2 not in chrome_by_markup(load_html(PAGE), ["x", "y", BODY])


def test_nothing_to_match_is_fine():
    assert chrome_by_markup(None, ["a"]) == {}
    assert chrome_by_markup(load_html("<html><body><p>hi</p></body></html>"), []) == {}


def test_image_captions_are_chrome():
    page = load_html(
        "<html><body><article><p>The harbour reopened on Monday after three days.</p>"
        "<figure><img src='a.jpg'><figcaption>Boats leave the harbour. Photo: Ana</figcaption>"
        "</figure><p>Fishing boats were the first to leave the northern quay.</p>"
        "</article></body></html>")
    lines = ["The harbour reopened on Monday after three days.",
             "Boats leave the harbour. Photo: Ana",
             "Fishing boats were the first to leave the northern quay."]
    assert chrome_by_markup(page, lines) == {1: "markup:figcaption"}
