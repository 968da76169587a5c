"""Turning page bytes into safe text.

The charset comes from the Content-Type header, then the document's own
``<meta>`` declaration, then statistical detection; whatever codec wins,
the result never carries NUL bytes, C0 control characters or lone
surrogates, which would make pyarrow raise or poison the lake for readers.
"""
from __future__ import annotations

import codecs
import re

import charset_normalizer

from transforms.lib.text import sanitize

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9._:-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
# Codecs a hostile page could name to smuggle markup past text filters
# (UTF-7), or that turn escape sequences in the text into characters.
_REFUSED_CODECS = {"utf-7", "utf_7", "u7", "unicode-1-1-utf-7", "unicode-escape",
                   "raw-unicode-escape", "unicode_escape", "raw_unicode_escape"}


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in _REFUSED_CODECS:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # unknown, or a name with a NUL in it
        return None
    if info.name in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True):
        return None
    try:
        # Pseudo-codecs (idna, punycode, undefined) cannot decode arbitrary
        # bytes with replacement; a page naming one falls back to detection.
        b"<p>\xff\x80</p>".decode(info.name, errors="replace")
    except (UnicodeError, LookupError, TypeError, ValueError):
        return None
    # Browsers decode "iso-8859-1" and "ascii" as windows-1252 (WHATWG).
    if info.name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return info.name


def sniff_charset(body: bytes, header_charset: str | None) -> str:
    """The codec to decode ``body`` with: BOM, header, meta, then detection."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    for candidate in (header_charset, _meta_charset(body)):
        codec = _codec(candidate)
        if codec:
            return codec
    best = charset_normalizer.from_bytes(body[:65536]).best()
    return _codec(best.encoding if best else None) or "utf-8"


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:8192])
    return match.group(1).decode("ascii", "replace") if match else None


def looks_binary(body: bytes) -> bool:
    """True for bytes no HTML document is made of (images, archives, PDFs
    served as text/html).  UTF-16/32 text has NULs but starts with a BOM."""
    head = body[:4096]
    if not head or any(head.startswith(bom) for bom, name in _BOMS if name != "utf-8"):
        return False
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return head.count(0) > len(head) // 100 or controls > len(head) // 10


def _replacements(text: str) -> float:
    return text.count("\ufffd") / max(1, len(text))


def decode(body: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Decode ``body`` to safe text; returns the text and the codec used.

    A declared charset that garbles more than 1% of the text (a page that
    says UTF-8 but is Latin-2, say) loses to statistical detection.
    """
    codec = sniff_charset(body, header_charset)
    text = body.decode(codec, errors="replace")
    if _replacements(text) > 0.01:
        best = charset_normalizer.from_bytes(body[:65536]).best()
        detected = _codec(best.encoding if best else None)
        if detected and detected != codec:
            retry = body.decode(detected, errors="replace")
            if _replacements(retry) < _replacements(text):
                text, codec = retry, detected
    if text.startswith("\ufeff"):

        text = text[1:]
    return sanitize(text), codec
