"""The network guard: which addresses newsbeam may connect to.

By default only globally routable unicast addresses.  With
``--allow-private-networks``, also loopback, private, link-local and
carrier-grade-NAT ranges, except cloud metadata endpoints.

A fetcher that follows links from arbitrary feeds is a server-side request
forgery engine unless it checks, for every hop, the address it is actually
about to connect to.  Checking the URL's host name is not enough: a public
name can resolve to 127.0.0.1 or to a cloud metadata address.  So the
resolver itself refuses, and the connection is made to the address it
vetted, which also closes the DNS-rebinding window between check and use.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Awaitable, Callable
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
# Cloud instance-metadata endpoints hand out credentials.  A news fetcher
# never needs them, so they stay refused even with --allow-private-networks.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
    "169.254.170.2",    # AWS ECS task metadata
    "169.254.169.123",  # AWS time sync
    "fd00:ec2::254",    # AWS IPv6 metadata
    "100.100.100.200",  # Alibaba Cloud
))


class Refused(Exception):
    """A URL or address the policy does not allow; raised before any connection."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def _unmap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def address_refusal(address: str, allow_private: bool) -> str | None:
    """Why ``address`` may not be contacted, or None if it may."""
    try:
        ip = _unmap(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return f"unparseable address {address!r}"
    if ip in METADATA_ADDRESSES:
        return f"cloud metadata address {ip} is never fetched"
    if ip.is_global and not ip.is_multicast:
        return None
    if allow_private and (ip.is_private or ip.is_loopback or ip.is_link_local
                          or ip in _SHARED_ADDRESS_SPACE):
        return None
    kind = ("loopback" if ip.is_loopback else "link-local" if ip.is_link_local
            else "private" if ip.is_private else "non-global")
    return f"{kind} address {ip} is not allowed"


def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL whose scheme or literal host the policy forbids."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise Refused("invalid_url", f"invalid URL {url!r}: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise Refused("blocked_scheme", f"scheme {parts.scheme or '(none)'!r} is not fetched")
    if not host:
        raise Refused("invalid_url", f"URL {url!r} has no host")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    reason = address_refusal(host, allow_private)
    if reason:
        raise Refused("blocked_address", reason)


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    import asyncio

    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


async def vetted_addresses(host: str, port: int, allow_private: bool,
                           resolve: Resolve = system_resolve) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if any is forbidden.

    One forbidden address refuses the whole name: a name that answers with
    both a public and a private address is the classic rebinding trick.
    """
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise Refused("dns_error", f"cannot resolve {host!r}: {exc}") from None
    if not addresses:
        raise Refused("dns_error", f"{host!r} resolves to no address")
    for address in addresses:
        reason = address_refusal(address, allow_private)
        if reason:
            raise Refused("blocked_address", f"{host} resolves to {address}: {reason}")
    return list(dict.fromkeys(addresses))
