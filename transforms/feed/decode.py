"""Feed bytes to text by fixed rules, before feedparser sees them.

Left to itself, feedparser falls back to windows-1252 (or to chardet, if it
happens to be installed), so a feed in Shift-JIS, EUC-KR or KOI8-R that
declares nothing came out as mojibake full of C1 controls, was given a
wrong language, and no dead letter said so.  Here the order is fixed and
every step is checked:

1. the byte order mark;
2. the HTTP charset, then the XML declaration's encoding;
3. UTF-8;
4. UTF-8 with a few broken bytes, if the rest is plainly UTF-8;
5. charset-normalizer's detection.

A candidate wins only if it decodes the whole body strictly, garbles at
most 1% of it (into U+FFFD, or C1 controls for a single-byte charset),
and fits how the first bytes are laid out (a body
that starts ``<?xml`` in ASCII cannot be UTF-16, whatever it declares).  A
valid multi-byte UTF-8 body that claims a single-byte charset is UTF-8:
that is the most common charset lie.  A body no rule decodes is a
``bad_encoding`` problem.  The text is then sanitized (no NUL, C0 or C1
controls, lone surrogates or noncharacters), and an XML document goes to
feedparser as UTF-8 whose declaration says so, leaving it nothing to guess.
"""
from __future__ import annotations

import codecs
import dataclasses
import re

import charset_normalizer

from transforms.feed.model import FeedProblem
from transforms.lib.text import sanitize

UTF8_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
ASCII = "ascii"
# What "<?xml" looks like in each byte layout the XML spec (appendix F) names.
_PROBE = "<?xml"
_EBCDIC_START = _PROBE.encode("cp037")[:4]
_DECLARED = re.compile(r"""\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']\s*([A-Za-z0-9._:+-]{1,40})""")
_XML_DECLARATION = re.compile(r"\A\s*<\?xml(?=[\s?])[^>]*>")
# Names feeds use that Python spells differently.
_ALIASES = {"ucs-2": "utf-16", "iso-10646-ucs-2": "utf-16", "csunicode": "utf-16",
            "ucs-4": "utf-32", "iso-10646-ucs-4": "utf-32", "csucs4": "utf-32",
            "windows-31j": "cp932", "x-sjis": "cp932", "x-mac-cyrillic": "mac-cyrillic",
            "x-gbk": "gb18030", "x-euc-jp": "euc_jp"}
# Declared charsets tried as their usual superset first: what browsers do,
# and what servers mean (windows-1252 quotes in "iso-8859-1" feeds).
_SUPERSETS = {"iso8859-1": ("cp1252", "iso8859-1"), "ascii": ("cp1252", "iso8859-1"),
              "gb2312": ("gb18030",), "gbk": ("gb18030",), "euc_kr": ("cp949", "euc_kr"),
              "shift_jis": ("cp932", "shift_jis")}
# Codecs that are not charsets, or that smuggle markup past text filters.
_REFUSED = frozenset({"utf-7", "unicode-escape", "raw-unicode-escape", "idna", "punycode",
                      "undefined", "charmap"})
# UTF-8 for "é—č€": a single-byte codec decodes it to as many characters as bytes.
_MULTIBYTE_PROBE = "é—č€".encode()
_MAX_GARBLE = 0.01
_DETECT_BYTES = 65536
_C1 = re.compile("[\x80-\x9f]")


@dataclasses.dataclass(frozen=True)
class Decoded:
    text: str
    codec: str


def decode_feed(body: bytes, content_type: str | None = None) -> Decoded:
    """``body`` as sanitized text, by the rules in the module docstring.

    ``content_type`` is the HTTP Content-Type header (None for files).
    Raises :class:`FeedProblem` ``bad_encoding`` when nothing decodes it.
    """
    bom, payload = _strip_bom(body)
    layout = _layout(payload) if bom is None else (ASCII if bom == "utf-8" else bom)
    utf8 = _valid_multibyte_utf8(payload) if layout == ASCII else False
    names = (bom, header_charset(content_type), _declared(payload, layout),
             "utf-8" if layout == ASCII else layout)
    for codec in _codecs(names, layout):
        if utf8 and codec != "utf-8" and _single_byte(codec):
            continue
        text = _strict(payload, codec)
        if text is not None:
            return _finish(text, codec)
    text = _mostly_utf8(payload) if layout == ASCII else None
    if text is not None:
        return _finish(text, "utf-8")
    detected = _detect(payload, layout)
    if detected is not None:
        return detected
    raise FeedProblem("bad_encoding",
                      "cannot decode the feed: no declared, UTF-8 or detected charset fits "
                      "its bytes")


