"""The fixed split of every quality corpus into a tune part and a validate part.

Rules, thresholds and the line model are fitted on the **tune** part only;
the **validate** part is for reporting (``make eval``, README, the CI gate's
fixtures).  A page's part follows from its *site*, never from the page, so
no site has pages on both sides: a rule that learned one site's template
cannot score on that site's other pages.

The site is the host of the page's URL without ``www.`` (for a
web.archive.org snapshot, the host of the archived URL; with no URL, the
document id).  A site is in validate when the first byte of SHA-256 of its
name is below 77, i.e. 77/256 = 30 % of sites.  This is fixed: changing it
would leak the validate part into what was tuned.
"""
from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

TUNE, VALIDATE = "tune", "validate"
PARTS = (TUNE, VALIDATE)
_VALIDATE_BELOW = 77
_ARCHIVED = re.compile(r"^https?://web\.archive\.org/web/[^/]+/(.+)$")


def site_of(doc: dict) -> str:
    url = doc.get("url") or ""
    archived = _ARCHIVED.match(url)
    if archived:
        url = archived.group(1)
        url = url if "://" in url else f"http://{url}"
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host or str(doc["id"])


def part_of(doc: dict) -> str:
    digest = hashlib.sha256(site_of(doc).encode("utf-8")).digest()
    return VALIDATE if digest[0] < _VALIDATE_BELOW else TUNE


def split(docs: list[dict]) -> dict[str, list[dict]]:
    parts: dict[str, list[dict]] = {TUNE: [], VALIDATE: []}
    for doc in docs:
        parts[part_of(doc)].append(doc)
    return parts
