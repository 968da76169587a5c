"""Plain text for the short fields kept from a feed, HTML for the long ones.

Titles, author names, tags and guids become Parquet columns that readers
show and filter as text.  feedparser hands over a title the feed typed html
or xhtml (``title_detail.type``) as markup, so ``<b>&#38;</b>`` or
``Q&amp;A session`` used to reach the lake as is.  Its loose parser (for
feeds that are not well-formed XML) also leaves entity references in the
fields it has no type for (authors, tags, guids).  Markup becomes text
here with lxml, which decodes every HTML entity and drops every tag;
text/plain is taken as it is.  Either way the result is one sanitized NFC
line.

Summaries and content stay HTML, because extraction parses them later as
fallback bodies (``transforms.extract.html_fragment_text``); a plain-text
one is escaped so that parse gives back exactly its text.
"""
from __future__ import annotations

import html
import re
import unicodedata

import lxml.html
from lxml import etree

from transforms.lib.text import clean_line, sanitize

PLAIN_TYPES = frozenset({"text/plain", "text", "plain"})
_SEPARATED = frozenset({"br", "p", "div", "li", "ul", "ol", "dt", "dd", "tr", "td", "th",
                        "table", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
                        "section", "article", "header", "footer", "hr"})
_INVISIBLE = ".//script|.//style|.//noscript|.//template"
_TAG = re.compile(r"<[^>]*>")
# &#128; to &#159; mean windows-1252 characters to browsers (HTML5), and
# C1 controls to libxml2, which would then be sanitized away.
_C1_REFERENCE = re.compile(r"&#(?:0*(?:12[89]|1[3-5][0-9])|[xX]0*[89][0-9a-fA-F]);")
_NAME_AND_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>\s@]+@[^<>\s]+)>$")
_ADDRESS_AND_NAME = re.compile(r"^(?P<address>[^()\s@]+@[^()\s]+)\s*\((?P<name>[^()]*)\)$")


def is_markup(content_type: object) -> bool:
    """Whether a feedparser ``*_detail.type`` means markup.  Anything not
    plain text counts: an unknown type is safer stripped than shown."""
    return not isinstance(content_type, str) or content_type.strip().lower() not in PLAIN_TYPES


def line(value: object, markup: bool = False) -> str | None:
    """``value`` as one line of plain text, or None if it is not a string
    or has no text.  ``markup`` says it is HTML (tags dropped, entities
    decoded); otherwise it is taken as it is."""
    if not isinstance(value, str):
        return None
    return clean_line(html_to_text(value) if markup else value)


def html_to_text(markup: str) -> str:
    """The text an HTML fragment shows, blocks separated by spaces."""
    markup = sanitize(markup)
    if "<" not in markup and "&" not in markup:
        return markup
    markup = _C1_REFERENCE.sub(lambda ref: html.unescape(ref.group(0)), markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return html.unescape(_TAG.sub(" ", markup))
    for hidden in root.xpath(_INVISIBLE):
        hidden.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _SEPARATED:
            element.tail = " " + (element.tail or "")
            element.text = " " + (element.text or "")
    return root.text_content()


def author_name(value: object, markup: bool = False) -> str | None:
    """A person's name from "Jane Doe", "Jane Doe <jane@x.org>" or
    "jane@x.org (Jane Doe)"; the address alone if there is no name."""
    name = line(value, markup)
    if name is None:
        return None
    for pattern in (_NAME_AND_ADDRESS, _ADDRESS_AND_NAME):
        match = pattern.match(name)
        if match:
            return match.group("name").strip() or match.group("address")
    return name


def fragment(value: object, markup: bool = True) -> str | None:
    """A summary or content as a sanitized HTML fragment, or None."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFC", sanitize(value)).strip()
    if not text:
        return None
    return text if markup else html.escape(text, quote=False)