def utf8_xml(text: str) -> bytes:
    """``text`` as UTF-8 bytes whose XML declaration says utf-8."""
    rest, replaced = _XML_DECLARATION.subn("", text, count=1)
    return (UTF8_DECLARATION + ("" if replaced else "\n") + rest).encode("utf-8")


def header_charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _detect(payload: bytes, layout: str) -> Decoded | None:
    """charset-normalizer's guess, if it decodes the whole body strictly."""
    for sample in _samples(payload):
        best = charset_normalizer.from_bytes(sample).best()
        for codec in _codecs((best.encoding if best else None,), layout):
            text = _strict(payload, codec)
            if text is not None:
                return _finish(text, codec)
    return None


def _samples(payload: bytes) -> tuple[bytes, ...]:
    """What detection looks at: the first 64 KiB (cut at a line end), then,
    if that guess does not decode the whole body, all of it."""
    if len(payload) <= _DETECT_BYTES:
        return (payload,)
    cut = payload.rfind(b"\n", 0, _DETECT_BYTES)
    return payload[:cut if cut > 0 else _DETECT_BYTES], payload


def _strip_bom(body: bytes) -> tuple[str | None, bytes]:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, body[len(bom):]
    return None, body


def _layout(payload: bytes) -> str:
    """The byte layout of the first characters (XML 1.0, appendix F)."""
    if len(payload) < 4:
        return ASCII
    a, b, c, d = payload[:4]
    if a == b == c == 0 and d:
        return "utf-32-be"
    if a and b == c == d == 0:
        return "utf-32-le"
    if a == c == 0 and b and d:
        return "utf-16-be"
    if a and c and b == d == 0:
        return "utf-16-le"
    if payload.startswith(_EBCDIC_START):
        return "cp037"
    return ASCII


def _declared(payload: bytes, layout: str) -> str | None:
    head = payload[:1024].decode(layout if layout != ASCII else "latin-1", errors="replace")
    match = _DECLARED.match(head)
    return match.group(1) if match else None


def _codecs(names: tuple[str | None, ...], layout: str) -> list[str]:
    """Python codec names for ``names``, in order, without duplicates, each
    one allowed and consistent with ``layout``."""
    out: list[str] = []
    for name in names:
        for codec in _expand(name, layout):
            if codec not in out and _fits(codec, layout):
                out.append(codec)
    return out


def _expand(name: str | None, layout: str) -> tuple[str, ...]:
    if not name:
        return ()
    name = name.strip().lower()
    try:
        info = codecs.lookup(_ALIASES.get(name, name))
    except LookupError:
        return ()
    if info.name in _REFUSED or not getattr(info, "_is_text_encoding", True):
        return ()
    if info.name in ("utf-16", "utf-32", "utf-8-sig"):
        # Byte order comes from the BOM or the layout, not from the name.
        same_family = layout.startswith(info.name[:6])
        return (layout if same_family else info.name.replace("-sig", ""),)
    return _SUPERSETS.get(info.name, (info.name,))


def _fits(codec: str, layout: str) -> bool:
    try:
        return _PROBE.encode(codec) == _PROBE.encode(layout)
    except (UnicodeError, LookupError):
        return False


def _single_byte(codec: str) -> bool:
    return len(_MULTIBYTE_PROBE.decode(codec, errors="replace")) == len(_MULTIBYTE_PROBE)


def _valid_multibyte_utf8(payload: bytes) -> bool:
    if payload.isascii():
        return False
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _garbled(text: str, codec: str = "utf-8") -> bool:
    """More than 1% replacement characters, or for a single-byte charset
    C1 controls: no real text holds them, but a wrong charset makes them.
    (A valid UTF-8 body with C1 controls is UTF-8 gone through Latin-1;
    its controls are sanitized away, its other characters are right.)"""
    bad = text.count("\ufffd")
    if _single_byte(codec):
        bad += len(_C1.findall(text))
    return bad > _MAX_GARBLE * max(1, len(text))


def _strict(payload: bytes, codec: str) -> str | None:
    try:
        text = payload.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    return None if _garbled(text, codec) else text


def _mostly_utf8(payload: bytes) -> str | None:
    """UTF-8 with a few broken bytes (a description cut mid-character):
    at most 1% replaced, and more valid multi-byte characters than broken
    bytes, so a windows-1252 body with a few quotes does not qualify."""
    text = payload.decode("utf-8", errors="replace")
    if _garbled(text):
        return None
    broken = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - broken
    return text if valid > broken else None


def _finish(text: str, codec: str) -> Decoded:
    return Decoded(sanitize(text.removeprefix("\ufeff")), codec)
