"""Two news sites whose feeds change between scheduled runs.

For the scheduled-run tests: ``newsbeam ingest`` runs every hour (three
runs here), and between runs the feeds gain, lose and edit items the way
real sites do.  The stories:

- ``council``, ``harbour``: plain stories of the main site (``harbour`` is
  edited before run 2: its text changes, its URL does not);
- ``library``: one story at four URLs of the main site (the article, its AMP
  and print versions, a category path), all in the feed;
- ``bridge``: republished at a new URL in run 2 (same text, new slug);
- ``flood``: a wire story on the main site and, edited, on a second site;
- ``museum`` (run 2) and ``festival`` (run 3): new stories.

Every story's body has ten paragraphs, two of them short (under 25 words),
as news stories do: a story at several URLs must not lose them.  Pages
carry the sites' chrome (a share bar, a "read next" teaser, a footer).
"""
from __future__ import annotations

import html
import random
from dataclasses import dataclass, field

from devsite.server import Site, send

SENTENCES = (
    "Officials said the work would begin in the spring and last about eighteen months.",
    "Most of the disruption is expected in the first half of the year.",
    "The cost has risen by a fifth since the plan was first proposed.",
    "Higher prices for steel and concrete were blamed for the increase.",
    "Opposition members asked for a second independent review of the figures.",
    "The chief engineer answered their questions for almost an hour.",
    "Local traders welcomed the decision after two years of uncertainty.",
    "Customers had stayed away from the old town during the long debate.",
    "A residents' association promised to publish its own noise measurements.",
    "The association had campaigned against the original design for months.",
    "A public information evening is planned in the town hall.",
    "Engineers will answer questions from residents at the meeting.",
    "The mayor thanked the volunteers who had collected signatures.",
    "Several schools will change their bus routes while the roads are closed.",
    "The regional government has promised to cover a third of the bill.",
    "Critics say the timetable is too optimistic for a project of this size.",
    "The contract was awarded to a consortium of three local builders.",
    "Archaeologists will survey the site before any digging starts.",
    "Parking on the western side of the square will be suspended.",
    "A temporary footbridge will keep the two halves of the town connected.",
    "The fire service asked for a second access route during the works.",
    "Shopkeepers will be offered a discount on their business rates.",
    "The project manager said weekend work would be kept to a minimum.",
    "Night buses will be diverted along the ring road from next month.",
    "Environmental groups want a new survey of the river banks first.",
    "The previous plan was dropped three years ago after a legal challenge.",
    "Ticket prices for the ferry will stay the same during the works.",
    "The council expects the first results of the tender in January.",
    "A hotline for complaints will be open seven days a week.",
    "Cyclists will have a separate lane for the whole of the diversion.",
    "The harbour master warned of delays for fishing boats at low tide.",
    "A new playground is part of the second phase of the plan.",
    "Farmers on the edge of town asked for their access roads to stay open.",
    "The local newspaper will print the weekly schedule of closures.",
    "Heritage officials approved the colour of the new facade.",
    "Students from the technical college will help with the measurements.",
    "The bank that finances the project asked for quarterly reports.",
    "Two councillors abstained, citing a conflict of interest.",
    "Insurance costs for the project have doubled since last year.",
    "The old building will be turned into a visitor centre.",
)


def body(story: str, edited: bool = False) -> list[str]:
    """Ten paragraphs of the story's own sentences; the 4th and 8th are short."""
    rng = random.Random(story)
    picked = rng.sample(SENTENCES, 16)
    topic = story.capitalize()
    lines = [f"{topic}: the regional council heard on Monday that the {story} plan had cleared "
             f"its last hurdle. {picked[0]}"]
    for i in range(1, 10):
        if i in (3, 7):
            lines.append(f"The {story} vote was unanimous." if i == 3
                         else f"Questions about {story} funding remain open.")
        else:
            lines.append(f"{picked[i]} {picked[i + 6] if i + 6 < 16 else ''}".strip())
    if edited:
        lines[2] = (f"The cost of the {story} scheme has risen by a quarter, the council "
                    f"corrected on Tuesday, after an error was found in the report.")
    return lines


