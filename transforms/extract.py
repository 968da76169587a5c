"""Stage 3: extract the article body and metadata with trafilatura.

trafilatura runs with comments excluded and its process-global
deduplication off (that cache makes output depend on which pages a worker
saw before).  When the page is missing or yields no body, the feed's own
``content:encoded`` or summary stands in, and ``extraction_method`` says so.
A body the page splits across sibling containers is rejoined first
(:mod:`transforms.boilerplate.split_body`), then lines the markup labels as chrome go,
then those the learned line model takes for chrome
(:mod:`transforms.boilerplate.line_model`): this is the one stage that holds
the parsed page, and both judge a line by its home in it.
"""
from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime
from typing import Any, Iterable, Iterator

import apache_beam as beam
import lxml.html
import trafilatura
from courlan import extract_domain
from htmldate import find_date
from lxml import etree
from trafilatura import metadata as trafilatura_metadata
from trafilatura.settings import Document, set_date_params
from trafilatura.utils import load_html

from schemas import Article, DeadLetter, FeedEntry, Page, RemovedLine
from transforms.boilerplate.line_model import MAX_JUDGED_WORDS, LineModel
from transforms.boilerplate.line_model import REASON as MODEL_REASON
from transforms.boilerplate.markup import chrome_by_markup, locate, markup_features
from transforms.boilerplate.split_body import rejoin
from transforms.lib import outcomes
from transforms.lib.budget import BudgetExceeded, Watchdog
from transforms.lib.heap import HeapTrimmer
from transforms.lib.stage import ApplyStage, Stage
from transforms.lib.text import (
    clean_line,
    join_paragraphs,
    normalise,
    paragraphs,
    sanitize,
    word_count,
)
from transforms.lib.urls import source_of

STAGE = "extract"
TRAFILATURA = "trafilatura"
FEED_CONTENT = "feed_content"
FEED_SUMMARY = "feed_summary"

_BLOCKS = frozenset({"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
                     "pre", "tr", "dt", "dd", "figcaption", "section", "article", "ul",
                     "ol", "table", "header", "footer", "aside"})
# Fewer words than this is no article at all (a bare menu or a label).
MIN_ARTICLE_WORDS = 3
# Below this many words a page extraction is a fragment (a menu, a
# cookie wall, a paywall teaser); the feed's own text may say more.
MIN_BODY_WORDS = 25
# Feed content this much longer than the page extraction means the page
# showed only part of the article (paywalls, script-rendered bodies).
FEED_CONTENT_MARGIN = 1.2


def html_fragment_text(fragment: str) -> str:
    """Paragraph text of a feed's HTML snippet (content:encoded or summary)."""
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return join_paragraphs(paragraphs(fragment))
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
            if element.text:
                element.text = "\n" + element.text
    return join_paragraphs(paragraphs(root.text_content()))


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _split_authors(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(a.strip() for a in value.split(";") if a.strip()))


def _unique(*groups: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(sanitize(v).strip() for g in groups for v in (g or [])
                               if v and sanitize(v).strip()))


@dataclasses.dataclass(frozen=True)
class ExtractLimits:
    """The per-page budget of extraction (``--max-page-elements``,
    ``--extraction-timeout``).  Real news pages measured here have at most
    about 10,000 elements and take at most 1.3 s of CPU; a crafted 7 MB
    page of 100,000 elements took trafilatura 46 s and 955 MB."""

    max_elements: int = 50_000
    cpu_seconds: float = 10.0


class PageTooComplex(Exception):
    pass


def count_elements(tree: Any, limit: int) -> int:
    """Elements in ``tree``, counting stops just past ``limit``."""
    n = 0
    for n, _ in enumerate(tree.iter(), start=1):
        if n > limit:
            break
    return n


# What trafilatura's extraction fills in of its Document; every other field
# is page metadata (see :func:`page_metadata`).
_EXTRACTED = frozenset({"body", "comments", "commentsbody", "raw_text", "text", "language",
                        "fingerprint", "id"})
