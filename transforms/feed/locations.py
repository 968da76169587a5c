"""Turning the ``--feeds`` argument into the list of feed locations.

This runs when the pipeline is built, not on workers, so a missing or
empty feed list stops the run with a clear message before any worker
starts.  A location is an http(s) URL or a path (local, or any scheme
Beam's FileSystems can open, such as gs://).
"""
from __future__ import annotations

import os
import re
from typing import Iterable
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from apache_beam.io.filesystems import FileSystems

_FEED_MARKERS = (b"<rss", b"<feed", b"<rdf:rdf", b"jsonfeed.org/version")
_COMMENT = re.compile(r"(^|\s)#.*$")
MAX_LIST_BYTES = 16 * 1024 * 1024


class FeedListError(ValueError):
    """The feed list cannot be used; the message says why, for the user."""


def is_url(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def local_path(location: str) -> str | None:
    """The filesystem path behind a local location, or None if it is remote."""
    parts = urlsplit(location)
    if parts.scheme.lower() == "file":
        return unquote(parts.path)
    if parts.scheme and len(parts.scheme) > 1:
        return None  # http, gs, s3 ... ("C:" is a drive letter, not a scheme)
    return location


def read_capped(location: str, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of a local or FileSystems location, so the
    caller can tell "exactly at the limit" from "over it"."""
    path = local_path(location)
    if path is not None:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
    with FileSystems.open(location) as handle:
        return handle.read(limit + 1)


def _read(location: str) -> bytes:
    try:
        data = read_capped(location, MAX_LIST_BYTES)
    except FileNotFoundError:
        raise FeedListError(f"feeds file not found: {location}") from None
    except IsADirectoryError:
        raise FeedListError(f"feeds location is a directory: {location}") from None
    except (OSError, ValueError) as exc:
        raise FeedListError(f"cannot read feeds file {location}: {exc}") from None
    if len(data) > MAX_LIST_BYTES:
        raise FeedListError(f"feeds file {location} is larger than {MAX_LIST_BYTES} bytes")
    return data


def _resolve(entry: str, base: str) -> str:
    if is_url(entry) or urlsplit(entry).scheme.lower() not in ("", "file"):
        return entry
    base_path = local_path(base)
    path = local_path(entry) or entry
    if base_path is not None and not os.path.isabs(path):
        path = os.path.join(os.path.dirname(os.path.abspath(base_path)), path)
    return os.path.abspath(path)


def parse_opml(data: bytes, base: str) -> list[str]:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise FeedListError(f"{base} is not valid OPML: {exc}") from None
    urls = []
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url and url.strip():
            urls.append(_resolve(url.strip(), base))
    return urls


def parse_text_list(text: str, base: str) -> list[str]:
    urls = []
    for raw in text.splitlines():
        line = _COMMENT.sub("", raw).strip()
        if line:
            urls.append(_resolve(line, base))
    return urls


def _dedupe(locations: Iterable[str]) -> list[str]:
    return sorted(dict.fromkeys(locations))


def load_feed_list(feeds: str) -> list[str]:
    """The sorted, de-duplicated feed locations named by ``feeds``."""
    feeds = feeds.strip()
    if not feeds:
        raise FeedListError("--feeds is empty")
    if is_url(feeds):
        return [feeds]
    data = _read(feeds)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<opml" in head:
        locations = parse_opml(data, feeds)
    elif any(marker in head for marker in _FEED_MARKERS):
        path = local_path(feeds)
        locations = [os.path.abspath(path) if path is not None else feeds]
    else:
        locations = parse_text_list(data.decode("utf-8", errors="replace"), feeds)
    if not locations:
        raise FeedListError(f"no feed locations found in {feeds}")
    return _dedupe(locations)
