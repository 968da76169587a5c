"""Decoding page bytes: header, then meta, then detection; always safe text."""
from __future__ import annotations

import pyarrow as pa
import pytest

from transforms.http.charset import decode
from transforms.lib.text import sanitize

SLOVAK = "Vaša e-mailová adresa nebude zverejnená. Ďalšie články o ľuďoch."
RUSSIAN = "Москва заявила о полном контроле над Курской областью. " * 5


def test_header_charset_wins():
    text, codec = decode(SLOVAK.encode("cp1250"), "windows-1250")
    assert text == SLOVAK and codec == "cp1250"


def test_meta_charset_is_used_without_header():
    body = b'<html><head><meta charset="windows-1251"></head><body>' + \
        RUSSIAN.encode("cp1251") + b"</body></html>"
    text, codec = decode(body)
    assert RUSSIAN in text and codec == "cp1251"


def test_http_equiv_meta_is_used():
    body = b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-2">' + \
        SLOVAK.encode("iso-8859-2")
    assert SLOVAK in decode(body)[0]


def test_detection_without_any_declaration():
    text, _ = decode(("<p>" + RUSSIAN + "</p>").encode("cp1251"))
    assert RUSSIAN.strip() in text


def test_bom_beats_a_wrong_header():
    assert decode("\ufeffÄpfel".encode("utf-8"), "iso-8859-1")[0] == "Äpfel"


@pytest.mark.parametrize("charset", ["no-such-charset", "utf-7", "x-user-defined", "", None])
def test_bogus_or_dangerous_charsets_fall_through(charset):
    text, codec = decode("<p>Ďakujeme</p>".encode(), charset)
    assert codec != "utf_7" and "Ďakujeme" in text


def test_latin1_label_means_windows_1252():
    assert decode("“quoted”".encode("cp1252"), "iso-8859-1")[0] == "“quoted”"


def test_broken_bytes_never_break_pyarrow():
    nasty = b"ok \x00 nul \xed\xa0\x80 surrogate \xff\xfe junk \x1b esc \xc3"
    text, _ = decode(nasty, "utf-8")
    assert "\x00" not in text and "\x1b" not in text
    pa.array([text], type=pa.string())  # must not raise
    assert "ok" in text and "junk" in text


def test_sanitize_removes_lone_surrogates_and_controls():
    assert sanitize("a\ud800b\x00c\x07d\ne\tf") == "abcd\ne\tf"


@pytest.mark.parametrize("declared", ["idna", "punycode", "undefined", "unicode_escape",
                                      "raw-unicode-escape", "utf-7", "rot13", "base64",
                                      "no-such-codec", "utf-8\x00", "\xff"])
def test_a_pseudo_or_unknown_codec_falls_back_to_detection(declared):
    body = "<html><body><p>Größere Änderungen \\u003cscript\\u003e</p></body></html>".encode()
    text, codec = decode(body, declared)
    assert "Größere Änderungen" in text and "\\u003cscript" in text
    assert codec not in ("idna", "punycode", "unicode-escape", "raw-unicode-escape")