_METADATA = tuple(slot for slot in Document.__slots__ if slot not in _EXTRACTED)


def page_metadata(tree: Any, url: str | None, entry: FeedEntry | None = None) -> Document:
    """trafilatura's page metadata (``trafilatura.metadata.extract_metadata``,
    step for step), without the searches whose result :func:`build_article`
    would not use: the feed's title, authors and date win over the page's, so
    when ``entry`` gives one, its search (htmldate's date search is the
    costly one) is skipped; the licence is never used.  The fields searched
    come out as trafilatura finds them, and the date search is bounded by
    the run's ``fetched_at`` instead of the wall clock (the same day unless
    ``--fetched-at`` says otherwise), so a rerun finds the same dates.
    The tree is only read."""
    meta = trafilatura_metadata.examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None
    try:
        meta = trafilatura_metadata.extract_meta_json(tree, meta)
    except Exception:  # noqa: BLE001 - as trafilatura: its JSON-LD reader has bugs
        pass
    if not meta.title and not (entry is not None and entry.title):
        meta.title = trafilatura_metadata.extract_title(tree)
    if not meta.author and not (entry is not None and entry.authors):
        meta.author = trafilatura_metadata.extract_author(tree)
    if not meta.url:
        meta.url = trafilatura_metadata.extract_url(tree, url)
    if meta.url:
        meta.hostname = extract_domain(meta.url, fast=True)
    if entry is None or entry.published_at is None:
        params = set_date_params(True) if entry is None else {
            "original_date": True, "extensive_search": True,
            "max_date": entry.fetched_at.strftime("%Y-%m-%d")}
        meta.date = find_date(tree, **params, url=meta.url)
    if not meta.sitename:
        meta.sitename = trafilatura_metadata.extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url:
        match = trafilatura_metadata.META_URL.match(meta.url)
        if match:
            meta.sitename = match[1]
    if not meta.categories:
        meta.categories = trafilatura_metadata.extract_catstags("category", tree)
    if not meta.tags:
        meta.tags = trafilatura_metadata.extract_catstags("tag", tree)
    meta.clean_and_trim()
    return meta


def run_trafilatura(html: str, url: str | None, limits: ExtractLimits = ExtractLimits(),
                    watchdog: Watchdog | None = None, entry: FeedEntry | None = None
                    ) -> tuple[Any, Any]:
    """trafilatura's document, and the parsed page it came from.

    The page is parsed once here and handed to trafilatura (which works on
    its own copy), so the markup evidence of the clean step reuses it.
    Extraction runs without trafilatura's metadata pass; the metadata comes
    from :func:`page_metadata`, which skips what ``entry`` (the feed) gives.
    Raises PageTooComplex past the element cap, and BudgetExceeded when
    extraction outlasts its CPU budget.
    """
    tree = load_html(html)
    if tree is None:
        return None, None
    elements = count_elements(tree, limits.max_elements)
    if elements > limits.max_elements:
        raise PageTooComplex(f"the page has more than {limits.max_elements} elements")
    budget = watchdog.budget(limits.cpu_seconds) if watchdog else contextlib.nullcontext()
    with budget:
        doc = trafilatura.bare_extraction(
            tree, url=url, include_comments=False, with_metadata=False, deduplicate=False)
        if doc is not None:
            try:
                meta = page_metadata(tree, url, entry)
            except (TypeError, ValueError):  # as bare_extraction: no document
                return None, tree
            for slot in _METADATA:
                setattr(doc, slot, getattr(meta, slot))
    return doc, tree


@dataclasses.dataclass(frozen=True)
class MarkupPass:
    """The lines the page's markup does not label as chrome, with their
    markup features for the line model, and the lines it removed."""

    lines: list[str]
    markup: list[list[float]]
    removed: tuple[RemovedLine, ...]


