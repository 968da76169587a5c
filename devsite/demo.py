"""``make run``: serve the fixture news site on 127.0.0.1 and ingest it.

The site has the seed-style Slovak site (three markups), real pages in many
languages from the fixture corpora, and a feed of deliberately broken
entries.  Extra arguments go to ``newsbeam ingest`` unchanged.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Sequence

from devsite.broken_site import broken_site
from devsite.corpus_site import corpus_site
from devsite.seed_site import VARIANTS, seed_site
from pipelines import ingest

# The demo's pages answer instantly; only the hanging page waits, so short
# timeouts keep the demo quick without changing what it shows.
DEMO_FLAGS = ["--allow-private-networks", "--read-timeout", "2", "--total-timeout", "5",
              "--retry-budget", "3"]



def start_sites() -> tuple[list, list[str]]:
    sites, feeds = [], []
    for variant in VARIANTS:
        site = seed_site(variant).start()
        sites.append(site)
        feeds.append(site.url("/feed/"))
    corpus = corpus_site().start()
    sites.append(corpus)
    feeds += [corpus.url(f"/feeds/{name}.xml") for name in ("zyte", "fundus-dev",
                                                               "trafilatura-eval")]
    broken = broken_site().start()
    sites.append(broken)
    feeds += [broken.url("/feed.xml"), broken.url("/malformed.xml")]
    return sites, feeds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="out/demo",
                        help="output directory (default: %(default)s)")
    args, extra = parser.parse_known_args(argv)
    sites, feeds = start_sites()
    try:
        # The site gets new ports every time, so yesterday's demo output and
        # feed state are stale: start clean, touching only what a run writes.
        for name in ("articles", "errors", "_state"):
            shutil.rmtree(os.path.join(args.output, name), ignore_errors=True)
        os.makedirs(args.output, exist_ok=True)

        feed_list = os.path.join(args.output, "demo-feeds.txt")
        with open(feed_list, "w", encoding="utf-8") as handle:
            handle.write("# fixture news site started by `make run`\n")
            handle.write("\n".join(feeds) + "\n")
        print(f"demo site: {len(feeds)} feeds on 127.0.0.1, listed in {feed_list}")
        return ingest.run(["--feeds", feed_list, "--output", args.output, *DEMO_FLAGS,
                           *extra])
    finally:
        for site in sites:
            site.stop()


if __name__ == "__main__":
    sys.exit(main())
