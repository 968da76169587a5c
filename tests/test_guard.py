"""The network guard refuses forbidden addresses before any connection.

No test here ever connects anywhere but 127.0.0.1: refusals are proven
with a stubbed resolver, or by pointing at loopback without the allow flag
and checking that the loopback server saw no request.
"""
from __future__ import annotations

import asyncio

import pytest

from devsite.server import Site, static
from transforms.http import guard
from transforms.http.client import PAGE, HttpClient
from transforms.http.errors import FetchError
from transforms.http.settings import FetchSettings


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "169.254.1.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "0.0.0.0", "100.64.0.1", "224.0.0.1", "240.0.0.1", "2002:7f00:0001::1",
])
def test_non_public_addresses_are_refused_by_default(address):
    assert guard.address_refusal(address, allow_private=False) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert guard.address_refusal(address, allow_private=False) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "192.168.0.10", "fe80::1"])
def test_allow_flag_opens_private_ranges(address):
    assert guard.address_refusal(address, allow_private=True) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.170.2", "fd00:ec2::254",
                                     "100.100.100.200"])
def test_cloud_metadata_is_refused_even_with_allow_flag(address):
    assert guard.address_refusal(address, allow_private=True) is not None


@pytest.mark.parametrize("url,error_type", [
    ("file:///etc/passwd", "blocked_scheme"),
    ("ftp://example.com/feed", "blocked_scheme"),
    ("javascript:alert(1)", "blocked_scheme"),
    ("http://127.0.0.1:8080/", "blocked_address"),
    ("http://[::1]/", "blocked_address"),
    ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
    ("http:///nohost", "invalid_url"),
    ("http://example.com:99999/", "invalid_url"),
])
def test_check_url_refuses(url, error_type):
    with pytest.raises(guard.Refused) as err:
        guard.check_url(url, allow_private=False)
    assert err.value.error_type == error_type


def stub_resolver(table: dict[str, list[str]], calls: list[str]):
    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]
    return resolve


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["169.254.169.254"], ["10.0.0.7"],
                                    ["93.184.216.34", "192.168.1.1"]])
def test_public_name_resolving_to_forbidden_address_is_refused(answer):
    calls: list[str] = []
    resolve = stub_resolver({"news.example.com": answer}, calls)
    with pytest.raises(guard.Refused) as err:
        asyncio.run(guard.vetted_addresses("news.example.com", 80, False, resolve))
    assert err.value.error_type == "blocked_address"
    assert calls == ["news.example.com"]


def _get(settings: FetchSettings, url: str, resolve=guard.system_resolve):
    async def go():
        async with HttpClient(settings, resolve=resolve) as client:
            return await client.get(url, PAGE)
    return asyncio.run(go())


def test_client_refuses_loopback_without_flag_and_sends_nothing():
    with Site(routes={"/": static("<html>hi</html>")}) as site:
        with pytest.raises(FetchError) as err:
            _get(FetchSettings(), site.url("/"))
        assert err.value.error_type == "blocked_address"
        assert site.requests == []


def test_client_refuses_name_that_resolves_to_loopback_and_sends_nothing():
    calls: list[str] = []
    with Site(routes={"/": static("<html><p>hi</p></html>")}) as site:
        resolve = stub_resolver({"news.example.com": ["127.0.0.1"]}, calls)
        with pytest.raises(FetchError) as err:
            _get(FetchSettings(), f"http://news.example.com:{site.port}/", resolve)
        assert err.value.error_type == "blocked_address"
        assert calls == ["news.example.com"]
        assert site.requests == []


def test_client_connects_to_the_vetted_address():
    """With the flag, the stubbed answer is the address actually used."""
    calls: list[str] = []
    with Site(routes={"/": static("<html><p>hi</p></html>")}) as site:
        resolve = stub_resolver({"news.example.com": ["127.0.0.1"]}, calls)
        response = _get(FetchSettings(allow_private_networks=True),
                        f"http://news.example.com:{site.port}/", resolve)
        assert response.status == 200
        assert site.requests[0].headers["Host"] == f"news.example.com:{site.port}"


@pytest.mark.parametrize("target,error_type", [
    ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
    ("file:///etc/passwd", "blocked_scheme"),
])
def test_every_redirect_hop_is_checked(target, error_type):
    routes = {"/": static(b"", status=302, headers={"Location": target})}
    with Site(routes=routes) as site:
        with pytest.raises(FetchError) as err:
            _get(FetchSettings(allow_private_networks=True), site.url("/"))
        assert err.value.error_type == error_type
        assert [r.path for r in site.requests] == ["/"]


def test_redirect_to_name_resolving_to_metadata_is_refused():
    calls: list[str] = []
    resolve = stub_resolver({"127.0.0.1": ["127.0.0.1"],
                             "cdn.example.net": ["169.254.169.254"]}, calls)
    routes = {"/": static(b"", status=301, headers={"Location": "http://cdn.example.net/a"})}
    with Site(routes=routes) as site:
        with pytest.raises(FetchError) as err:
            _get(FetchSettings(allow_private_networks=True), site.url("/"), resolve)
        assert err.value.error_type == "blocked_address"
        assert "cdn.example.net" in calls


def test_the_test_sandbox_refuses_non_loopback_before_sending():
    """The suite itself runs loopback-only (devsite/netguard): a name or an
    address outside 127.0.0.0/8 fails before any packet leaves."""
    import socket
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("news.example.com", 80)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OSError, match="loopback-only sandbox"):
            sock.connect(("169.254.169.254", 80))
    finally:
        sock.close()
    assert socket.getaddrinfo("127.0.0.1", 80)
