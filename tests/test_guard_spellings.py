"""The guard judges the host the client will connect to, however it is spelled.

yarl (under aiohttp) maps a URL's host through IDNA and NFKC, so 171
non-ASCII characters become ASCII digits or dots: fullwidth, circled,
mathematical, segmented, superscript and subscript digits, "digit full
stop" forms, ideographic and fullwidth dots, dot leaders.  Each class is
tried here, against the pure guard and end to end against a loopback
server that counts requests: none may arrive.  Embedded-IPv4 forms of
IPv6 are judged by the IPv4 address they carry, and the socket factory
refuses whatever might still slip through.
"""
from __future__ import annotations

import asyncio
import socket
import unicodedata
from collections import defaultdict

import pytest
import yarl
from hypothesis import given, settings
from hypothesis import strategies as st

from devsite.server import Site, static
from transforms.http import guard
from transforms.http.client import PAGE, HttpClient
from transforms.http.errors import FetchError
from transforms.http.settings import FetchSettings


def _equivalents() -> dict[str, list[str]]:
    """ASCII digit or dot -> every single non-ASCII character yarl maps to it."""
    table: dict[str, list[str]] = defaultdict(list)
    for cp in range(0x80, 0x110000):
        char = chr(cp)
        folded = unicodedata.normalize("NFKC", char)
        if len(folded) == 1 and folded in "0123456789.":
            table[folded].append(char)
    for dot in ("\u3002", "\uff61"):  # IDNA maps these ideographic stops to "."
        table["."].append(dot)
    return dict(table)


EQUIVALENTS = _equivalents()


def _class_of(char: str) -> str:
    name = unicodedata.name(char, "?")
    for cut in (" DIGIT", " FULL STOP", " NUMBER", " ONE", " TWO", " THREE", " FOUR",
                " FIVE", " SIX", " SEVEN", " EIGHT", " NINE", " ZERO"):
        name = name.split(cut)[0]
    return name


def _classes() -> dict[str, dict[str, str]]:
    """Unicode class name -> {ASCII char: one equivalent in that class}."""
    classes: dict[str, dict[str, str]] = defaultdict(dict)
    for ascii_char, chars in EQUIVALENTS.items():
        for char in chars:
            classes[_class_of(char)].setdefault(ascii_char, char)
    return dict(classes)


CLASSES = _classes()


def spell(address: str, table: dict[str, str]) -> str:
    return "".join(table.get(c, c) for c in address)


def test_the_table_covers_every_class_yarl_normalises():
    assert sum(len(v) for v in EQUIVALENTS.values()) >= 60
    assert {"FULLWIDTH", "CIRCLED", "MATHEMATICAL BOLD", "MATHEMATICAL MONOSPACE",
            "SEGMENTED", "SUPERSCRIPT", "SUBSCRIPT", "IDEOGRAPHIC",
            "HALFWIDTH IDEOGRAPHIC"} <= set(CLASSES)
    for ascii_char, chars in EQUIVALENTS.items():
        for char in chars:
            assert yarl.URL(f"http://1{char}2.example/").raw_host == f"1{ascii_char}2.example"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_loopback_spelled_in_each_class_is_refused(name):
    host = spell("127.0.0.1", CLASSES[name])
    with pytest.raises(guard.Refused) as err:
        guard.check_url(f"http://{host}:8080/x", allow_private=False)
    assert err.value.error_type in ("blocked_address", "invalid_url"), host


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_metadata_spelled_in_each_class_is_refused_even_with_the_flag(name):
    host = spell("169.254.169.254", CLASSES[name])
    with pytest.raises(guard.Refused):
        guard.check_url(f"http://{host}/latest/meta-data/", allow_private=True)


@pytest.mark.parametrize("host", [
    "⑫7.0.0.1",             # CIRCLED NUMBER TWELVE -> "12"
    "⒓7.0.0.1".replace("⒓", "⒈") + "",  # DIGIT ONE FULL STOP -> "1."
    "127․0․0․1",            # ONE DOT LEADER
    "１２７.０.０.１.",       # trailing dot
    "ＬＯＣＡＬＨＯＳＴ",
])
def test_multi_character_and_odd_spellings_are_refused(host):
    with pytest.raises(guard.Refused):
        checked = guard.check_url(f"http://{host}/", allow_private=False)
        # A name that survives the URL check is judged when it is resolved.
        asyncio.run(guard.vetted_addresses(checked.raw_host, 80, False))


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1",
                                  "0x7f000001", "017700000001", "127.0.0.1.", "0xa9fea9fe"])
def test_legacy_numeric_forms_are_refused_before_any_lookup(host):
    with pytest.raises(guard.Refused):
        guard.check_url(f"http://{host}/", allow_private=True)


@pytest.mark.parametrize("address", [
    "::7f00:1",                              # IPv4-compatible 127.0.0.1
    "::a9fe:a9fe",                           # IPv4-compatible metadata
    "::ffff:0:7f00:1",                       # IPv4-translated (SIIT)
    "64:ff9b::7f00:1",                       # NAT64 127.0.0.1
    "64:ff9b::a9fe:a9fe",                    # NAT64 metadata
    "64:ff9b:1::1",                          # local-use NAT64
    "2002:a9fe:a9fe::1",                     # 6to4 metadata
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2600::5efe:a9fe:a9fe",                  # ISATAP id carrying metadata
    "::ffff:169.254.169.254",
])
def test_embedded_ipv4_is_judged_by_the_address_it_carries(address):
    assert guard.address_refusal(address, allow_private=False) is not None
    if "a9fe" in address or "169.254" in address or "64:ff9b:1::" in address:
        assert guard.address_refusal(address, allow_private=True) is not None


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "::ffff:8.8.8.8",
                                     "2002:808:808::1", "2606:4700:4700::1111"])
