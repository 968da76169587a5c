"""Evidence from the page's markup: a line whose element sits in a small,
labelled container (``class="byline"``, ``id="breadcrumbs"``,
``class="related-posts"``) or in an image caption (``<figcaption>``) is
chrome whatever its language.

Only *small* containers count: WordPress labels the whole ``<article>``
with ``category-news tag-politics``, so a container holding a sizeable
share of the article's text is never taken as evidence against its lines.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

from transforms.lib.text import normalise

# Class/id/itemprop/rel tokens that name page chrome.  Measured on the
# corpora: "widget", "sidebar", "teaser", "nav_*", "comment" and "credit"
# also label body text on some sites, so they are not here.
CHROME_TOKENS = frozenset({
    "byline", "author", "authors", "kicker", "category", "categories", "breadcrumb",
    "breadcrumbs", "tags", "share", "sharing", "social", "related", "newsletter",
    "subscribe", "subscription", "promo", "advert", "advertisement", "sponsor", "sponsored",
    "footer", "credits", "copyright", "dateline", "timestamp", "published", "comments",
    "recommended", "trending", "popular", "navigation", "menu", "toolbar",
})
# Elements that hold chrome by definition: an image's caption is not the
# article's text.  (<header>, <aside> and <nav> were measured too: they also
# hold headlines, ledes and fact boxes that belong to the article.)
CHROME_TAGS = frozenset({"figcaption"})
# A container holding more than this share of the article's text is the
# article itself (or bigger), never chrome.
SMALL_SHARE = 0.3
# Elements with more text than this are not worth indexing as a line's home.
MAX_LINE_CHARS = 2000
_TOKEN = re.compile(r"[a-z]+")
_SKIP = frozenset({"script", "style", "head", "title", "meta", "link", "noscript"})
_LIST_MARK = "-•*–· "


def _tokens(element: Any) -> set[str]:
    attrs = " ".join(element.get(name) or "" for name in ("class", "id", "itemprop", "rel"))
    return set(_TOKEN.findall(attrs.lower()))


def _small_texts(tree: Any, limit: int) -> dict[Any, str]:
    """Text of every element whose text is at most ``limit`` characters,
    built bottom-up in one pass (``text_content()`` per element would be
    quadratic on deep pages).  Scripts and styles contribute nothing."""
    texts: dict[Any, str] = {}
    for element in reversed(list(tree.iter())):
        if not isinstance(element.tag, str):
            continue
        if element.tag in _SKIP:
            texts[element] = ""
            continue
        parts, size, small = [element.text or ""], len(element.text or ""), True
        for child in element:
            if isinstance(child.tag, str):
                inner = texts.get(child)
                if inner is None:
                    small = False
                    break
                parts.append(inner)
                size += len(inner)
            parts.append(child.tail or "")
            size += len(child.tail or "")
            if size > limit:
                small = False
                break
        if small and size <= limit:
            texts[element] = "".join(parts)
    return texts


@dataclasses.dataclass(frozen=True)
class LineHomes:
    """Where each line of an extraction lives in the page: the smallest
    element whose whole text is the line (None when no element is), and
    the text of every small element, computed once for both the chrome
    evidence and the line model's markup features."""

    elements: tuple[Any, ...]
    texts: dict[Any, str]
    limit: int


def locate(tree: Any, lines: list[str]) -> LineHomes | None:
    if tree is None or not lines:
        return None
    wanted = {normalise(line.lstrip(_LIST_MARK)): i for i, line in enumerate(lines)}
    wanted.pop("", None)
    limit = int(SMALL_SHARE * sum(len(line) for line in lines))
    texts = _small_texts(tree, max(limit, MAX_LINE_CHARS))
    found: dict[str, Any] = {}
    keys: dict[str, str] = {}  # a wrapper's text is its only child's: normalise it once
    for element, text in texts.items():
        if len(text) <= MAX_LINE_CHARS and text.strip():
            key = keys.get(text)
            if key is None:
                key = keys[text] = normalise(text)
            if key in wanted:
                found.setdefault(key, element)
    elements = [None] * len(lines)
    for key, element in found.items():
        elements[wanted[key]] = element
    return LineHomes(tuple(elements), texts, limit)


