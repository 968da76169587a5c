"""Evidence from the page's markup: a line whose element sits in a small,
labelled container (``class="byline"``, ``id="breadcrumbs"``,
``class="related-posts"``) or in an image caption (``<figcaption>``) is
chrome whatever its language.

Only *small* containers count: WordPress labels the whole ``<article>``
with ``category-news tag-politics``, so a container holding a sizeable
share of the article's text is never taken as evidence against its lines.
"""
from __future__ import annotations

import re
from typing import Any

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


def chrome_by_markup(tree: Any, lines: list[str]) -> dict[int, str]:
    """Line index -> reason, for lines that live in small chrome containers."""
    if tree is None or not lines:
        return {}
    wanted = {normalise(line.lstrip(_LIST_MARK)): i for i, line in enumerate(lines)}
    wanted.pop("", None)
    limit = int(SMALL_SHARE * sum(len(line) for line in lines))
    texts = _small_texts(tree, max(limit, MAX_LINE_CHARS))
    found: dict[str, Any] = {}
    for element, text in texts.items():
        if len(text) <= MAX_LINE_CHARS and text.strip():
            key = normalise(text)
            if key in wanted:
                found.setdefault(key, element)
    reasons: dict[int, str] = {}
    for key, element in found.items():
        node = element
        while node is not None and node.tag not in ("body", "html"):
            text = texts.get(node)
            if text is None or len(text) > limit:
                break
            if node.tag in CHROME_TAGS:
                reasons[wanted[key]] = f"markup:{node.tag}"
                break
            hit = _tokens(node) & CHROME_TOKENS
            if hit:
                reasons[wanted[key]] = f"markup:{min(hit)}"
                break
            node = node.getparent()
    return reasons
