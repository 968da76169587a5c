"""Canonical URLs and the ids derived from them.

An article's ``id`` must not change when the same story shows up with a
tracking parameter, a different host case or a fragment, or the lake
fills with duplicates.  It must also be computable before the page is
fetched (streaming dedup happens first), so it hashes the feed's link,
not the post-redirect URL.
"""
from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "matomo_", "hsa_", "_hs", "oly_")
_TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
    "mkt_tok", "_ga", "_gl", "ref_src", "ref_url", "cmpid", "ocid", "ito", "smid", "ncid",
    "sr_share", "spm", "share", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
    "ns_fee", "rss", "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3",
    "at_custom4", "ref", "source", "feed", "feedtype", "xtor", "wt_mc", "wt.mc_id",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The form of ``url`` that identifies the article.

    Lower-cases scheme and host, drops default ports, fragments, empty
    queries and known tracking parameters, sorts the remaining query and
    normalises percent-encoding.  Path case is kept: servers treat it as
    significant.
    """
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if ":" not in host else f"[{host}]"
    if port and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%") or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _is_tracking(k)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def article_id(url: str) -> str:
    """A stable 128-bit hex id for the article behind ``url``."""
    return hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()[:32]


def source_of(url: str) -> str:
    """The site an article belongs to: its host without ``www.``, plus the
    port when it is not the scheme's default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        return f"{host}:{port}"
    return host or "unknown"
