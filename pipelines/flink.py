"""What newsbeam does for Flink beyond Beam's own options.

A streaming job on Flink does not end by itself: with checkpointing on,
Beam's Flink runner keeps the job's impulse source alive, and newsbeam's
tick source holds after a stop rather than letting the watermark jump to
the end of time (``pipelines/runners.py``).  Cancelling through Beam's job
server stops only the job server's wait, not the Flink job.  So when a
stopped stream has committed its last window, newsbeam cancels its own
Flink job through Flink's REST API, found by the job name newsbeam gave it
(``--job_name``), at ``--flink_master``.
Without ``--flink_master`` it says how to cancel the job by hand.
"""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid

from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
)

_LOG = logging.getLogger("newsbeam.flink")
ENDED = frozenset({"FINISHED", "CANCELED", "FAILED"})
TERMINAL = ENDED | {"CANCELLING"}
TIMEOUT = 10.0
# How long newsbeam waits for a cancelled job to reach CANCELED, so that a
# service manager that sees newsbeam exit sees the job gone too.
CANCEL_WAIT = 60.0


def name_job(options: PipelineOptions, command: str) -> str:
    """A job name newsbeam can find the job by: the user's, or a unique one."""
    cloud = options.view_as(GoogleCloudOptions)
    if not cloud.job_name:
        cloud.job_name = f"newsbeam-{command}-{uuid.uuid4().hex[:12]}"
    return cloud.job_name


def rest_base(options: PipelineOptions) -> str | None:
    master = options.view_as(FlinkRunnerOptions).flink_master or ""
    if not master or master.startswith("["):  # [auto], [local]: not an address
        return None
    return master.rstrip("/") if "://" in master else f"http://{master.rstrip('/')}"


def cancel(options: PipelineOptions, clock=time.monotonic, sleep=time.sleep) -> list[str]:
    """Cancel this stream's Flink jobs that still run and wait until they
    have ended (at most ``CANCEL_WAIT``); their ids."""
    base = rest_base(options)
    name = options.view_as(GoogleCloudOptions).job_name
    if base is None or not name:
        _LOG.warning("the Flink job %s may still run: cancel it in Flink's web UI, or pass "
                     "--flink_master=HOST:PORT so newsbeam can", name or "(unnamed)")
        return []
    try:
        with urllib.request.urlopen(f"{base}/jobs/overview", timeout=TIMEOUT) as response:
            jobs = json.load(response).get("jobs", [])
        cancelled = []
        for job in jobs:
            if job.get("name") == name and job.get("state") not in TERMINAL:
                request = urllib.request.Request(f"{base}/jobs/{job['jid']}?mode=cancel",
                                                 method="PATCH")
                urllib.request.urlopen(request, timeout=TIMEOUT).close()
                cancelled.append(job["jid"])
        deadline = clock() + CANCEL_WAIT
        for jid in cancelled:
            state = _state(base, jid)
            while state not in ENDED and clock() < deadline:
                sleep(0.5)
                state = _state(base, jid)
            if state not in ENDED:
                _LOG.warning("the Flink job %s (%s) was cancelled but has not ended after "
                             "%.0fs", name, jid, CANCEL_WAIT)
        return cancelled
    except (OSError, ValueError, urllib.error.URLError) as exc:
        _LOG.warning("could not cancel the Flink job %s at %s: %s", name, base, exc)
        return []


def _state(base: str, jid: str) -> str:
    with urllib.request.urlopen(f"{base}/jobs/{jid}", timeout=TIMEOUT) as response:
        return str(json.load(response).get("state", ""))
