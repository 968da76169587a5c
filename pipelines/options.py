"""The one PipelineOptions subclass newsbeam adds to Beam's own options.

Every flag has a dash and an underscore spelling: Beam re-creates options
on workers from their ``dest`` names (underscores), and users type dashes.
"""
from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.feeds import Schedule
from transforms.http.settings import DEFAULT_USER_AGENT, FetchSettings
from transforms.language import DEFAULT_SAMPLE_CHARS


def _flag(parser, name: str, **kwargs) -> None:
    spellings = [f"--{name}"]
    if "-" in name:
        spellings.append(f"--{name.replace('-', '_')}")
    parser.add_argument(*spellings, dest=name.replace("-", "_"), **kwargs)


class NewsbeamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        defaults = FetchSettings()
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
        _flag(parser, "revalidate-after", type=float, default=24.0,
              help="Hours after which a feed is fetched in full even if it answers 304, "
                   "guarding against servers whose validators go stale "
                   "(default: %(default)s).")
        _flag(parser, "fetched-at", default=None,
              help="ISO-8601 time recorded as fetched_at for this run; reruns with the same "
                   "value rewrite identical files (default: the launch time, UTC).")
        _flag(parser, "language-sample-chars", type=int, default=DEFAULT_SAMPLE_CHARS,
              help="Characters of each article given to langdetect, 0 for all "
                   "(default: %(default)s).")
        _flag(parser, "num-shards", type=int, default=1,
              help="Files per partition per window (default: %(default)s).")
        _flag(parser, "poll-interval", type=float, default=60.0,
              help="stream: seconds between polls of each feed; a feed's Cache-Control or "
                   "Retry-After can only lengthen it (default: %(default)s).")
        _flag(parser, "window", type=float, default=300.0,
              help="stream: seconds per window; each window is committed as one set of "
                   "Parquet files once the watermark passes it (default: %(default)s).")
        _flag(parser, "seen-ttl", type=float, default=48.0,
              help="stream: hours an article id is remembered after the last feed that "
                   "listed it dropped it (default: %(default)s).")

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

    def state_directory(self) -> str:
        return self.state_dir or FileSystems.join(self.output, "_state")

    def schedule(self) -> Schedule:
        return Schedule(revalidate_after=timedelta(hours=self.revalidate_after))

    def fetched_at_time(self, now: datetime | None = None) -> datetime:
        """The run's fetch time: ``--fetched-at`` or ``now``, in UTC, to the second."""
        if self.fetched_at:
            when = datetime.fromisoformat(self.fetched_at.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when.astimezone(UTC)
        return (now or datetime.now(UTC)).replace(microsecond=0)


def help_text(prog: str, description: str) -> str:
    """Usage for newsbeam's own flags; Beam's flags pass through untouched."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        epilog="Any Beam pipeline option is accepted as well, e.g. --runner=FlinkRunner, "
               "--direct_num_workers=2, --setup_file=./setup.py (see README, 'Runners').")
    NewsbeamOptions._add_argparse_args(parser)
    return parser.format_help()
