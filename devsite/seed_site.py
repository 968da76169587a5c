"""Fixture pages in the style of the seed's Slovak news site.

The seed (tests/fixtures/seed/scraped.txt) is what a naive scraper kept:
headline, ten body paragraphs, then the theme's chrome.  These pages put
the same article back into HTML in several markups, each with its chrome
in one of several languages:

- ``wordpress``: semantic WordPress markup (entry-content, sharedaddy,
  post-navigation, comment-respond);
- ``flat``: every line a ``<p>`` inside one container, where trafilatura
  alone keeps all the chrome;
- ``inline``: the chrome placed inside the content div.

Every variant is served as its own site (its own port) with an RSS feed
that also lists the two articles the post navigation links to.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from devsite.server import Site, static

SEED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "seed" / "scraped.txt"
VARIANTS = ("wordpress", "flat", "inline")
CHROME_LANGUAGES = ("sk", "en", "cs", "de")
ARTICLE_PATH = "/2025/04/26/russia-claims-full-control-of-kursk/"
PREVIOUS_PATH = "/2025/04/26/bandar-abbas-explosion/"
NEXT_PATH = "/2025/04/27/merz-ministers/"


@dataclass(frozen=True)
class Chrome:
    share: str
    share_url: str
    previous: str
    next: str
    comment: str
    notice: str
    read_next: str
    comment_label: str
    name_label: str
    email_label: str
    website_label: str
    submit: str


CHROME = {
    "sk": Chrome("Zdieľaj tento článok", "ZDIEĽATEĽNÁ URL", "Posledný Príspevok",
                 "Ďalšie Články", "Pridaj komentár",
                 "Vaša e-mailová adresa nebude zverejnená. Vyžadované polia sú označené *",
                 "Read next", "Komentár *", "Meno *", "E-mail *", "Webová stránka",
                 "Odoslať komentár"),
    "en": Chrome("Share this article", "SHAREABLE URL", "Previous Post", "Next Post",
                 "Leave a Reply",
                 "Your email address will not be published. Required fields are marked *",
                 "Read next", "Comment *", "Name *", "Email *", "Website", "Post Comment"),
    "cs": Chrome("Sdílej tento článek", "URL KE SDÍLENÍ", "Předchozí příspěvek",
                 "Další články", "Přidat komentář",
                 "Vaše e-mailová adresa nebude zveřejněna. Vyžadované informace jsou "
                 "označeny *", "Čtěte dále", "Komentář *", "Jméno *", "E-mail *",
                 "Webová stránka", "Odeslat komentář"),
    "de": Chrome("Teile diesen Artikel", "TEILBARE URL", "Vorheriger Beitrag",
                 "Nächster Beitrag", "Schreibe einen Kommentar",
                 "Deine E-Mail-Adresse wird nicht veröffentlicht. Erforderliche Felder sind "
                 "mit * markiert", "Als Nächstes lesen", "Kommentar *", "Name *",
                 "E-Mail *", "Website", "Kommentar abschicken"),
}

PREVIOUS_TITLE = "Massive explosion at Iran’s Bandar Abbas port kills four, injures hundreds"
NEXT_TITLE = "Merz to announce CDU’s future ministers ahead of coalition finalization"

# Short stand-in bodies for the two linked articles (written for these fixtures).
OTHER_BODIES = {
    PREVIOUS_TITLE: [
        "A powerful blast tore through a container area of the Shahid Rajaee wharf at "
        "Bandar Abbas on Saturday, local officials said, sending a column of smoke over "
        "the harbour and shattering windows kilometres away.",
        "Emergency services said four people were killed and hundreds were taken to "
        "hospital, most of them with cuts from broken glass. The cause of the explosion "
        "was not immediately clear.",
        "Port operations were suspended while firefighters worked through the night to "
        "contain fires among the stacked containers.",
    ],
    NEXT_TITLE: [
        "Friedrich Merz is expected to present the Christian Democrats' picks for the "
        "next federal cabinet on Monday, days before party members vote on the "
        "coalition agreement with the Social Democrats.",
        "Party officials said the list would include several newcomers to federal "
        "politics, a signal that Merz wants to be seen as ready for a fresh start.",
        "The Social Democrats are due to announce their own ministers once their members "
        "have approved the deal.",
    ],
}


def seed_article() -> tuple[str, list[str]]:
    """The seed's headline and its ten body paragraphs."""
    lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    headline = lines[0]
    end = lines.index(CHROME["sk"].share)
    return headline, lines[1:end]


def _page(title: str, body: str, *, published: str, sitename: str = "Slovenské Správy") -> str:
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="sk-SK">
<head>
<meta charset="utf-8">
<title>{t} – {sitename}</title>
<meta property="og:title" content="{t}">
<meta property="og:site_name" content="{sitename}">
<meta property="og:type" content="article">
<meta property="article:published_time" content="{published}">
<meta name="author" content="Redakcia">
<link rel="stylesheet" href="/wp-content/themes/spravy/style.css">
</head>
<body class="post-template-default single single-post">
<header class="site-header"><a class="logo" href="/">{sitename}</a>
<nav class="main-menu"><ul><li><a href="/svet/">Svet</a></li><li><a href="/slovensko/">
Slovensko</a></li><li><a href="/ekonomika/">Ekonomika</a></li></ul></nav></header>
{body}
<footer class="site-footer"><p>© 2025 {sitename}. Všetky práva vyhradené.</p></footer>
</body>
</html>"""


def _paragraphs(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def _wordpress(headline: str, paragraphs: list[str], c: Chrome, url: str) -> str:
    return f"""<main id="main" class="site-main">
