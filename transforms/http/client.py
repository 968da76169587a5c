"""The asynchronous HTTP client every network read in newsbeam goes through.

One instance lives on one DoFn (opened in ``setup()``, closed in
``teardown()``) and runs on that DoFn's event loop.  It enforces, per
request and per redirect hop: the network guard, connect/read/total
timeouts, a byte cap on the wire and another after decompression, a
redirect limit with loop detection, and a content-type allow-list.  Every
failure surfaces as :class:`FetchError` with a stable ``error_type``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import socket
import time
from typing import Mapping
from urllib.parse import urldefrag, urljoin

import aiohttp
from aiohttp.abc import AbstractResolver

from transforms.http import guard
from transforms.http.body import ACCEPT_ENCODING, BoundedDecoder
from transforms.http.errors import FetchError
from transforms.http.settings import FetchSettings
from transforms.lib.text import one_line

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Worth another try later: the server said "not now", not "never".
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


@dataclasses.dataclass(frozen=True)
class ContentPolicy:
    """Which media types a kind of resource may have.

    ``sniffed`` types are ones servers send carelessly (a feed as
    ``text/html``, a page as ``application/octet-stream``): those are
    accepted only if the first bytes look right.
    """

    name: str
    allowed: frozenset[str]
    sniffed: frozenset[str]
    signatures: tuple[bytes, ...]

    def looks_right(self, head: bytes) -> bool:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()[:512]
        return any(sig in start for sig in self.signatures)


PAGE = ContentPolicy(
    name="page",
    allowed=frozenset({"text/html", "application/xhtml+xml"}),
    sniffed=frozenset({"", "text/plain", "application/octet-stream", "application/xml",
                       "text/xml"}),
    signatures=(b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title"),
)
FEED = ContentPolicy(
    name="feed",
    allowed=frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml",
                       "application/xml", "text/xml", "application/feed+json",
                       "application/x-rss+xml", "application/x-atom+xml", "text/rss+xml",
                       "application/rss", "text/atom+xml"}),
    sniffed=frozenset({"", "text/plain", "text/html", "application/octet-stream",
                       "application/json", "application/x-xml", "text/x-opml"}),
    signatures=(b"<?xml", b"<rss", b"<feed", b"<rdf:rdf", b'"version"', b"jsonfeed.org"),
)


@dataclasses.dataclass(frozen=True)
class Response:
    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    media_type: str
    charset: str | None
    redirects: tuple[str, ...] = ()
    elapsed: float = 0.0


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that only ever hands out vetted addresses."""

    def __init__(self, allow_private: bool, resolve: guard.Resolve = guard.system_resolve):
        self._allow_private = allow_private
        self._resolve = resolve

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict]:
        addresses = await guard.vetted_addresses(host, port, self._allow_private, self._resolve)
        return [{"hostname": host, "host": address, "port": port,
                 "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                 "proto": socket.IPPROTO_TCP, "flags": socket.AI_NUMERICHOST}
                for address in addresses]

    async def close(self) -> None:
        return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    parts = [p.strip() for p in content_type.split(";")]
    charset = None
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return parts[0].lower(), charset


class HttpClient:
    """A bounded HTTP GET client; use ``async with`` or ``open()``/``close()``."""

    def __init__(self, settings: FetchSettings, resolve: guard.Resolve = guard.system_resolve):
        self.settings = settings
        self._resolve = resolve
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> HttpClient:
        s = self.settings
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(s.allow_private_networks, self._resolve),
            limit=s.max_connections, limit_per_host=0, ttl_dns_cache=60,
            enable_cleanup_closed=True,
            socket_factory=guard.guarded_socket(s.allow_private_networks))
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout,
                                          sock_read=s.read_timeout),
            headers={"User-Agent": s.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            max_line_size=16384, max_field_size=16384,
        )
        return self

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> HttpClient:
        return await self.open()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def get(self, url: str, policy: ContentPolicy,
                  headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url`` under every limit; raises :class:`FetchError`."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                response = await self._follow(url, policy, headers or {})
        except FetchError:
            raise
        except guard.Refused as exc:
            raise FetchError(exc.error_type, str(exc)) from None
        # aiohttp's timeouts subclass TimeoutError: test them before the total one.
        except aiohttp.ConnectionTimeoutError:
            raise FetchError("timeout_connect",
                             f"no connection within {self.settings.connect_timeout:g}s",
                             transient=True) from None
        except (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError):
            raise FetchError("timeout_read",
                             f"no data for {self.settings.read_timeout:g}s",
                             transient=True) from None
        except TimeoutError:
            raise FetchError("timeout_total",
                             f"no complete response within {self.settings.total_timeout:g}s",
                             transient=True) from None
        except aiohttp.ClientSSLError as exc:
            raise FetchError("tls_error", one_line(exc, 500)) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, guard.Blocked) or "network guard" in str(exc):
                raise FetchError("blocked_address", one_line(exc.os_error, 500)) from None
            raise FetchError("connection_error", f"{type(exc).__name__}: {one_line(exc, 500)}",
                             transient=True) from None
        except (aiohttp.ServerDisconnectedError,
                aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            raise FetchError("connection_error", f"{type(exc).__name__}: {one_line(exc, 500)}",
                             transient=True) from None
        except aiohttp.InvalidURL as exc:
            raise FetchError("invalid_url", f"invalid URL: {one_line(exc, 500)}") from None
        except aiohttp.ClientResponseError as exc:
            raise FetchError("bad_response",
                             f"malformed HTTP response: {one_line(exc.message, 500)}") from None
        except (aiohttp.ClientError, ValueError, UnicodeError) as exc:
            raise FetchError("bad_response",
                             f"{type(exc).__name__}: {one_line(exc, 500)}") from None
        return dataclasses.replace(response, elapsed=time.monotonic() - started)

    async def _follow(self, url: str, policy: ContentPolicy,
                      headers: Mapping[str, str]) -> Response:
        assert self._session is not None, "HttpClient used before open()"
        hop, seen, redirects = url, {urldefrag(url)[0]}, []
        while True:
            # The guard judges, and the session is handed, the same normalised URL.
            checked = guard.check_url(hop, self.settings.allow_private_networks)
            async with self._session.get(checked, headers=headers,
                                         allow_redirects=False) as resp:
                if resp.status in REDIRECT_STATUSES:
                    location = one_line(resp.headers.get("Location") or "")
                    if not location:
                        raise FetchError("bad_redirect", f"{resp.status} without Location",
                                         http_status=resp.status)
                    target = urldefrag(urljoin(str(resp.url), location))[0]
                    if target in seen:
                        raise FetchError("redirect_loop", f"redirect loop back to {target}",
                                         http_status=resp.status)
                    if len(redirects) >= self.settings.max_redirects:
                        raise FetchError("too_many_redirects",
                                         f"more than {self.settings.max_redirects} redirects",
                                         http_status=resp.status)
                    seen.add(target)
                    redirects.append(target)
                    hop = target
                    continue
                return await self._read(url, hop, resp, policy, tuple(redirects))

    async def _read(self, url: str, hop: str, resp: aiohttp.ClientResponse,
                    policy: ContentPolicy, redirects: tuple[str, ...]) -> Response:
        s = self.settings
        # Every value a server controls is made safe where it enters: header
        # bytes that are not UTF-8 arrive as lone surrogates, and reason
        # phrases can carry controls and terminal escapes.
        head = {one_line(k).lower(): one_line(v, 4096) for k, v in resp.headers.items()}
        if resp.status == 304:
            return Response(url, hop, 304, head, b"", "", None, redirects)
        if resp.status >= 400 or resp.status < 200:
            reason = one_line(resp.reason or "", 200)
            raise FetchError(
                f"http_{resp.status}", f"HTTP {resp.status} {reason}".strip(),
                http_status=resp.status, transient=resp.status in TRANSIENT_STATUSES,
                retry_after=parse_retry_after(head.get("retry-after"), time.time()))
        media, charset = _media_type(head.get("content-type"))
        if media not in policy.allowed and media not in policy.sniffed:
            raise FetchError("unsupported_content_type",
                             f"content type {media or '(none)'!r} is not a {policy.name}",
                             http_status=resp.status)
        declared = head.get("content-length", "")
        if declared.isdigit() and int(declared) > s.max_bytes:
            raise FetchError("too_large", f"Content-Length {declared} exceeds {s.max_bytes} bytes",
                             http_status=resp.status)
        decoder = BoundedDecoder(head.get("content-encoding"), s.max_decoded_bytes)
        wire, parts, checked = 0, [], media in policy.allowed
        async for chunk in resp.content.iter_chunked(65536):
            wire += len(chunk)
            if wire > s.max_bytes:
                raise FetchError("too_large", f"body exceeds {s.max_bytes} bytes",
                                 http_status=resp.status)
            parts.append(decoder.feed(chunk))
            if not checked and sum(map(len, parts)) >= 512:
                checked = self._sniff(policy, media, b"".join(parts), resp.status)
        parts.append(decoder.flush())
        body = b"".join(parts)
        if not checked:
            self._sniff(policy, media, body, resp.status)
        return Response(url, str(resp.url), resp.status, head, body, media, charset, redirects)

    @staticmethod
    def _sniff(policy: ContentPolicy, media: str, head: bytes, status: int) -> bool:
        if not policy.looks_right(head):
            raise FetchError("unsupported_content_type",
                             f"content type {media or '(none)'!r} does not look like a "
                             f"{policy.name}", http_status=status)
        return True
