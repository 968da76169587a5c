"""The fixed tune/validate split of the quality corpora (bench/splits.py).

Validate must stay validate: a site's part follows from its name alone,
every page of a site falls on the same side, and the split never changes
(a changed split would leak pages the rules were tuned on into the figures
README reports)."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bench.splits import TUNE, VALIDATE, part_of, site_of, split

HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}\.(com|de|sk|co\.uk|org)", fullmatch=True).filter(
    lambda host: not host.startswith("www."))
PATHS = st.from_regex(r"/[a-z0-9/_-]{0,30}", fullmatch=True)


@given(HOSTS, PATHS, PATHS, st.text(max_size=20), st.text(max_size=20))
def test_every_page_of_a_site_is_on_the_same_side(host, one, two, id_one, id_two):
    a = {"id": id_one, "url": f"https://{host}{one}"}
    b = {"id": id_two, "url": f"http://www.{host}{two}?ref=rss"}
    archived = {"id": id_two, "url": f"https://web.archive.org/web/2019/{host}{two}"}
    assert site_of(a) == site_of(b) == site_of(archived) == host
    assert part_of(a) == part_of(b) == part_of(archived) in (TUNE, VALIDATE)


@given(st.lists(HOSTS, min_size=1, max_size=30, unique=True))
def test_split_keeps_every_document_once_in_its_part(hosts):
    docs = [{"id": str(i), "url": f"https://{h}/a"} for i, h in enumerate(hosts)]
    parts = split(docs)
    assert sorted(d["id"] for part in parts.values() for d in part) == sorted(
        d["id"] for d in docs)
    assert all(part_of(d) == name for name, part in parts.items() for d in part)


def test_about_thirty_percent_of_sites_validate():
    docs = [{"id": str(i), "url": f"https://site{i}.example/"} for i in range(4000)]
    share = len(split(docs)[VALIDATE]) / len(docs)
    assert 0.27 < share < 0.33


def test_a_document_without_a_url_is_its_own_site():
    assert site_of({"id": "die-partei.net.luebeck", "url": None}) == "die-partei.net.luebeck"


def test_the_split_does_not_move():
    # Pinned when the split landed: some sites' parts, and every page of the
    # validate fixtures (tests/fixtures/validate) is still in validate.
    pinned = {"wsj.com": TUNE, "nytimes.com": TUNE, "derstandard.at": TUNE,
              "dw.com": VALIDATE, "abendblatt.de": VALIDATE, "bbc.com": VALIDATE}
    assert {h: part_of({"id": "x", "url": f"https://www.{h}/x"}) for h in pinned} == pinned
    fixtures = Path(__file__).parent / "fixtures" / "validate"
    docs = [json.loads(line) for path in sorted(fixtures.glob("*/docs.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(docs) == 130 and {part_of(d) for d in docs} == {VALIDATE}
