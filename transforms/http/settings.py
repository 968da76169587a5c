"""Limits and identity of the HTTP client, as plain picklable values."""
from __future__ import annotations

import dataclasses

DEFAULT_USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam)"


@dataclasses.dataclass(frozen=True)
class FetchSettings:
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_decoded_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    max_connections: int = 64
    allow_private_networks: bool = False
