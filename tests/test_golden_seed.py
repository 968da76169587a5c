"""Golden test: every seed-style markup comes out as exactly the article.

One real CLI run over all variants (three markups, chrome in four
languages), then the Parquet rows are checked one by one.
"""
from __future__ import annotations

import pyarrow.dataset as ds
import pytest

from devsite.seed_site import ARTICLE_PATH, CHROME, CHROME_LANGUAGES, VARIANTS, seed_article
from schemas import SCHEMA_VERSION
from tests.conftest import FETCHED_AT_FLAG, run_cli

HEADLINE, BODY = seed_article()


@pytest.fixture(scope="module")
def rows(seed_sites, tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    feeds = out / "feeds.txt"
    feeds.write_text("\n".join(site.url("/feed/") for site in seed_sites.values()) + "\n")
    result = run_cli("--feeds", str(feeds), "--output", str(out / "lake"),
                     "--allow-private-networks", "--fetched-at", FETCHED_AT_FLAG)
    assert result.returncode == 0, result.stderr
    table = ds.dataset(out / "lake" / "articles", format="parquet",
                       partitioning="hive").to_table()
    return {row["url"]: row for row in table.to_pylist()}


@pytest.mark.parametrize("chrome", CHROME_LANGUAGES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_seed_variant_is_exactly_the_article(rows, seed_sites, variant, chrome):
    row = rows[seed_sites[(variant, chrome)].url(ARTICLE_PATH)]
    assert row["title"] == HEADLINE
    assert row["text"].split("\n\n") == BODY
    assert row["language"] == "en" and row["language_prob"] > 0.9
    assert row["extraction_method"] == "trafilatura"
    c = CHROME[chrome]
    for line in (c.share, c.share_url, c.previous, c.next, c.comment, c.notice, c.read_next):
        assert line not in row["text"]


def test_every_seed_row_is_complete(rows):
    assert len(rows) == 3 * len(VARIANTS) * len(CHROME_LANGUAGES)
    for row in rows.values():
        assert row["id"] and len(row["id"]) == 32
        assert row["source"].startswith("127.0.0.1:")
        assert row["published_at"] is not None and row["authors"] == ["Redakcia"]
        assert row["fetched_at"].isoformat() == "2026-11-25T12:00:00+00:00"
        assert row["schema_version"] == SCHEMA_VERSION and len(row["content_hash"]) == 64
        assert row["word_count"] > 0 and row["ingest_date"] == "2026-11-25"
