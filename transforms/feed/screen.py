"""Refusing XML feeds that declare entities, judged by a real XML parser.

Entity declarations are how billion-laughs, quadratic-blowup and external
entity (XXE) attacks work, and a news feed never needs its own.  The old
screen grepped the first 8 KiB of raw bytes, which UTF-16, a DOCTYPE after
8 KiB and a ``]>`` inside a comment all walked past, and expat then
expanded a 30 KB feed into a 7 MB summary.

This screen asks defusedxml's expat instead, on exactly what feedparser
will parse.  feedparser converts the document (``convert_to_utf8``), then
rewrites its DOCTYPE (``replace_doctype``): its strict SAX parser (expat)
reads the result, and if that fails, its loose parser runs with the
"safe" entities ``replace_doctype`` kept.  So a document is refused if

- ``replace_doctype`` keeps any entity (the loose parser would expand it);
- defusedxml sees an entity declaration, or a reference to an external
  entity, in the bytes the strict parser gets;
- or it sees one in the document as given, before ``replace_doctype``
  mangled its DOCTYPE (the declaration is then harmless, but the feed is
  the attack it looks like, and says so in its dead letter).

A document that is simply not well-formed is not refused: feedparser's
loose parser takes over, and it expands no entity but the kept ones.  An
external DTD subset (``<!DOCTYPE rss PUBLIC ... "rss-0.91.dtd">``) is not
refused either: feedparser never loads it, and RSS 0.91 feeds carry one.
Declarations can only come before the root element, so the scan stops there.
"""
from __future__ import annotations

import io
import re
import xml.sax
from typing import Mapping

from defusedxml.common import EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.expatreader import DefusedExpatParser
from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

from transforms.feed.model import FeedProblem

REFUSED = "xml_entities_forbidden"


class _RootReached(Exception):
    """The prolog is over: no declaration can follow."""


class _StopAtRoot(xml.sax.handler.ContentHandler):
    def startElement(self, name, attrs):  # noqa: N802 - SAX API
        raise _RootReached

    def startElementNS(self, name, qname, attrs):  # noqa: N802 - SAX API
        raise _RootReached


class _Scanner(DefusedExpatParser):
    """defusedxml's expat: entity declarations and external entity
    references raise; the external DTD subset is skipped, as feedparser does."""

    def __init__(self):
        super().__init__(forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.setFeature(xml.sax.handler.feature_namespaces, True)  # as feedparser parses
        self.setContentHandler(_StopAtRoot())

    def defused_external_entity_ref_handler(self, context, base, sysid, pubid):
        if context is None:  # the external DTD subset: never loaded
            return 1
        return super().defused_external_entity_ref_handler(context, base, sysid, pubid)


def feedparser_input(document: bytes, headers: Mapping[str, str]) -> tuple[bytes, dict]:
    """What feedparser's strict parser reads for ``document`` served with
    ``headers``, and the entities its loose parser would be given."""
    converted = convert_to_utf8(dict(headers), document, {})
    _version, strict_input, entities = replace_doctype(converted)
    return strict_input, entities


def screen_xml(document: bytes, headers: Mapping[str, str] | None = None) -> None:
    """Raise :class:`FeedProblem` if ``document`` declares XML entities.

    ``headers`` must be the response headers feedparser will be given.
    """
    try:
        strict_input, entities = feedparser_input(document, headers or {})
    except re.error as exc:
        # replace_doctype splices the declarations it keeps into a regex
        # replacement template; a backslash in one makes that raise.
        raise FeedProblem(REFUSED, f"feed declares XML entities feedparser cannot even "
                                   f"rewrite ({exc})") from None
    if entities:
        raise FeedProblem(REFUSED, f"feed declares XML entities ({', '.join(sorted(entities))})")
    for data in (strict_input, document):
        found = _declaration(data)
        if found:
            raise FeedProblem(REFUSED, f"feed declares XML entities "
                                       f"(billion laughs / XXE guard): {found}")


def _declaration(data: bytes) -> str | None:
    """What defusedxml refused in ``data``'s prolog, or None."""
    try:
        _Scanner().parse(io.BytesIO(data))
    except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
        return str(exc)[:300]
    except (_RootReached, xml.sax.SAXException):
        return None
    return None
