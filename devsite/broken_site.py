"""A site whose feeds exercise the failure paths the demo must survive.

``/feed.xml`` lists one good article and, deliberately: a link that 404s,
a link to a PDF, a page that never answers (it times out), and an entry
with no link.  ``/malformed.xml`` is a broken RSS document from which
feedparser salvages two entries.
"""
from __future__ import annotations

from devsite.server import Site, hang, static

GOOD_ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>City council approves new cycling network</title></head><body>
<article><h1>City council approves new cycling network</h1>
<p>The city council voted on Tuesday to build forty kilometres of protected cycle lanes over
the next three years, the largest expansion of the network since it was first planned.</p>
<p>Supporters said the lanes would make commuting safer and cut traffic in the centre, while
some shop owners worried about losing parking spaces in front of their businesses.</p>
<p>Construction of the first section, along the river embankment, is due to start in spring.</p>
</article></body></html>"""

SLOW_SUMMARY = ("Officials said the harbour bridge would close for repairs for two weekends "
                "in March, with buses replacing the tram line during the works.")


def _feed(base: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Broken Gazette</title><link>{base}/</link>
<description>Deliberately broken entries</description>
<item><title>City council approves new cycling network</title><link>{base}/news/cycling</link>
<guid>{base}/news/cycling</guid><pubDate>Tue, 25 Nov 2025 09:00:00 +0000</pubDate></item>
<item><title>This story was removed</title><link>{base}/news/removed</link>
<guid>{base}/news/removed</guid></item>
<item><title>Annual report (PDF)</title><link>{base}/files/annual-report.pdf</link>
<guid>{base}/files/annual-report.pdf</guid></item>
<item><title>Harbour bridge to close for repairs</title><link>{base}/news/slow</link>
<guid>{base}/news/slow</guid><description>{SLOW_SUMMARY}</description></item>
<item><title>An entry without a link</title><guid isPermaLink="false">no-link-1</guid></item>
</channel></rss>"""


def _malformed(base: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Malformed Herald</title>
<item><title>First salvaged story</title><link>{base}/news/cycling</link></item>
<item><title>Second salvaged & broken</title><link>{base}/news/second</link>
<description>An unescaped ampersand above breaks the XML.</description></item>
<item><title>Cut off mid-element</title><link>{base}/news/cut"""


SECOND = GOOD_ARTICLE.replace("City council approves new cycling network",
                              "Library extends its opening hours")


def broken_site(hang_seconds: float = 30.0) -> Site:
    def routes(site: Site) -> None:
        base = f"http://127.0.0.1:{site.port}"
        site.routes.update({
            "/feed.xml": static(_feed(base), content_type="application/rss+xml"),
            "/malformed.xml": static(_malformed(base), content_type="application/rss+xml"),
            "/news/cycling": static(GOOD_ARTICLE),
            "/news/second": static(SECOND),
            "/files/annual-report.pdf": static(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
                                               content_type="application/pdf"),
            "/news/slow": hang(hang_seconds),
        })

    return Site(on_start=routes)
