"""Shared fixtures: loopback sites and a fixed run time."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from devsite.broken_site import broken_site
from devsite.corpus_site import corpus_site
from devsite.seed_site import seed_site

REPO = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parents[1] / "devsite" / "netguard"

sys.path.insert(0, str(NETGUARD))
import loopback_only  # noqa: E402

loopback_only.install()

# Property tests are reproducible in CI: examples are derived from the test,
# not drawn at random, and slow examples on a busy 2-core machine are not
# failures.  Each test bounds its own example count.
settings.register_profile("newsbeam", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("newsbeam")

FETCHED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FETCHED_AT_FLAG = "2026-11-25T12:00:00Z"


@pytest.fixture(scope="session")
def seed_sites():
    """One running seed-style site per (markup, chrome language)."""
    from devsite.seed_site import CHROME_LANGUAGES, VARIANTS
    sites = {(v, c): seed_site(v, c).start() for v in VARIANTS for c in CHROME_LANGUAGES}
    yield sites
    for site in sites.values():
        site.stop()


@pytest.fixture(scope="session")
def real_site():
    site = corpus_site().start()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def broken():
    site = broken_site(hang_seconds=20).start()
    yield site
    site.stop()


def run_cli(*args: str, module: str = "pipelines.ingest",
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run newsbeam in a subprocess, exactly as a user would."""
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")

    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