def drop_marked_chrome(tree: Any, lines: list[str], every_line: bool = False) -> MarkupPass:
    """Remove lines whose markup labels them as chrome (bylines, breadcrumbs ...).

    The stage needs markup features only for the lines the line model judges;
    ``every_line`` computes them for all, as the model's training does
    (bench/train_line_model.py)."""
    homes = locate(tree, lines)
    marked = chrome_by_markup(tree, lines, homes)
    if len(marked) == len(lines):
        marked = {}
    rows = markup_features(homes, len(lines),
                           lambda i: every_line or word_count(lines[i]) < MAX_JUDGED_WORDS)
    kept = [i for i in range(len(lines)) if i not in marked]
    return MarkupPass([lines[i] for i in kept], [rows[i] for i in kept],
                      tuple(RemovedLine(line=lines[i], reason=marked[i]) for i in sorted(marked)))


def markup_pass(tree: Any, lines: list[str], every_line: bool = False) -> MarkupPass:
    """trafilatura's lines, a split body rejoined and the marked chrome removed."""
    lines, rejoined = rejoin(tree, lines)
    if rejoined:
        outcomes.count(STAGE, "split_body_rejoined")
    return drop_marked_chrome(tree, lines, every_line)


def drop_by_model(model: LineModel, found: MarkupPass, title: str | None,
                  authors: Iterable[str]) -> tuple[list[str], tuple[RemovedLine, ...]]:
    """Remove the lines the line model takes for chrome."""
    keys = frozenset(filter(None, map(normalise, authors)))
    chosen = set(model.off_body(found.lines, title, keys, found.markup))
    if not chosen:
        return found.lines, ()
    return ([line for i, line in enumerate(found.lines) if i not in chosen],
            tuple(RemovedLine(line=found.lines[i], reason=MODEL_REASON) for i in sorted(chosen)))


def headline_and_authors(page: Page, doc: Any) -> tuple[str | None, tuple[str, ...]]:
    """The article's title and authors, as :func:`build_article` records them."""
    entry = page.entry
    title = entry.title or (clean_line(getattr(doc, "title", None)) if doc is not None else None)
    authors = entry.authors or (
        _split_authors(clean_line(getattr(doc, "author", None))) if doc is not None else ())
    return title, tuple(authors)


def build_article(page: Page, doc: Any, text: str, method: str) -> Article:
    """An (uncleaned) article from the page, trafilatura's document and a body."""
    entry = page.entry
    meta = (lambda name: clean_line(getattr(doc, name, None))) if doc is not None else (
        lambda name: None)
    title, authors = headline_and_authors(page, doc)
    return Article(
        id=entry.id,
        url=entry.url,
        final_url=page.final_url,
        feed_url=entry.feed_url,
        guid=entry.guid,
        source=source_of(page.final_url or entry.url),
        sitename=meta("sitename") or entry.feed_title,
        title=title,
        authors=authors,
        published_at=entry.published_at or _date(meta("date")),
        fetched_at=entry.fetched_at,
        text=text,
        tags=_unique(entry.tags, getattr(doc, "tags", None)),
        categories=_unique(getattr(doc, "categories", None)),
        image=meta("image"),
        description=meta("description"),
        extraction_method=method,
        feed_urls=entry.feed_urls or (entry.feed_url,),
        version=entry.known_version + 1,
        previous_content_hash=entry.known_content_hash,
    )


def choose_body(extracted: list[str], content: list[str], summary: list[str]
                ) -> tuple[str, list[str]]:
    """Which text stands for the article: the page's, or the feed's own."""
    words = {TRAFILATURA: sum(map(word_count, extracted)),
             FEED_CONTENT: sum(map(word_count, content)),
             FEED_SUMMARY: sum(map(word_count, summary))}
    if words[TRAFILATURA] >= MIN_BODY_WORDS and \
            words[TRAFILATURA] * FEED_CONTENT_MARGIN >= words[FEED_CONTENT]:
        return TRAFILATURA, extracted
    options = ((TRAFILATURA, extracted), (FEED_CONTENT, content), (FEED_SUMMARY, summary))
    method, lines = max(options, key=lambda option: words[option[0]])
    return method, lines


