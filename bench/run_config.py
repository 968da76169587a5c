"""One benchmark configuration, run in a fresh process so that its CPU time
and memory are its own.  Prints one JSON line: articles and extras."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

FETCHED_AT = "2026-11-25T12:00:00Z"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", choices=("tight", "pipeline"))
    parser.add_argument("--feeds", required=True)
    parser.add_argument("--out", required=True)
    args, extra = parser.parse_known_args()
    feeds = [line.strip() for line in open(args.feeds) if line.strip()]
    if args.config == "tight":
        from bench import tight
        result = tight.run(feeds, datetime.fromisoformat(FETCHED_AT.replace("Z", "+00:00")),
                           Path(args.out))
    else:
        import contextlib
        import io

        from pipelines import ingest
        with contextlib.redirect_stdout(io.StringIO()):
            code = ingest.run(["--feeds", args.feeds, "--output", args.out,
                               "--allow-private-networks", "--fetched-at", FETCHED_AT, *extra])
        if code != 0:
            sys.exit(code)
        summary = json.loads((Path(args.out) / "run_summary.json").read_text())
        result = {"articles": summary["articles"], "dead_letters": summary["dead_letters"]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
