"""Limits, manners and identity of the HTTP client, as plain picklable values."""
from __future__ import annotations

import dataclasses

DEFAULT_USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam)"


@dataclasses.dataclass(frozen=True)
class FetchSettings:
    user_agent: str = DEFAULT_USER_AGENT
    # Per request (one attempt, redirects included in the total).
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_decoded_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    max_connections: int = 64
    allow_private_networks: bool = False
    # Retries of transient failures: attempts and the time budget per URL.
    max_attempts: int = 3
    retry_budget: float = 60.0
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    # Politeness, per host (scheme, name and port), across all workers.
    per_host_concurrency: int = 8
    per_host_interval: float = 0.0
    max_crawl_delay: float = 30.0
    respect_robots: bool = True
    host_shards: int = 4

    @property
    def robots_token(self) -> str:
        """The product token robots.txt groups are matched against."""
        return self.user_agent.split("/", 1)[0].split()[0] or "newsbeam"
