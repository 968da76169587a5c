"""Text helpers shared by the stages: safe text, short fields, paragraphs,
word counts, and the folded forms lines are compared in."""
from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)
# C0 controls (but tab, newline, carriage return), DEL, C1 controls (the
# 8-bit CSI \x9b starts terminal escapes; legitimate text never holds any),
# lone surrogates (pyarrow cannot encode them) and the two noncharacters.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ANY_SPACE = re.compile(r"\s+")
# Bidirectional overrides and isolates: harmless in stored text, but on a
# terminal they reorder what the reader sees ("Trojan Source").
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def sanitize(text: str) -> str:
    """``text`` without the characters that must never reach Parquet, the
    state directory or a reader: controls other than tab and line breaks,
    and lone surrogates (which also arrive from undecodable header bytes)."""
    return _UNSAFE.sub("", text)


def one_line(value: object, limit: int | None = None) -> str:
    """A server-controlled value (reason phrase, header, message) as one safe
    line: sanitized, every run of whitespace a single space, at most
    ``limit`` characters."""
    text = _ANY_SPACE.sub(" ", sanitize(str(value))).strip()
    return text[:limit] if limit is not None else text


def printable(value: object) -> str:
    """Safe to print on a terminal: no escape sequences, no bidi tricks."""
    return _BIDI_CONTROLS.sub("", sanitize(str(value)))


def paragraphs(text: str) -> list[str]:
    """Non-empty lines of ``text`` with runs of spaces folded, in Unicode
    NFC (pages mix composed and decomposed accents; readers compare the
    composed form)."""
    out = []
    for line in unicodedata.normalize("NFC", text).splitlines():
        line = _SPACE.sub(" ", line).strip()
        if line:
            out.append(line)
    return out


def join_paragraphs(lines: list[str]) -> str:
    """The article text format: paragraphs separated by blank lines."""
    return "\n\n".join(lines)


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def clean_line(value: object) -> str | None:
    """A short text field (a title, an author, a tag, page metadata) as one
    sanitized NFC line, or None if it is not a string or holds no text."""
    if not isinstance(value, str):
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", sanitize(value)).split())
    return cleaned or None


def fold(text: str) -> str:
    """NFKC, case-folded, runs of space folded; punctuation kept."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def normalise(line: str) -> str:
    """The form lines are compared in: NFKC, case-folded, punctuation and
    symbols turned into single spaces ("ZDIEĽATEĽNÁ URL:" = "Zdieľateľná URL")."""
    text = unicodedata.normalize("NFKC", line).casefold()
    return _NON_WORD.sub(" ", text).strip()