def chrome_by_markup(tree: Any, lines: list[str], homes: LineHomes | None = None
                     ) -> dict[int, str]:
    """Line index -> reason, for lines that live in small chrome containers."""
    homes = homes if homes is not None else locate(tree, lines)
    if homes is None:
        return {}
    reasons: dict[int, str] = {}
    for index, element in enumerate(homes.elements):
        node = element
        while node is not None and node.tag not in ("body", "html"):
            text = homes.texts.get(node)
            if text is None or len(text) > homes.limit:
                break
            if node.tag in CHROME_TAGS:
                reasons[index] = f"markup:{node.tag}"
                break
            hit = _tokens(node) & CHROME_TOKENS
            if hit:
                reasons[index] = f"markup:{min(hit)}"
                break
            node = node.getparent()
    return reasons


# --- Markup features for the line model (transforms/boilerplate/line_model.py) ------

# Class/id tokens of containers that hold chrome on many sites, and of those
# that hold the article; counted, not trusted, by the model.
_CHROME_HINTS = CHROME_TOKENS | frozenset({
    "teaser", "widget", "sidebar", "caption", "credit", "meta", "info", "more", "card",
    "list", "item", "links", "box", "aside", "banner", "cta", "signup", "follow", "bio",
    "image", "photo", "media", "figure", "date", "time", "topics", "topic", "label"})
_BODY_HINTS = frozenset({"article", "content", "body", "text", "story", "entry", "post",
                         "main", "paragraph", "richtext", "prose"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SECTIONS = ("aside", "nav", "header", "footer", "figure", "form")
ANCESTOR_DEPTH = 6

MARKUP_FEATURES = (
    "m_found", "m_tag_p", "m_tag_li", "m_tag_heading", "m_tag_caption", "m_tag_link",
    "m_tag_other", "m_link_density", "m_in_link", "m_in_list", *(f"m_in_{t}" for t in _SECTIONS),
    "m_chrome_hints", "m_body_hints", "m_log_siblings", "m_parent_link_density",
)


def _link_chars(element: Any) -> int:
    return sum(len(a.text_content() or "") for a in element.iter("a"))


def _element_features(element: Any, texts: dict[Any, str]) -> list[float]:
    tag = element.tag if isinstance(element.tag, str) else ""
    text = texts.get(element, "")
    chars = max(1, len(text))
    ancestors = []
    node = element.getparent()
    while node is not None and len(ancestors) < ANCESTOR_DEPTH and node.tag not in ("body",
                                                                                     "html"):
        ancestors.append(node)
        node = node.getparent()
    path_tags = {a.tag for a in ancestors}
    chrome = sum(len(_tokens(n) & _CHROME_HINTS) for n in (element, *ancestors))
    body = sum(len(_tokens(n) & _BODY_HINTS) for n in (element, *ancestors))
    parent = element.getparent()
    siblings = sum(1 for c in parent if c.tag == tag) if parent is not None else 1
    parent_text = texts.get(parent) if parent is not None else None
    parent_density = (min(1.0, _link_chars(parent) / len(parent_text))
                      if parent_text else 0.0)
    return [
        1.0,
        float(tag == "p"), float(tag == "li"), float(tag in _HEADINGS),
        float(tag in ("figcaption", "caption")), float(tag == "a"),
        float(tag not in ("p", "li", "a", "figcaption", "caption") and tag not in _HEADINGS),
        min(1.0, _link_chars(element) / chars),
        float("a" in path_tags),
        float(bool(path_tags & {"ul", "ol"})),
        *(float(t in path_tags) for t in _SECTIONS),
        float(chrome), float(body),
        math.log1p(siblings),
        parent_density,
    ]


def markup_features(homes: LineHomes | None, count: int,
                    wanted: Callable[[int], bool] = lambda index: True) -> list[list[float]]:
    """One row per line in the order of :data:`MARKUP_FEATURES`; zeros for a
    line with no home in the page (or no page), and for lines not ``wanted``."""
    empty = [0.0] * len(MARKUP_FEATURES)
    if homes is None:
        return [list(empty) for _ in range(count)]
    return [_element_features(e, homes.texts) if e is not None and wanted(i) else list(empty)
            for i, e in enumerate(homes.elements)]