def test_embedded_public_ipv4_stays_allowed(address):
    assert guard.address_refusal(address, allow_private=False) is None


def test_the_socket_factory_refuses_what_slipped_past():
    create = guard.guarded_socket(allow_private=False)
    for address in [("127.0.0.1", 80), ("169.254.169.254", 80), ("127.1", 80),
                    ("2130706433", 80), ("::1", 80, 0, 0), ("localhost", 80)]:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with pytest.raises(guard.Blocked):
            create((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address))
    sock = guard.guarded_socket(allow_private=True)(
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80)))
    sock.close()
    with pytest.raises(guard.Blocked):
        guard.guarded_socket(allow_private=True)(
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
             ("169.254.169.254", 80)))


# End to end: a loopback server that counts requests -------------------------

@pytest.fixture(scope="module")
def counting_site():
    with Site(routes={"/": static("<html><body><p>reached</p></body></html>"),
                      "/hop": static(b"", status=302)}) as site:
        yield site


def _get_all(settings: FetchSettings, urls: list[str]) -> list[FetchError | None]:
    async def go():
        outcomes: list[FetchError | None] = []
        async with HttpClient(settings) as client:
            for url in urls:
                try:
                    await client.get(url, PAGE)
                    outcomes.append(None)
                except FetchError as exc:
                    outcomes.append(exc)
        return outcomes
    return asyncio.run(go())


def test_no_spelling_of_loopback_reaches_the_server(counting_site):
    port = counting_site.port
    before = len(counting_site.requests)
    urls = [f"http://{spell('127.0.0.1', table)}:{port}/" for table in CLASSES.values()]
    outcomes = _get_all(FetchSettings(), urls)
    assert all(isinstance(o, FetchError) and o.error_type in ("blocked_address", "invalid_url")
               for o in outcomes), outcomes
    assert len(counting_site.requests) == before
    # The same URLs with the flag do arrive: the spellings really mean loopback.
    allowed = _get_all(FetchSettings(allow_private_networks=True), urls[:3])
    assert allowed == [None, None, None]


def raw_redirect(location: str):
    """A 302 whose Location is UTF-8 bytes on the wire, as hostile servers send."""
    def route(handler) -> None:
        handler.wfile.write(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\nLocation: "
                            + location.encode("utf-8") + b"\r\n\r\n")
    return route


@pytest.mark.parametrize("name", ["FULLWIDTH", "CIRCLED", "MATHEMATICAL BOLD", "IDEOGRAPHIC"])
def test_a_redirect_hop_spelled_in_unicode_is_refused(counting_site, name):
    """The first hop is plain loopback, allowed with the flag; the hop to a
    Unicode spelling of metadata is judged on its own and never passes."""
    meta = f"http://{spell('169.254.169.254', CLASSES[name])}/latest/"
    with Site(routes={"/meta": raw_redirect(meta)}) as redirector:
        (outcome,) = _get_all(FetchSettings(allow_private_networks=True),
                              [redirector.url("/meta")])
        assert isinstance(outcome, FetchError) and outcome.error_type == "blocked_address"
        assert [r.path for r in redirector.requests] == ["/meta"]
    # Without the flag, a hop to a Unicode spelling of loopback is refused too.
    hop = f"http://{spell('127.0.0.1', CLASSES[name])}:{counting_site.port}/"
    with Site(routes={"/hop": raw_redirect(hop)}) as redirector:
        before = len(counting_site.requests)
        checked = guard.check_url(redirector.url("/hop"), allow_private=True)
        assert checked.raw_host == "127.0.0.1"
        (outcome,) = _get_all(FetchSettings(), [redirector.url("/hop")])
        assert isinstance(outcome, FetchError) and outcome.error_type == "blocked_address"
        assert len(counting_site.requests) == before


@settings(max_examples=60)
@given(st.data())
def test_property_any_spelling_of_a_forbidden_address_is_refused(data):
    address = data.draw(st.sampled_from(["127.0.0.1", "10.0.0.1", "169.254.169.254",
                                         "192.168.1.20", "0.0.0.0", "100.64.0.1"]))
    host = "".join(data.draw(st.sampled_from([c, *EQUIVALENTS.get(c, [])])) for c in address)
    trailing = data.draw(st.sampled_from(["", ".", "\u3002"]))
    url = f"http://{host}{trailing}:{data.draw(st.integers(1, 65535))}/p"
    for allow in (False, True) if address in ("169.254.169.254", "0.0.0.0") else (False,):
        try:
            checked = guard.check_url(url, allow_private=allow)
        except guard.Refused:
            continue
        # Passed as a name (a mix IDNA cannot map, e.g. "0․🯱" becomes
        # "xn--0.-1e23a"): then it must be a name no resolver reads as a number,
        # so the resolver-level guard is what judges it.
        name = checked.raw_host
        with pytest.raises(OSError):
            socket.inet_aton(name)
        assert not name.replace(".", "").isdigit()
