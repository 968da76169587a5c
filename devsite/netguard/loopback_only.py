"""A safety net for tests and benchmarks: this process may talk to 127.0.0.0/8 only.

Tests and benchmarks serve everything they fetch on loopback, and nothing
they run should ever resolve a public name or reach another address: not a
peer extractor fetching a page's images, not a stray link in a fixture.
Installed for the pytest process by ``tests/conftest.py`` and for every
subprocess by putting this folder on ``PYTHONPATH`` (``sitecustomize``).
Name resolution is refused before any DNS packet leaves, and connects and
datagrams to non-loopback addresses fail before any packet is sent.
Standalone on purpose: it runs in the benchmark's peer virtualenv too.
"""
from __future__ import annotations

import ipaddress
import socket

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_installed = []


def is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None:
        return True
    host = str(host).strip("[]").split("%", 1)[0]
    if host.lower() in _LOCAL_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RefusedByTestSandbox(OSError):
    pass


def _check(address) -> None:
    if isinstance(address, tuple) and address and not is_loopback(address[0]):
        raise RefusedByTestSandbox(f"loopback-only sandbox: refusing to contact {address[0]!r}")


def install() -> None:
    if _installed:
        return
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto

    def getaddrinfo(host, *args, **kwargs):
        if not is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME,
                                  f"loopback-only sandbox: refusing to resolve {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address)
        return original_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address)
        return original_connect_ex(self, address)

    def sendto(self, data, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6) and args:
            _check(args[-1])
        return original_sendto(self, data, *args)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    _installed.append(True)