def extract(page: Page, limits: ExtractLimits = ExtractLimits(),
            watchdog: Watchdog | None = None, model: LineModel | None = None
            ) -> tuple[Article | None, tuple[str, str] | None]:
    """The article for ``page`` and, if something went wrong, the
    (error_type, message) worth a dead letter.  Both may be set: an
    extractor crash, or a page over its budget, rescued by the feed's text
    is still reported."""
    problem = None
    doc = tree = None
    if page.html is not None:
        try:
            doc, tree = run_trafilatura(page.html, page.final_url or page.entry.url, limits,
                                        watchdog, page.entry)
        except PageTooComplex as exc:
            problem = ("too_complex", str(exc))
        except BudgetExceeded:
            doc = tree = None
            problem = ("extraction_timeout",
                       f"extraction took more than {limits.cpu_seconds:g}s of CPU")
        except Exception as exc:  # noqa: BLE001 - any extractor bug becomes a record
            problem = ("extraction_error", f"trafilatura raised {type(exc).__name__}: {exc}")
    extracted = paragraphs(sanitize(doc.text or "")) if doc is not None else []
    entry = page.entry
    content = paragraphs(html_fragment_text(entry.content)) if entry.content else []
    summary = paragraphs(html_fragment_text(entry.summary)) if entry.summary else []
    method, lines = choose_body(extracted, content, summary)
    removed: tuple[RemovedLine, ...] = ()
    if method == TRAFILATURA:
        found = markup_pass(tree, lines)
        lines, removed = found.lines, found.removed
        if model is not None:
            lines, by_model = drop_by_model(model, found, *headline_and_authors(page, doc))
            if by_model:
                outcomes.count(STAGE, "line_model_removed", len(by_model))
            removed += by_model
    if sum(map(word_count, lines)) >= MIN_ARTICLE_WORDS:
        article = build_article(page, doc, join_paragraphs(lines), method)
        return dataclasses.replace(article, boilerplate_removed=removed), problem

    if problem is None:
        why = ("the page has no extractable article body" if page.html is not None
               else f"the page could not be fetched ({page.fetch_error})")
        problem = ("no_body", f"{why} and the feed carries no text for it")
    return None, problem


class ExtractArticleFn(beam.DoFn):
    def __init__(self, limits: ExtractLimits = ExtractLimits(), line_model: bool = True):
        self._limits = limits
        self._use_model = line_model
        self._watchdog: Watchdog | None = None
        self._model: LineModel | None = None
        self._heap: HeapTrimmer | None = None

    def setup(self) -> None:
        self._watchdog = Watchdog()
        self._model = LineModel.load() if self._use_model else None
        # Parsing frees megabytes per page; give them back (transforms/lib/heap.py).
        self._heap = HeapTrimmer()

    def teardown(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None

    @outcomes.guarded(STAGE)
    def process(self, page: Page) -> Iterator[Any]:
        assert self._heap is not None, "setup() was not called"
        self._heap.tick()
        article, problem = extract(page, self._limits, self._watchdog, self._model)
        if problem is not None:
            outcomes.count(STAGE, problem[0])
            yield outcomes.dead_letter(
                STAGE, problem[0], problem[1], url=page.final_url or page.entry.url,
                feed_url=page.entry.feed_url, at=page.entry.fetched_at,
                http_status=page.http_status, article_id=page.entry.id)
        if article is not None:
            outcomes.count(STAGE, article.extraction_method)
            yield article


def stage(limits: ExtractLimits = ExtractLimits(), line_model: bool = True) -> Stage:
    return Stage("ExtractArticles", ExtractArticleFn(limits, line_model))


class ExtractArticles(beam.PTransform):
    """Pages in, raw articles and dead letters out."""

    def __init__(self, limits: ExtractLimits = ExtractLimits()):
        super().__init__()
        self._limits = limits

    def expand(self, pages: beam.PCollection[Page]
               ) -> tuple[beam.PCollection[Article], beam.PCollection[DeadLetter]]:
        return pages | ApplyStage(stage(self._limits))
