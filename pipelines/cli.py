"""The ``newsbeam`` command: ``newsbeam ingest`` (batch), ``newsbeam stream``."""
from __future__ import annotations

import sys
from typing import Sequence

USAGE = """usage: newsbeam <command> [options]

commands:
  ingest   read feeds once and write articles and dead letters to Parquet
           (newsbeam ingest --feeds FEEDS --output DIR [Beam pipeline options])
  stream   poll feeds forever and commit Parquet per window
           (newsbeam stream --feeds FEEDS --output DIR [--poll-interval 60]
            [--window 300] [runner options])

Run 'newsbeam <command> --help' for the command's options."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "ingest":
        from pipelines import ingest
        return ingest.run(rest)
    if command == "stream":
        from pipelines import stream
        return stream.run(rest)
    print(f"newsbeam: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