def page(site_name: str, title: str, paragraphs: list[str], teaser: str) -> str:
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)} - {site_name}</title></head><body>"
            f"<header><nav><a href='/'>Home</a> <a href='/news/'>News</a></nav></header>"
            f"<article><h1>{html.escape(title)}</h1>{paras}</article>"
            f"<div class='share'><p>Share this article</p></div>"
            f"<aside><p>Read next: {html.escape(teaser)}</p></aside>"
            f"<footer><p>© {site_name}. All rights reserved.</p></footer></body></html>")


def rss(base: str, title: str, items: list[tuple[str, str]]) -> str:
    entries = "".join(
        f"<item><title>{html.escape(t)}</title><link>{base}{path}</link>"
        f"<guid>{base}{path}</guid><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>"
        for path, t in items)
    return (f"<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel>"
            f"<title>{title}</title><link>{base}/</link>{entries}</channel></rss>")


LIBRARY_URLS = ("/news/library", "/amp/news/library", "/print/news/library",
                "/culture/library")


@dataclass
class ScheduledSites:
    """The main site and the syndicating one; ``run`` picks what they serve."""

    run: int = 1
    main: Site = field(default_factory=Site)
    wire: Site = field(default_factory=Site)

    def start(self) -> ScheduledSites:
        self.main.routes = _Routes(self, "main")
        self.wire.routes = _Routes(self, "wire")
        self.main.start()
        self.wire.start()
        return self

    def stop(self) -> None:
        self.main.stop()
        self.wire.stop()

    def feeds(self) -> list[str]:
        return [self.main.url("/feed.xml"), self.wire.url("/feed.xml")]

    # What each site serves in the current run -------------------------------
    def main_items(self) -> list[tuple[str, str]]:
        items = [("/news/council", "Council approves budget"),
                 ("/news/harbour", "Harbour works to start")]
        items += [(url, "New library opens") for url in LIBRARY_URLS]
        items.append(("/world/flood", "Flood defences to be raised"))
        if self.run == 1:
            items.append(("/news/bridge", "Bridge repairs begin"))
        else:
            items.append(("/news/bridge-repairs-begin", "Bridge repairs begin"))
            items.append(("/news/museum", "Museum extension approved"))
        if self.run >= 3:
            items.append(("/news/festival", "Festival dates announced"))
        return items

    def main_page(self, path: str) -> str | None:
        stories = {"/news/council": "council", "/news/harbour": "harbour",
                   "/world/flood": "flood", "/news/museum": "museum",
                   "/news/festival": "festival", "/news/bridge": "bridge",
                   "/news/bridge-repairs-begin": "bridge",
                   **{url: "library" for url in LIBRARY_URLS}}
        story = stories.get(path)
        if story is None:
            return None
        edited = story == "harbour" and self.run >= 2
        return page("Coast Times", f"{story.capitalize()} news", body(story, edited),
                    "Ferry timetable changes for winter")

    def wire_page(self, path: str) -> str | None:
        if path != "/national/flood-defences":
            return None
        paragraphs = ["By our correspondent"] + body("flood")[:-1]  # trimmed, bylined
        return page("National Daily", "Flood defences raised across the coast", paragraphs,
                    "Election results by region")


class _Routes(dict):
    def __init__(self, sites: ScheduledSites, which: str):
        super().__init__()
        self.sites, self.which = sites, which

    def get(self, path, default=None):
        sites, which = self.sites, self.which
        site = sites.main if which == "main" else sites.wire
        if path == "/feed.xml":
            base = f"http://127.0.0.1:{site.port}"
            items = (sites.main_items() if which == "main"
                     else [("/national/flood-defences", "Flood defences raised")])
            data = rss(base, "Coast Times" if which == "main" else "National Daily", items)
            return lambda h: send(h, 200, data.encode(), "application/rss+xml")
        if path == "/robots.txt":
            return default
        text = sites.main_page(path) if which == "main" else sites.wire_page(path)
        if text is None:
            return default
        return lambda h: send(h, 200, text.encode())
