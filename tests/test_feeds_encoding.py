"""Decoding feeds by fixed rules: BOM, HTTP charset, XML declaration, UTF-8, detection."""
from __future__ import annotations

import pytest

from tests.conftest import FETCHED_AT
from transforms.feed.decode import decode_feed, header_charset, utf8_xml
from transforms.feeds import FeedProblem, parse_feed

NEWS = {
    "shift_jis": "東京で新しい公園が開園しました。週末には多くの家族連れが訪れています。",
    "euc_kr": "서울에서 새로운 공원이 문을 열었습니다. 주말에는 많은 가족들이 방문했습니다.",
    "koi8_r": "В Москве открылся новый парк. В выходные его посетили многие семьи.",
    "cp1251": "В Москве открылся новый парк. В выходные его посетили многие семьи.",
    "gb18030": "北京开设了一个新公园。周末有许多家庭前来参观。",
}


def rss(text: str, declaration: str = "") -> str:
    return (f'{declaration}<rss version="2.0"><channel><title>{text[:12]}</title>'
            f"<item><title>{text}</title><link>https://news.example/1</link>"
            f"<description>{text} {text}</description></item></channel></rss>")


def parsed_title(body: bytes, content_type: str | None = None) -> str:
    return parse_feed(body, "https://news.example/feed", FETCHED_AT, content_type).entries[0].title


@pytest.mark.parametrize("codec", sorted(NEWS))
def test_undeclared_legacy_charsets_are_detected(codec):
    """The defect: no declaration, not UTF-8, came out as C1-laden mojibake."""
    assert parsed_title(rss(NEWS[codec]).encode(codec)) == NEWS[codec]


@pytest.mark.parametrize("codec", sorted(NEWS))
def test_declared_charsets_are_used(codec):
    body = rss(NEWS[codec], f'<?xml version="1.0" encoding="{codec}"?>').encode(codec)
    assert parsed_title(body) == NEWS[codec]
    assert parsed_title(rss(NEWS[codec]).encode(codec), f"text/xml; charset={codec}") == NEWS[codec]


@pytest.mark.parametrize("codec", sorted(NEWS))
def test_a_charset_that_does_not_decode_loses(codec):
    """Declared UTF-8 (header and declaration) over legacy bytes."""
    body = rss(NEWS[codec], '<?xml version="1.0" encoding="utf-8"?>').encode(codec)
    assert parsed_title(body, "application/rss+xml; charset=utf-8") == NEWS[codec]


def test_latin1_declared_over_shift_jis_loses_to_detection():
    """Every byte is Latin-1, but Shift-JIS lead bytes decode to C1 controls."""
    body = rss(NEWS["shift_jis"], '<?xml version="1.0" encoding="iso-8859-1"?>')
    assert parsed_title(body.encode("shift_jis")) == NEWS["shift_jis"]


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1252", "koi8-r", "windows-1251"])
def test_valid_utf8_declared_single_byte_is_utf8(declared):
    text = "Größere Änderungen — Новый парк"
    body = rss(text, f'<?xml version="1.0" encoding="{declared}"?>').encode("utf-8")
    assert parsed_title(body) == text
    assert parsed_title(rss(text).encode("utf-8"), f"text/xml; charset={declared}") == text


def test_header_charset_wins_over_the_declaration():
    text = "Größere Änderungen für die Bürger"
    body = rss(text, '<?xml version="1.0" encoding="iso-8859-2"?>').encode("cp1252")
    assert parsed_title(body, "application/xml; charset=windows-1252") == text


def test_iso_8859_1_means_windows_1252():
    text = "“Smart quotes” – in a feed that says iso-8859-1"
    body = rss(text, '<?xml version="1.0" encoding="iso-8859-1"?>').encode("cp1252")
    assert parsed_title(body) == text


def test_a_few_broken_bytes_do_not_turn_utf8_into_mojibake():
    text = "Größere Änderungen für die Bürger"
    body = rss(text * 3).encode("utf-8").replace(b"</description>", b"\xe2\x80</description>")
    assert parsed_title(body) == text * 3
    assert decode_feed(body).codec == "utf-8"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                                   "utf-32-be", "utf-8-sig"])
@pytest.mark.parametrize("declared", [False, True])
def test_unicode_encodings_with_and_without_bom(codec, declared):
    text = "Größere Änderungen 東京"
    declaration = f'<?xml version="1.0" encoding="{codec.split("-")[0]}-{codec.split("-")[1]}"?>'
    body = rss(text, declaration if declared else "").encode(codec)
    assert parsed_title(body) == text


def test_a_declaration_the_bytes_contradict_is_ignored():
    """An ASCII-compatible body cannot be UTF-16, whatever it says."""
    text = "Größere Änderungen"
    body = rss(text, '<?xml version="1.0" encoding="utf-16"?>').encode("utf-8")
    assert parsed_title(body) == text
    body = rss(text, '<?xml version="1.0" encoding="utf-7"?>').encode("utf-8")
    assert parsed_title(body) == text  # UTF-7 is never used
    body = rss(text, '<?xml version="1.0" encoding="no-such-charset"?>').encode("utf-8")
    assert parsed_title(body, "text/xml; charset=base64") == text


@pytest.mark.parametrize("body", [
    b"\xff\xfe<\x00r\x00s\x00s\x00>\x00\x00\xd8x",          # UTF-16 BOM, lone surrogate
    b"\x00\x00\xfe\xff" + "<rss>".encode("utf-32-be") + b"\x00\x11\x00\x00",  # > U+10FFFF
    b"<rss>" + bytes(range(128, 256)) * 4 + b"</rss>",      # no charset makes sense of it
])
def test_undecodable_bytes_are_a_bad_encoding_dead_letter(body):
    with pytest.raises(FeedProblem) as err:
        parse_feed(body, "https://news.example/feed", FETCHED_AT)
    assert err.value.error_type == "bad_encoding"


def test_no_c1_control_reaches_a_field():
    """Raw C1 controls in a UTF-8 feed are dropped (the 8-bit CSI would
    start a terminal escape); C1 character references become the
    windows-1252 characters they mean, as browsers (and feedparser) read them."""
    body = rss("Before\u0085after\u009b[31m").encode("utf-8").replace(
        b"<title>Before", b"<title>&#x9b;Before&#150;")
    assert parsed_title(body) == "\u203aBefore\u2013after[31m"


def test_the_document_feedparser_gets_says_utf8():
    assert utf8_xml('<?xml version="1.0" encoding="koi8-r"?><rss/>') == \
        b'<?xml version="1.0" encoding="utf-8"?><rss/>'
    assert utf8_xml("<rss/>") == b'<?xml version="1.0" encoding="utf-8"?>\n<rss/>'
    assert utf8_xml("  <?xml version='1.0'?>\n<rss>й</rss>") == \
        '<?xml version="1.0" encoding="utf-8"?>\n<rss>й</rss>'.encode()


@pytest.mark.parametrize("header,charset", [
    ("text/xml; charset=KOI8-R", "KOI8-R"), ('text/xml;charset= "us-ascii"', "us-ascii"),
    ("text/xml", None), (None, None), ("text/xml; charset:iso-8859-1", None),
    ("application/rss+xml; qs=0.9; charset='utf-8'", "utf-8"),
])
def test_header_charset(header, charset):
    assert header_charset(header) == charset
