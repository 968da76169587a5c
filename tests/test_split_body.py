"""Rejoining a body split across sibling containers."""
from __future__ import annotations

from trafilatura.utils import load_html

from devsite.corpus_site import load_corpus
from schemas import FeedEntry, Page
from tests.conftest import FETCHED_AT
from transforms.boilerplate.split_body import rejoin
from transforms.extract import extract, run_trafilatura
from transforms.http.charset import decode

SENTENCE = ("The committee met on day {i} to review the harbour plans, and its members asked "
            "the port authority for a full account of the costs, the schedule and the delays.")


def paragraphs(label: str, first: int, count: int) -> list[str]:
    return [f"{label} paragraph {i}. " + SENTENCE.format(i=i) for i in range(first, first + count)]


def html(parts: list[str]) -> str:
    return "".join(f"<p>{p}</p>" for p in parts)


FIRST, SECOND = paragraphs("First", 1, 4), paragraphs("Second", 5, 3)
SIDEBAR, OTHER_POST = paragraphs("Sidebar", 20, 3), paragraphs("Other", 30, 3)
PAGE = f"""<html><body><nav><a href="/">Home</a></nav>
<article class="article main"><h1>Harbour plans under review</h1>
<div class="chunks">
 <div class="grid"><div class="body body__part">{html(FIRST)}</div></div>
 <div class="ad"><span class="ad-label">Advertisement</span></div>
 <div class="grid"><div class="body body__part">{html(SECOND)}
   <ul><li>Budget</li><li>Schedule</li></ul></div></div>
 <div class="grid"><div class="body body__part"><ul><li>Home</li><li>News</li><li>Sport</li>
   </ul></div></div>
</div></article>
<section class="sidebar"><div class="block"><div class="body body__part">{html(SIDEBAR)}</div>
</div></section>
<div class="chunks"><article class="teaser"><div class="grid"><div class="body body__part">
{html(OTHER_POST)}</div></div></article></div>
</body></html>"""


def test_the_body_s_other_parts_come_back_in_document_order():
    lines, added = rejoin(load_html(PAGE), ["Harbour plans under review", *FIRST])
    # Only the sibling that reads like prose counts; its list items come along.
    assert added == 5
    assert lines == ["Harbour plans under review", *FIRST, *SECOND, "Budget", "Schedule"]


def test_look_alikes_elsewhere_on_the_page_are_not_the_body():
    lines, added = rejoin(load_html(PAGE), ["Harbour plans under review", *FIRST])
    text = "\n".join(lines)
    assert "Sidebar" not in text      # same class, but in a sidebar's block
    assert "Other" not in text        # same class and path, but another post's <article>
    assert "Sport" not in text        # same class, but a menu, not prose


def test_a_whole_body_is_left_alone():
    whole = ["Harbour plans under review", *FIRST, *SECOND, "Budget", "Schedule"]
    assert rejoin(load_html(PAGE), whole) == (whole, 0)


def test_many_look_alikes_are_a_grid_not_a_body():
    cells = "".join(f'<div class="grid"><div class="card">{html(paragraphs(f"Card{n}", 1, 3))}'
                    f'</div></div>' for n in range(8))
    page = f"<html><body><div class='cards'>{cells}</div></body></html>"
    first = paragraphs("Card0", 1, 3)
    assert rejoin(load_html(page), first) == (first, 0)


def test_nothing_to_go_on():
    assert rejoin(None, ["a line"]) == (["a line"], 0)
    assert rejoin(load_html(PAGE), []) == ([], 0)
    assert rejoin(load_html(PAGE), ["text from the feed, not the page"]) == (
        ["text from the feed, not the page"], 0)


def test_extract_rejoins_a_real_split_article():
    """rp.pl cuts its article into `articleBody` blocks around adverts;
    trafilatura alone returns the first block only."""
    page = next(p for p in load_corpus("fundus-dev") if p.id.startswith("Rzeczpospolita"))
    html_text, _ = decode(page.html)
    entry = FeedEntry(id="rp", url="http://127.0.0.1:1/rp.html", feed_url="http://127.0.0.1:1/f",
                      fetched_at=FETCHED_AT, title=page.title)
    article, problem = extract(Page(entry=entry, final_url=entry.url, html=html_text,
                                    http_status=200))
    later = "Symboliczne zdjęcie zwłok syryjskiego trzylatka"
    doc, _ = run_trafilatura(html_text, entry.url)
    assert later not in doc.text
    assert problem is None
    assert later in article.text
    assert article.text.index("Jest to otwarcie drzwi do piekła") < article.text.index(later)
