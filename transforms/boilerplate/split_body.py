"""Rejoining an article body that the page splits into sibling containers.

Many templates cut the body into several containers of the same kind so
that adverts or embeds can sit between them (Condé Nast's
``body__inner-container``, ``articleBody`` blocks).  trafilatura keeps the
container it scored best and loses the rest: on the corpora, half or more
of such an article (recall 0.35 to 0.47 on the four pages affected).  The
evidence here is structural and language-free: the container that holds
the extracted paragraphs has a class signature, and other elements with
exactly that signature which hold prose are the rest of the same body.

A sibling is taken only when it reads like body text (several paragraphs,
most words in long ones), so a template that reuses one class for menus,
teaser lists or footers gains nothing; and only when the signature is
rare on the page and placed like the body's own container, so grid cells,
sidebar blocks and the other posts of a listing are never swept in.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from transforms.lib.text import normalise, word_count

# Elements whose text is one paragraph of the body.
PARAGRAPH_TAGS = ("p", "h2", "h3", "h4", "li", "blockquote", "pre")
_PARAGRAPHS = frozenset(PARAGRAPH_TAGS)
_INVISIBLE = frozenset({"script", "style", "noscript", "template"})
# The container must hold at least this share of the extracted words to
# stand for the body.
MIN_OWNER_SHARE = 0.5
# More look-alikes than this are a grid or a list of cards, not a body.
MAX_SIBLINGS = 5
# A sibling reads like body text when it has this many paragraphs, this
# many words, and this share of its words in paragraphs this long.
MIN_PARAGRAPHS = 3
MIN_WORDS = 60
LONG_PARAGRAPH_WORDS = 15
MIN_LONG_SHARE = 0.75


def _text(element: Any) -> str:
    """Visible text of ``element`` (scripts and styles skipped), spaces folded."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node.tag, str) and node.tag in _INVISIBLE:
            return
        if isinstance(node.tag, str):
            parts.append(node.text or "")
            for child in node:
                walk(child)
                parts.append(child.tail or "")

    walk(element)
    return " ".join("".join(parts).split())


def _kind(element: Any) -> tuple[str, tuple[str, ...]]:
    return element.tag, tuple(sorted((element.get("class") or "").split()))


def _signature(element: Any) -> tuple[str, tuple[str, ...]] | None:
    """The container's kind, when it has a class to tell it by."""
    kind = _kind(element)
    return kind if kind[1] else None


def _paragraphs(container: Any) -> list[tuple[Any, str]]:
    """The outermost paragraph elements in ``container`` with their text."""
    found = []
    for element in container.iter(*PARAGRAPH_TAGS):
        parent = element.getparent()
        nested = False
        while parent is not None and parent is not container:
            if parent.tag in _PARAGRAPHS:
                nested = True
                break
            parent = parent.getparent()
        if not nested:
            text = _text(element)
            if text:
                found.append((element, text))
    return found


def _reads_like_body(paragraphs: list[str]) -> bool:
    words = [word_count(p) for p in paragraphs]
    long_words = sum(w for w in words if w >= LONG_PARAGRAPH_WORDS)
    return (len(paragraphs) >= MIN_PARAGRAPHS and sum(words) >= MIN_WORDS
            and long_words >= MIN_LONG_SHARE * sum(words))


def _same_branch(owner: Any, sibling: Any) -> bool:
    """Whether ``sibling`` sits where the body's next part would: neither
    contains the other, the paths from their nearest common ancestor down
    to each are made of the same kinds of element (a sidebar block that
    reuses the body's class is not), and no ``<article>`` on the sibling's
    path marks it as another post of a listing."""
    owner_path = list(owner.iterancestors())
    sibling_path = []
    for ancestor in sibling.iterancestors():
        if ancestor is owner:
            return False
        if any(ancestor is a for a in owner_path):
            common = next(i for i, a in enumerate(owner_path) if a is ancestor)
            return ([_kind(a) for a in owner_path[:common]]
                    == [_kind(a) for a in sibling_path]
                    and all(a.tag != "article" for a in sibling_path))
        sibling_path.append(ancestor)
    return False


def rejoin(tree: Any, lines: list[str]) -> tuple[list[str], int]:
    """``lines`` with the paragraphs of the body's sibling containers put
    back in document order, and how many paragraphs were added."""
    if tree is None or not lines:
        return lines, 0
    keys = {normalise(line) for line in lines} - {""}
    owners: Counter = Counter()
    home: dict[str, Any] = {}
    for element in tree.iter(*PARAGRAPH_TAGS):
        # itertext() is fast; a script inside a paragraph only spoils the match.
        text = "".join(element.itertext())
        key = normalise(text)
        if key in keys:
            owners[element.getparent()] += word_count(text)
            home.setdefault(key, element)
    if not owners:
        return lines, 0
    owner, owned = owners.most_common(1)[0]
    signature = _signature(owner)
    if signature is None or owned < MIN_OWNER_SHARE * sum(map(word_count, lines)):
        return lines, 0
    siblings = [e for e in tree.iter(owner.tag) if e is not owner and _signature(e) == signature]
    if not siblings or len(siblings) > MAX_SIBLINGS:
        return lines, 0
    found = []
    for sibling in siblings:
        if not _same_branch(owner, sibling):
            continue
        paragraphs = [(e, t) for e, t in _paragraphs(sibling) if normalise(t) not in keys]
        if _reads_like_body([t for _, t in paragraphs]):
            found.extend(paragraphs)
    if not found:
        return lines, 0
    return _in_document_order(tree, lines, home, found), len(found)


def _in_document_order(tree: Any, lines: list[str], home: dict[str, Any],
                       found: list[tuple[Any, str]]) -> list[str]:
    """Merge the extracted lines (placed where their element is, or right
    after the line before them when no element matched) with the found
    paragraphs."""
    order = {element: index for index, element in enumerate(tree.iter())}
    placed: list[tuple[float, int, str]] = []
    position = -1.0
    for index, line in enumerate(lines):
        element = home.get(normalise(line))
        position = float(order[element]) if element is not None else position
        placed.append((position, index, line))
    placed += [(float(order[e]), len(lines) + i, t) for i, (e, t) in enumerate(found)]
    return [line for _, _, line in sorted(placed)]
