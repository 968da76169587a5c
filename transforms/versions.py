"""Stage: keep an article fetched again only if its text changed.

With ``--on-update version`` an article the seen store already holds is
fetched again when a feed lists it (``transforms/seen.py``), carrying the
content hash and version the store knows.  Once it is clean, this stage
compares: the same text is dropped (counter ``version.unchanged``), other
text goes on as a new row with ``version`` one higher and
``previous_content_hash`` pointing at the row it updates.  Articles seen
for the first time pass untouched (version 1).
"""
from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from schemas import Article
from transforms.lib import outcomes
from transforms.lib.stage import Stage

STAGE = "version"


class KeepChangedFn(beam.DoFn):
    @outcomes.guarded(STAGE)
    def process(self, article: Article) -> Iterator[Article]:
        if article.previous_content_hash is None:
            yield article
        elif article.content_hash == article.previous_content_hash:
            outcomes.count(STAGE, "unchanged")
        else:
            outcomes.count(STAGE, "updated")
            yield article


def stage() -> Stage:
    return Stage("KeepChanged", KeepChangedFn())
