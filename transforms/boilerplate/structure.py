"""Line shapes that are never article prose, in any language."""
from __future__ import annotations

import re

from transforms.lib.text import normalise

_URL_ONLY = re.compile(r"^\W*(?:https?://|www\.)\S+\W*$", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_HANDLE = re.compile(r"(?:^|\s)@\w{2,}")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Shortcode names are lower case ("[caption]", "[/button]"); "[Engadget]" is a source.
_SHORTCODE = re.compile(r"^\s*\[/?[a-z_-]+(?:\s[^\]]*)?\].*$")
# Tokens a date or time is made of: numbers with separators, am/pm, zones.
_TIME_TOKEN = re.compile(
    r"^(?:\d[\d:./\-T+]*z?|[ap]m?|gmt|utc|cet|cest|mez|mesz|[ecmp][sd]t|bst|ist|jst|kst|msk|"
    r"uhr|h|t)$", re.IGNORECASE)


_CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b")
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_DAY = re.compile(r"(?<![\d,.])\b\d{1,2}\b(?![\d,.]\d)")
_PHONE = re.compile(r"^\s*\+?\(?\d[\d\s()./-]{7,}$")
_LABEL = re.compile(r"^\s*\w+(?:\s\w+)?\s*:\s")
# "(dpa)", "(dmk)", "(Quelle: APA/sda/dpa)", "(AP)": agency and author tags.
_SOURCE_TAG = re.compile(r"^\(\s*(?:\w+\s*:\s*)?[\w][\w./,&+ -]{0,40}\)\.?$")
MAX_SOURCE_TAG_WORDS = 5
# "- nytimes.com: Behind the Seized Tanker": a source list's entry.
_CITATION = re.compile(r"^[-•*–·]?\s*(?:www\.)?[\w-]+(?:\.[\w-]+)*\.[a-z]{2,6}\s*:\s",
                       re.IGNORECASE)



def is_url_only(line: str) -> bool:

    return bool(_URL_ONLY.match(line))


def is_shortcode(line: str) -> bool:
    """CMS shortcodes that leaked as text, e.g. ``[button link=...]Send[/button]``."""
    return bool(_SHORTCODE.match(line))


def _is_phone(line: str) -> bool:
    """"+81 158-23-2012", "(555) 123-4567": digits and separators only, with a
    country code or more digits than a date has."""
    return bool(_PHONE.match(line)) and (line.strip().startswith("+")
                                         or sum(ch.isdigit() for ch in line) >= 9)


def is_timestamp(line: str) -> bool:
    """A line that is a date or time and little else
    ("Updated at 1:23 p.m.", "18.05.2026", "2019-11-19T08:57:40+01:00")."""
    words = normalise(line.replace(":", " : ")).split()
    if not words or len(words) > 10 or _is_phone(line):
        return False
    clock_or_date = bool(_CLOCK.search(line) or _DATE.search(line))
    if not clock_or_date and not (_YEAR.search(line) and _DAY.search(line)):
        return False
    raw_tokens = re.split(r"[\s,;|()\[\]]+", line.strip().lower())
    others = [t for t in raw_tokens if t and not _TIME_TOKEN.match(t.strip(".:"))
              and len(normalise(t)) > 1]
    # "24 April 2024" may keep its month name, "Updated: Tue., Nov. 19, 2019"
    # its label and weekday; anything wordier is a sentence.
    return len(others) <= (3 if clock_or_date or _LABEL.match(line) else 1)


def is_source_tag(line: str) -> bool:
    """A line that is only an agency or author tag in brackets."""
    line = line.strip()
    return bool(_SOURCE_TAG.match(line)) and len(normalise(line).split()) <= MAX_SOURCE_TAG_WORDS


def is_citation(line: str) -> bool:
    """An entry of the article's source list, named by the source's domain."""
    return bool(_CITATION.match(line))


def has_contact(line: str) -> bool:
    """An e-mail address, a social handle or a URL inside the line."""
    return bool(_EMAIL.search(line) or _HANDLE.search(line) or _URL.search(line))


def is_list_item(line: str) -> bool:
    return line.startswith(("- ", "• ", "* ", "– ", "· "))
