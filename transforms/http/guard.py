"""The network guard: which addresses newsbeam may connect to.

By default only globally routable unicast addresses.  With
``--allow-private-networks``, also loopback, private, link-local and
carrier-grade-NAT ranges, except cloud metadata endpoints.

A fetcher that follows links from arbitrary feeds is a server-side request
forgery engine unless it checks, for every hop, the address it is actually
about to connect to.  Three checks, each on what the client really uses:

1. The URL, *after* the HTTP client's own normalisation (:func:`target`).
   yarl, under aiohttp, maps a host through IDNA and NFKC, so fullwidth
   ``１２７．０．０．１`` or circled ``①②⑦.0.0.1`` becomes the IP literal
   ``127.0.0.1``, which aiohttp then connects to without resolving.  The
   guard judges that normalised host, and the client is handed the very
   URL object the guard judged.
2. Names are resolved by the guard itself (:func:`vetted_addresses`): a
   public name can resolve to 127.0.0.1 or to a metadata address, and the
   connection goes to the address vetted, which closes the DNS-rebinding
   window between check and use.
3. Every socket is created by :func:`guarded_socket`, which refuses any
   address that is not a canonical, allowed IP literal: whatever slipped
   past the first two never gets a packet out.

IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4,
Teredo, ISATAP) are judged by the IPv4 address they carry.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any, Awaitable, Callable

import yarl

ALLOWED_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What --allow-private-networks opens, and nothing more: loopback, the
# private ranges, link-local and carrier-grade NAT.  Unspecified (0.0.0.0,
# ::), reserved, benchmarking and multicast addresses stay refused.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10"))
# Cloud instance-metadata endpoints hand out credentials.  A news fetcher
# never needs them, so they stay refused even with --allow-private-networks.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
    "169.254.170.2",    # AWS ECS task metadata
    "169.254.169.123",  # AWS time sync
    "fd00:ec2::254",    # AWS IPv6 metadata
    "100.100.100.200",  # Alibaba Cloud
))


# Prefixes whose addresses carry an IPv4 address in their low 32 bits.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")          # deprecated, RFC 4291
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_NAT64 = ipaddress.ip_network("64:ff9b::/96")              # RFC 6052
# Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the
# operator's prefix length, so it cannot be judged; it is never fetched.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # RFC 5214 interface identifiers
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


class Refused(Exception):
    """A URL or address the policy does not allow; raised before any connection."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


class Blocked(OSError):
    """A socket the guard would not create (the last line of defence)."""

    def __init__(self, message: str):
        super().__init__(errno.EACCES, message)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, for the forms that reach it."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's (the relay's is judged too, below)
    if int(ip) > 1 and (ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64):
        return low32
    if (int(ip) >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        return low32
    return None


def _judge(ip: IPAddress, allow_private: bool) -> str | None:
    if ip in METADATA_ADDRESSES:
        return f"cloud metadata address {ip} is never fetched"
    if ip.is_global and not ip.is_multicast:
        return None
    if allow_private and any(ip in network for network in PRIVATE_NETWORKS):
        return None
    kind = ("unspecified" if ip.is_unspecified else "loopback" if ip.is_loopback
            else "link-local" if ip.is_link_local else "private" if ip.is_private
            else "non-global")
    return f"{kind} address {ip} is not allowed"


def address_refusal(address: str, allow_private: bool) -> str | None:
    """Why ``address`` may not be contacted, or None if it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"unparseable address {address!r}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return f"local-use NAT64 address {ip} is never fetched"
        inner = embedded_ipv4(ip)
        if ip.teredo is not None:
            # Teredo carries two IPv4 addresses: the relay's and the client's.
            for carried in ip.teredo:
                reason = _judge(carried, allow_private)
                if reason:
                    return f"{ip} carries {carried}: {reason}"
            return None
        if inner is not None:
            reason = _judge(inner, allow_private)
            return f"{ip} carries {inner}: {reason}" if reason else None
    return _judge(ip, allow_private)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def target(url: str) -> yarl.URL:
    """``url`` exactly as the HTTP client will use it (yarl's IDNA/NFKC
    normalisation included); raises :class:`Refused` if it cannot be used."""
    try:
        parsed = yarl.URL(url)
        host = parsed.raw_host
        parsed.port  # noqa: B018  (raises ValueError on a bad port)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise Refused("invalid_url", f"invalid URL {url[:300]!r}: {exc}") from None
    if (parsed.scheme or "").lower() not in ALLOWED_SCHEMES:
        raise Refused("blocked_scheme",
                      f"scheme {(parsed.scheme or '(none)')[:40]!r} is not fetched")
    if not host:
        raise Refused("invalid_url", f"URL {url[:300]!r} has no host")
    return parsed


def check_url(url: str | yarl.URL, allow_private: bool) -> yarl.URL:
    """The normalised URL to fetch, if the policy allows its scheme and host.

    The host judged is the one the client connects to: an IP literal is
    judged here, a name by :func:`vetted_addresses` when it is resolved.  A
    host that is neither a canonical IP literal nor a plain DNS name (legacy
    numeric forms such as ``2130706433``, ``0x7f.1`` or ``127.1``, which the
    C resolver would turn into addresses) is refused outright.
    """
    parsed = url if isinstance(url, yarl.URL) else target(url)
    host = (parsed.raw_host or "").lower()
    literal = _literal(host)
    if literal is None:
        if not set(host) <= _HOST_CHARS or _looks_numeric(host):
            raise Refused("invalid_url", f"host {host[:200]!r} is neither a DNS name nor a "
                                         "canonical IP address")
        return parsed  # a name: the resolver checks what it resolves to
    reason = address_refusal(host, allow_private)
    if reason:
        raise Refused("blocked_address", reason)
    return parsed


def _looks_numeric(host: str) -> bool:
    """An IPv4 address in a legacy spelling: every label a number (decimal,
    octal or hex), which ``inet_aton`` would accept."""
    labels = host.rstrip(".").split(".")
    return all(label and (label.isdigit() or (label.startswith("0x") and all(
        c in "0123456789abcdef" for c in label[2:]))) for label in labels)


def guarded_socket(allow_private: bool) -> Callable[[Any], socket.socket]:
    """A socket factory for the connector: it refuses to create a socket
    for any address that is not a canonical IP literal the policy allows."""
    def create(addr_info: Any) -> socket.socket:
        family, type_, proto, _, address = addr_info
        host = str(address[0])
        literal = _literal(host)
        if literal is None or (literal.version == 4 and str(literal) != host):
            raise Blocked(f"refused by the network guard: {host[:200]!r} is not a canonical "
                          "IP address")
        reason = address_refusal(host, allow_private)
        if reason:
            raise Blocked(f"refused by the network guard: {reason}")
        return socket.socket(family=family, type=type_, proto=proto)
    return create


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
