"""Text helpers shared by the stages: paragraphs and word counts."""
from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_WORD = re.compile(r"\w+", re.UNICODE)


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
