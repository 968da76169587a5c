"""The one PipelineOptions subclass newsbeam adds to Beam's own options.

Every flag has a dash and an underscore spelling: Beam re-creates options
on workers from their ``dest`` names (underscores), and users type dashes.
"""
from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime, timedelta

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.articles import ChainSettings
from transforms.extract import ExtractLimits
from transforms.feed.states import Schedule
from transforms.http.settings import DEFAULT_USER_AGENT, FetchSettings
from transforms.language import DEFAULT_SAMPLE_CHARS
from transforms.seen import SKIP, UPDATE_POLICIES
from transforms.sinks import Sink
from transforms.sinks.parquet import ParquetSink
from transforms.stories import DEFAULT_TTL_HOURS

DAY = 24 * 3600.0
FIRST_YEAR, LAST_YEAR = 1970, 9998
TEN_YEARS_HOURS = 10 * 365 * 24.0
# Allowed ranges of the numeric flags, inclusive.  Zero or negative limits,
# NaN and absurd values are refused at launch with exit status 2, before
# they can become hangs or overflows deep inside a worker.
LIMITS: dict[str, tuple[float, float]] = {
    "connect-timeout": (0.001, DAY), "read-timeout": (0.001, DAY),
    "total-timeout": (0.001, DAY), "max-bytes": (1, 2**40),
    "max-decoded-bytes": (1, 2**40), "max-redirects": (0, 100),
    "max-in-flight": (1, 100_000), "max-attempts": (1, 1000),
    "retry-budget": (0, DAY), "per-host-concurrency": (1, 100_000),
    "per-host-interval": (0, DAY), "max-crawl-delay": (0, DAY),
    "host-shards": (1, 100_000), "revalidate-after": (0, TEN_YEARS_HOURS),
    "language-sample-chars": (0, 2**31 - 1), "num-shards": (1, 100_000),
    "poll-interval": (0.001, DAY), "window": (0.001, 30 * DAY),
    "seen-ttl": (0.001, TEN_YEARS_HOURS), "lock-timeout": (0, DAY),
    "seen-max-ids": (1000, 10**10), "story-ttl": (0.001, TEN_YEARS_HOURS),
    "max-page-elements": (100, 100_000_000), "extraction-timeout": (0, DAY),
    "progress-interval": (0.1, DAY),
}


def _flag(parser, name: str, **kwargs) -> None:
    spellings = [f"--{name}"]
    if "-" in name:
        spellings.append(f"--{name.replace('-', '_')}")
    parser.add_argument(*spellings, dest=name.replace("-", "_"), **kwargs)


class NewsbeamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        defaults = FetchSettings()
        limits = ExtractLimits()
        _flag(parser, "feeds", default=None,
              help="Feed list: a text file of feed URLs or paths (one per line, '#' "
                   "comments), an OPML file, a local feed file, or one feed URL. Required.")
        _flag(parser, "output", default=None,
              help="Output directory (local path or any Beam filesystem URL); articles go "
                   "to OUTPUT/articles, dead letters to OUTPUT/errors. Required.")
        _flag(parser, "allow-private-networks", action="store_true", default=False,
              help="Allow fetching from loopback, private and link-local addresses "
                   "(default: refused, as a guard against server-side request forgery).")
        _flag(parser, "user-agent", default=DEFAULT_USER_AGENT,
              help="User-Agent sent with every request (default: %(default)s).")
        _flag(parser, "connect-timeout", type=float, default=defaults.connect_timeout,
              help="Seconds to establish a connection (default: %(default)s).")
        _flag(parser, "read-timeout", type=float, default=defaults.read_timeout,
              help="Seconds to wait for the next bytes of a response (default: %(default)s).")
        _flag(parser, "total-timeout", type=float, default=defaults.total_timeout,
              help="Seconds for a whole request, redirects included (default: %(default)s).")
        _flag(parser, "max-bytes", type=int, default=defaults.max_bytes,
              help="Largest response body accepted on the wire, in bytes "
                   "(default: %(default)s).")
        _flag(parser, "max-decoded-bytes", type=int, default=defaults.max_decoded_bytes,
              help="Largest body accepted after gzip/deflate/brotli decoding, in bytes "
                   "(default: %(default)s).")
        _flag(parser, "max-redirects", type=int, default=defaults.max_redirects,
              help="Redirects followed per request (default: %(default)s).")
        _flag(parser, "max-in-flight", type=int, default=32,
              help="Concurrent requests per worker, and finished pages buffered before "
                   "extraction (default: %(default)s).")
        _flag(parser, "max-attempts", type=int, default=defaults.max_attempts,
              help="Attempts per URL for transient failures: timeouts, connection errors, "
                   "429 and 5xx (default: %(default)s).")
        _flag(parser, "retry-budget", type=float, default=defaults.retry_budget,
              help="Seconds a URL may spend in retries, Retry-After included "
                   "(default: %(default)s).")
        _flag(parser, "per-host-concurrency", type=int, default=defaults.per_host_concurrency,
              help="Requests in flight per host across all workers (default: %(default)s).")
        _flag(parser, "per-host-interval", type=float, default=defaults.per_host_interval,
              help="Minimum seconds between requests to one host; a robots.txt Crawl-delay "
                   "raises it (default: %(default)s).")
        _flag(parser, "max-crawl-delay", type=float, default=defaults.max_crawl_delay,
              help="Largest robots.txt Crawl-delay honoured, in seconds "
                   "(default: %(default)s).")
        _flag(parser, "ignore-robots", action="store_true", default=False,
              help="Do not fetch or obey robots.txt for article pages (default: obey).")
        _flag(parser, "host-shards", type=int, default=defaults.host_shards,
              help="Shards per host: how many workers may fetch one site, each with its "
                   "share of the per-host limits; forced to 1 when --per-host-interval is "
                   "set, so the interval is exact (default: %(default)s).")
        _flag(parser, "state-dir", default=None,
              help="Where feed validators (ETag, Last-Modified), body hashes, schedule and "
                   "health are kept between runs (default: OUTPUT/_state).")
        _flag(parser, "shared-filesystem", action="store_true", default=False,
              help="Confirm that local paths (--output, --state-dir, local feed files) are "
                   "on a filesystem every worker sees (NFS, or a cluster on one machine). "
                   "Required for local paths with a runner whose workers run elsewhere, "
                   "such as Flink (default: off; object storage needs no flag).")
        _flag(parser, "lock-timeout", type=float, default=0.0,
              help="Seconds to wait for the state directory when another run holds it; "
                   "0 refuses at once with exit status 2 (default: %(default)s).")
        _flag(parser, "revalidate-after", type=float, default=24.0,
              help="Hours after which a feed is fetched in full even if it answers 304, "
                   "guarding against servers whose validators go stale "
                   "(default: %(default)s).")
        _flag(parser, "fetched-at", default=None,
              help="ISO-8601 time recorded as fetched_at for this run; reruns with the same "
                   "value rewrite identical files (default: the launch time, UTC).")
        _flag(parser, "max-page-elements", type=int, default=limits.max_elements,
              help="Largest page extracted, in HTML elements; a bigger page becomes a "
                   "too_complex dead letter and the feed's own text stands in. Real news "
                   "pages have at most about 10,000 (default: %(default)s).")
        _flag(parser, "extraction-timeout", type=float, default=limits.cpu_seconds,
              help="CPU seconds trafilatura may spend on one page before it becomes an "
                   "extraction_timeout dead letter and the feed's own text stands in; 0 for "
                   "no limit (default: %(default)s).")
        _flag(parser, "no-line-model", action="store_true", default=False,
              help="Clean with the phrase and position rules only, without the learned "
                   "line model (transforms/boilerplate/line_model.py), e.g. to compare "
                   "(default: the model is on).")
        _flag(parser, "language-sample-chars", type=int, default=DEFAULT_SAMPLE_CHARS,
              help="Characters of each article given to langdetect, 0 for all "
                   "(default: %(default)s).")
        _flag(parser, "num-shards", type=int, default=1,
              help="Files per partition per window (default: %(default)s).")
        _flag(parser, "poll-interval", type=float, default=60.0,
              help="Seconds between polls of each feed (stream); a feed's Cache-Control or "
                   "Retry-After can only lengthen it. Batch runs record it as a feed's "
                   "earliest next poll (default: %(default)s).")
        _flag(parser, "window", type=float, default=300.0,
              help="stream: seconds per window; each window is committed as one set of "
                   "Parquet files once the watermark passes it (default: %(default)s).")
        _flag(parser, "seen-ttl", type=float, default=168.0,
              help="Hours an ingested article is remembered after the last feed that "
                   "listed it dropped it; within them it is never ingested again "
                   "(default: %(default)s).")
        _flag(parser, "seen-max-ids", type=int, default=10_000_000,
              help="Most article ids the seen store keeps; the least recently seen go first "
                   "(default: %(default)s).")
        _flag(parser, "on-update", choices=UPDATE_POLICIES, default=SKIP,
              help="What an article that comes back (a feed lists it again) does: 'skip' "
                   "never fetches it again; 'version' fetches it again and writes a new "
                   "version row when its text changed (default: %(default)s).")
        _flag(parser, "quiet", action="store_true", default=False,
              help="ingest: show no progress on stderr (default: progress is shown, one "
                   "updating line on a terminal, a plain line every --progress-interval "
                   "seconds otherwise).")
        _flag(parser, "progress-interval", type=float, default=10.0,
              help="ingest: seconds between two progress lines when stderr is not a "
                   "terminal; a terminal's line is updated every second "
                   "(default: %(default)s).")
        _flag(parser, "story-ttl", type=float, default=DEFAULT_TTL_HOURS,
              help="Hours a story is remembered for story identity: a copy published "
                   "within them is marked duplicate_of the first (default: %(default)s).")

    def problems(self) -> list[str]:
        """What is wrong with the numeric flags, for an exit-2 message."""
        found = []
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name.replace("-", "_"), None)
            if value is None:
                continue
            if not math.isfinite(value) or not low <= value <= high:
                found.append(f"--{name} must be between {low:g} and {high:g}, not {value!r}")
        return found

    def fetch_settings(self) -> FetchSettings:
        return FetchSettings(
            user_agent=self.user_agent, connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout, total_timeout=self.total_timeout,
            max_bytes=self.max_bytes, max_decoded_bytes=self.max_decoded_bytes,
            max_redirects=self.max_redirects, max_connections=self.max_in_flight,
            allow_private_networks=self.allow_private_networks,
            max_attempts=self.max_attempts, retry_budget=self.retry_budget,
            per_host_concurrency=self.per_host_concurrency,
            per_host_interval=self.per_host_interval, max_crawl_delay=self.max_crawl_delay,
            respect_robots=not self.ignore_robots,
            host_shards=1 if self.per_host_interval > 0 else self.host_shards)

    def extract_limits(self) -> ExtractLimits:
        return ExtractLimits(max_elements=self.max_page_elements,
                             cpu_seconds=self.extraction_timeout)

    def state_directory(self) -> str:
        return self.state_dir or FileSystems.join(self.output, "_state")

    def schedule(self) -> Schedule:
        """How feeds are scheduled, the same for batch and streaming."""
        return Schedule(min_interval=timedelta(seconds=self.poll_interval),
                        revalidate_after=timedelta(hours=self.revalidate_after))

    def chain_settings(self, run_tag: str | None = None) -> ChainSettings:
        """The article chain's settings; ``run_tag`` for a batch run, whose
        site evidence waits for promotion."""
        return ChainSettings(fetch=self.fetch_settings(), max_in_flight=self.max_in_flight,
                             extract=self.extract_limits(),
                             language_sample_chars=self.language_sample_chars,
                             state_dir=self.state_directory(), run_tag=run_tag,
                             on_update=self.on_update, story_ttl_hours=self.story_ttl,
                             line_model=not self.no_line_model)

    def sink(self) -> Sink:
        """Where the datasets go: Parquet under ``--output``."""
        return ParquetSink(self.output, self.num_shards)

    def fetched_at_time(self, now: datetime | None = None) -> datetime:
        """The run's fetch time: ``--fetched-at`` or ``now``, in UTC, to the second.

        Raises ValueError for a time that is not ISO-8601, or outside the
        years 1970 to 9998 once in UTC (a day later must still be a date:
        schedules add up to 24 hours to it).
        """
        if not self.fetched_at:
            return (now or datetime.now(UTC)).replace(microsecond=0)
        try:
            when = datetime.fromisoformat(self.fetched_at.strip().replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            when = when.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{self.fetched_at!r} is out of range once in UTC") from None
        if not FIRST_YEAR <= when.year <= LAST_YEAR:
            raise ValueError(f"{self.fetched_at!r} is outside the years "
                             f"{FIRST_YEAR}-{LAST_YEAR}")
        return when


def help_text(prog: str, description: str) -> str:
    """Usage for newsbeam's own flags; Beam's flags pass through untouched."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        epilog="Any Beam pipeline option is accepted as well, e.g. --runner=FlinkRunner, "
               "--direct_num_workers=2, --setup_file=./setup.py (see README, 'Runners').")
    NewsbeamOptions._add_argparse_args(parser)
    return parser.format_help()
