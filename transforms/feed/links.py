"""The one check every entry link passes, whatever the feed format.

Entry links are fetched next, so only an absolute http(s) URL with a host
may become an entry; anything else is an ``unsupported_link`` dead letter.
JSON Feed links used to skip the check RSS links had, and ``javascript:``,
``file:``, relative and non-string URLs became article rows.

A relative or protocol-relative link is resolved against the feed's base:
the URL it was fetched from, or a base the document names (xml:base for
RSS and Atom, applied by feedparser; ``home_page_url`` for JSON Feed).  A
feed read from a file has no base, and inventing one would invent URLs, so
there a relative link is a dead letter.
"""
from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from transforms.feed.model import Problem
from transforms.http.guard import ALLOWED_SCHEMES
from transforms.lib.text import sanitize

UNSUPPORTED = "unsupported_link"
# Browsers drop tabs and line breaks inside URLs, and send a space as %20
# (WHATWG URL parsing).
_URL_NOISE = re.compile("[\t\r\n]")
# "https:///x" means host x to browsers and to feedparser, which rewrites
# RSS and Atom links so; JSON Feed links get the same reading.
_EXTRA_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)/+")
_BAD_HOST = re.compile(r"""[\s<>"'{}|\\^`%]""")
_MAX_SHOWN = 200
_MAX_URL = 2048


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a sane host and port."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (parts.scheme.lower() in ALLOWED_SCHEMES and bool(host)
            and not _BAD_HOST.search(host))


def base_url(location: str, named: object = None) -> str | None:
    """The base for relative links of a feed fetched from ``location``:
    ``named`` (a base the document gives) resolved against it, if that is a
    web URL; else ``location`` itself.  None for a feed that is not on the
    web, which has no base."""
    if not is_web_url(location):
        return None
    if isinstance(named, str) and named.strip():
        try:
            joined = urljoin(location, _URL_NOISE.sub("", sanitize(named)).strip())
        except ValueError:
            joined = ""
        if is_web_url(joined):
            return joined
    return location


def entry_link(raw: object, base: str | None, feed_url: str) -> tuple[str | None, Problem | None]:
    """The entry's link, resolved against ``base`` and checked.

    Returns (link, None) for a usable link, (None, problem) for one that is
    not, and (None, None) when the entry has no link at all.
    """
    if raw is None:
        return None, None
    if not isinstance(raw, str):
        return None, (UNSUPPORTED, feed_url,
                      f"entry link is a {type(raw).__name__}, not a URL: {raw!r:.{_MAX_SHOWN}}")
    link = _URL_NOISE.sub("", sanitize(raw)).strip().replace(" ", "%20")
    link = _EXTRA_SLASHES.sub(r"\1", link)
    if not link:
        return None, None
    if base is None and not _has_scheme(link):
        return None, (UNSUPPORTED, feed_url,
                      f"relative entry link in a local feed: {link[:_MAX_SHOWN]!r}")
    if base is not None:
        try:
            link = urljoin(base, link)
        except ValueError:
            pass  # not a URL; refused just below
    if not is_web_url(link):
        return None, (UNSUPPORTED, link[:_MAX_URL],
                      f"entry link {link[:_MAX_SHOWN]!r} is not an http(s) URL")
    return link, None


def _has_scheme(link: str) -> bool:
    try:
        return bool(urlsplit(link).scheme)
    except ValueError:
        return True  # malformed but absolute-looking; is_web_url refuses it