<article id="post-4711" class="post-4711 post type-post status-publish format-standard">
<header class="entry-header"><h1 class="entry-title">{html.escape(headline)}</h1>
<div class="entry-meta"><span class="posted-on"><time datetime="2025-04-26T18:12:00+02:00">
26. apríla 2025</time></span> <span class="byline">Redakcia</span></div></header>
<div class="entry-content">
{_paragraphs(paragraphs)}
</div>
<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">{html.escape(c.share)}</h3>
<ul class="share-buttons"><li><a href="#fb">Facebook</a></li><li><a href="#x">X</a></li></ul>
<div class="share-url"><span>{html.escape(c.share_url)}</span><input type="text"
value="{url}" readonly></div></div>
</article>
<nav class="navigation post-navigation" aria-label="Príspevky"><div class="nav-links">
<div class="nav-previous"><a href="{PREVIOUS_PATH}" rel="prev"><span class="meta-nav">
{html.escape(c.previous)}</span><span class="post-title">{html.escape(PREVIOUS_TITLE)}</span>
</a></div>
<div class="nav-next"><a href="{NEXT_PATH}" rel="next"><span class="meta-nav">
{html.escape(c.next)}</span><span class="post-title">{html.escape(NEXT_TITLE)}</span></a></div>
</div></nav>
<div id="respond" class="comment-respond"><h3 id="reply-title" class="comment-reply-title">
{html.escape(c.comment)}</h3>
<form action="/wp-comments-post.php" method="post" id="commentform" class="comment-form">
<p class="comment-notes"><span id="email-notes">{html.escape(c.notice)}</span></p>
<p class="comment-form-comment"><label for="comment">{html.escape(c.comment_label)}</label>
<textarea id="comment" name="comment"></textarea></p>
<p class="comment-form-author"><label for="author">{html.escape(c.name_label)}</label>
<input id="author" name="author" type="text"></p>
<p class="comment-form-email"><label for="email">{html.escape(c.email_label)}</label>
<input id="email" name="email" type="email"></p>
<p class="form-submit"><input name="submit" type="submit" value="{html.escape(c.submit)}"></p>
</form></div>
<section class="read-next"><h4>{html.escape(c.read_next)}</h4></section>
</main>"""


def _chrome_lines(c: Chrome, url: str) -> list[str]:
    return [c.share, c.share_url, url, c.previous, PREVIOUS_TITLE, c.next, NEXT_TITLE,
            c.comment, c.notice, c.read_next]


def _flat(headline: str, paragraphs: list[str], c: Chrome, url: str) -> str:
    lines = [headline, *paragraphs, *_chrome_lines(c, url)]
    return f'<div class="content">\n{_paragraphs(lines)}\n</div>'


def _inline(headline: str, paragraphs: list[str], c: Chrome, url: str) -> str:
    return f"""<div id="content" class="article-body">
<h1>{html.escape(headline)}</h1>
<div class="entry-content">
{_paragraphs(paragraphs)}
<div class="share"><p><strong>{html.escape(c.share)}</strong></p>
<p>{html.escape(c.share_url)}: {url}</p></div>
<div class="post-nav"><p>{html.escape(c.previous)}</p>
<p><a href="{PREVIOUS_PATH}">{html.escape(PREVIOUS_TITLE)}</a></p>
<p>{html.escape(c.next)}</p><p><a href="{NEXT_PATH}">{html.escape(NEXT_TITLE)}</a></p></div>
<div class="comments"><p>{html.escape(c.comment)}</p><p>{html.escape(c.notice)}</p></div>
<p>{html.escape(c.read_next)}</p>
</div>
</div>"""


RENDERERS = {"wordpress": _wordpress, "flat": _flat, "inline": _inline}


def _feed(base: str, items: list[tuple[str, str, str]]) -> str:
    entries = "\n".join(
        f"""<item><title>{html.escape(title)}</title><link>{base}{path}</link>
<guid isPermaLink="false">{base}/?p={4711 + index}</guid><pubDate>{date}</pubDate>
<dc:creator>Redakcia</dc:creator><category>Svet</category></item>"""
        for index, (title, path, date) in enumerate(items))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Slovenské Správy</title><link>{base}/</link>
<description>Správy zo sveta</description><language>sk-SK</language>
{entries}
</channel></rss>"""


def seed_site(variant: str, chrome: str = "sk") -> Site:
    """A Site serving one variant; call ``start()`` (or use ``with``)."""
    headline, paragraphs = seed_article()
    render = RENDERERS[variant]
    c = CHROME[chrome]

    def build_routes(site: Site) -> None:
        base = f"http://127.0.0.1:{site.port}"
        article = render(headline, paragraphs, c, base + ARTICLE_PATH)
        site.routes[ARTICLE_PATH] = static(_page(headline, article,
                                                 published="2025-04-26T18:12:00+02:00"))
        for title, path in ((PREVIOUS_TITLE, PREVIOUS_PATH), (NEXT_TITLE, NEXT_PATH)):
            body = f"<main><article><h1>{html.escape(title)}</h1><div class='entry-content'>" \
                   f"{_paragraphs(OTHER_BODIES[title])}</div></article></main>"
            site.routes[path] = static(_page(title, body, published="2025-04-26T12:00:00Z"))
        site.routes["/feed/"] = static(_feed(base, [
            (headline, ARTICLE_PATH, "Sat, 26 Apr 2025 16:12:00 +0000"),
            (PREVIOUS_TITLE, PREVIOUS_PATH, "Sat, 26 Apr 2025 12:00:00 +0000"),
            (NEXT_TITLE, NEXT_PATH, "Sun, 27 Apr 2025 08:30:00 +0000"),
        ]), content_type="application/rss+xml; charset=utf-8")

    return Site(on_start=build_routes)
