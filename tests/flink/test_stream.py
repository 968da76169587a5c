"""`newsbeam stream` on the Flink session cluster, with checkpointing, against
a site that keeps publishing.

One session, in this order: a stream starts and commits windows; its
TaskManager is SIGKILLed and a new one started, and Flink restores the job
from its last checkpoint; a SIGTERM to newsbeam commits the open windows and
it exits 0; a second stream on the same output commits more, and is stopped
the same way.  Then: every item a poll saw before the last stop is in Parquet
exactly once, across the kill and the restart.

Beam's job server cancels only its own wait for a job, not the Flink job, and
Beam's impulse source keeps a checkpointed job running after its input has
ended; so newsbeam itself cancels its job through Flink's REST API once the
window of the last tick is committed (pipelines/flink.py).  The session
checks that no job is left running and that the stop took seconds, not the
fallback deadline.
"""
from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass, field

import pyarrow.dataset as ds
import pytest

from devsite.live_site import LiveSite, title_item
from tests.flink.conftest import Background
from tests.flink.test_batch import record, temporaries

POLL, WINDOW = 1.0, 6.0
CHECKPOINT_MS = 5000
# newsbeam ends its job once the last tick's window is committed; its
# fallback deadline is poll + window + 60 s after the stop.
STOP_TIMEOUT = POLL + WINDOW + 60 + 60
# A stop that ends by the last window, not by the fallback deadline.
PROMPT_STOP = POLL + WINDOW + 30
# A job that has not ticked 90 s after its submission is submitted again,
# at most 3 times (pipelines/runners.py, FLINK_STREAMING.start_timeout).
FIRST_COMMIT_TIMEOUT = 330


@dataclass
class RecordingSite(LiveSite):
    """A LiveSite that remembers, per feed response, when and how many items it listed."""

    served: list[tuple[float, int]] = field(default_factory=list)

    def _feed(self, handler) -> None:
        self.served.append((time.time(), self.published()))
        super()._feed(handler)


def rows(lake) -> list[dict]:
    path = lake / "articles"
    if not path.exists() or not any(path.rglob("*.parquet")):
        return []
    return ds.dataset(path, format="parquet", partitioning="hive").to_table(
        columns=["id", "title"]).to_pylist()


def commit_records(lake) -> list[dict]:
    folder = lake / "_state" / "commits"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] \
        if folder.exists() else []


def stream(cluster, feeds, lake) -> Background:
    return Background("stream", "--feeds", str(feeds), "--output", str(lake),
                      "--allow-private-networks", "--poll-interval", str(POLL),
                      "--window", str(WINDOW), *cluster.runner_flags,
                      f"--checkpointing_interval={CHECKPOINT_MS}")


def stop(cluster, running: Background, events: dict, key: str) -> None:
    """SIGTERM to newsbeam alone; its exit; the Flink job left behind, cancelled."""
    stopping = time.time()
    running.process.send_signal(signal.SIGTERM)
    code = running.wait(STOP_TIMEOUT)
    events[key] = {"exit": code, "signalled": stopping,
                   "seconds_to_exit": round(time.time() - stopping, 1),
                   "last_line": running.lines[-1] if running.lines else "",
                   "flink_jobs_left_running": [j["name"] for j in cluster.running()]}
    events[key]["cancelled_through_rest"] = cluster.cancel_all()


def checkpoints(cluster, jid: str) -> dict:
    data = cluster.rest(f"/jobs/{jid}/checkpoints")
    restored = (data.get("latest") or {}).get("restored") or {}
    return {"counts": data["counts"], "restored_checkpoint": restored.get("id")}


@pytest.fixture(scope="module")
def session(cluster, tmp_path_factory):
    site = RecordingSite(period=1.5, keep=120)
    site.start_site()
    out = tmp_path_factory.mktemp("flink-stream")
    feeds = out / "feeds.txt"
    feeds.write_text(site.site.url("/feed.xml") + "\n")
    lake = out / "lake"
    events: dict = {}
    first = second = None
    try:
        before = {j["jid"] for j in cluster.jobs()}
        first = stream(cluster, feeds, lake)
        first.wait_for("committed window", FIRST_COMMIT_TIMEOUT)
        job = cluster.new_job(before, timeout=5)
        first_commit = time.time()
        first.wait_for("committed window", 3 * WINDOW + 30, at_least=3)
        events["while_running"] = {
            "alive": first.process.poll() is None,
            "parquet_files": len(list((lake / "articles").rglob("*.parquet"))),
            "commit_records": len(commit_records(lake)), "rows": len(rows(lake)),
            "first_commit_after_s": round(first_commit - site.start, 1)}

        # The TaskManager dies mid-stream, after two checkpoints and a steady
        # window; Flink restores from the last checkpoint.
        deadline = time.time() + 90
        while checkpoints(cluster, job["jid"])["counts"]["completed"] < 2:
            assert time.time() < deadline, "two checkpoints did not complete within 90 s"
            time.sleep(1)
        time.sleep(WINDOW)
        events["before_kill"] = checkpoints(cluster, job["jid"])
        committed = first.count("committed window")
        killed_at = cluster.kill_taskmanager()
        time.sleep(3)
        cluster.start_taskmanager()
        first.wait_for("committed window", 180, at_least=committed + 3)
        events["after_kill"] = checkpoints(cluster, job["jid"])
        events["after_kill"]["job_state"] = cluster.rest(f"/jobs/{job['jid']}")["state"]
        events["after_kill"]["recovered_after_s"] = round(time.time() - killed_at, 1)
        time.sleep(2 * WINDOW)  # steady state after the restore; the open window holds
        # polled, uncommitted articles
        stop(cluster, first, events, "first_stop")
        first_stopped = events["first_stop"]["signalled"]

        time.sleep(3)  # items keep appearing while no stream runs
        second = stream(cluster, feeds, lake)
        second.wait_for("committed window", FIRST_COMMIT_TIMEOUT)
        second.wait_for("committed window", 2 * WINDOW + 30, at_least=2)
        time.sleep(2)
        stop(cluster, second, events, "second_stop")
        stopped_at = events["second_stop"]["signalled"]
    finally:
        for running in (first, second):
            if running is not None:
                running.kill()
        cluster.cancel_all()
        site.stop()
        # Whatever happened, what the site saw and what was committed, for the record.
        events["commits"] = [(r["window"], r["articles"]) for r in commit_records(lake)]
        events["polls"] = [(round(at - site.start, 1), count) for at, count in site.served]
        events["output"] = {"first": first.lines[-15:] if first else None,
                            "second": second.lines[-15:] if second else None}
        # Stalled starts newsbeam resubmitted (pipelines/stream.py, _StartWatch).
        events["resubmissions"] = {name: run.count("submitting it again") if run else None
                                   for name, run in (("first", first), ("second", second))}
        record("stream", events)
    events["killed_at"] = round(killed_at - site.start, 1)
    events["first_stopped_at"] = round(first_stopped - site.start, 1)
    events["second_stopped_at"] = round(stopped_at - site.start, 1)
    committed = {title_item(r["title"]) for r in rows(lake)}
    polled = max(count for at, count in site.served if at < stopped_at)
    events["polled_before_last_stop_not_committed"] = [
        (k, round(site.published_at(k) - site.start, 1)) for k in range(polled)
        if k not in committed]
    record("stream", events)
    return {"site": site, "lake": lake, "first": first, "second": second, "events": events,
            "stopped_at": stopped_at, "first_stopped": first_stopped, "killed_at": killed_at}


def test_windows_are_committed_while_the_stream_runs(session):
    running = session["events"]["while_running"]
    assert running["alive"], session["first"].output()
    assert running["commit_records"] >= 3, running
    assert running["parquet_files"] >= 1 and running["rows"] > 0, running


def test_flink_restores_from_a_checkpoint_after_the_taskmanager_dies(session):
    events = session["events"]
    assert events["before_kill"]["counts"]["completed"] >= 1
    assert events["after_kill"]["job_state"] == "RUNNING", events
    assert events["after_kill"]["counts"]["restored"] >= 1, events
    assert events["after_kill"]["restored_checkpoint"] is not None, events


def test_the_restored_stream_keeps_polling(session):
    """After the restore the tick source polls the feed again, up to the stop."""
    site, events = session["site"], session["events"]
    killed, stopped = session["killed_at"], session["first_stopped"]
    after = [at for at, _ in site.served if killed < at < stopped]
    assert after, "no poll after the restore"
    assert stopped - max(after) < 10, (
        f"the last poll was {stopped - max(after):.0f}s before the stop; polls "
        f"(seconds after the site started, items out): {events['polls']}")


def test_sigterm_commits_open_windows_and_exits_0(session):
    for key, running in (("first_stop", session["first"]), ("second_stop", session["second"])):
        assert session["events"][key]["exit"] == 0, running.output()
        lines = running.lines
        stopping = next(i for i, line in enumerate(lines) if "stopping: committing" in line)
        assert any("committed window" in line for line in lines[stopping:]), running.output()
        assert "windows committed this run" in lines[-1], running.output()
        assert any("the last tick's window is committed; ending the job" in line
                   for line in lines[stopping:]), running.output()
        assert session["events"][key]["flink_jobs_left_running"] == [], session["events"][key]
        assert session["events"][key]["seconds_to_exit"] < PROMPT_STOP, session["events"][key]
    assert temporaries(session["lake"]) == []


def committed_items(lake) -> list[int]:
    all_rows = rows(lake)
    ids = [r["id"] for r in all_rows]
    assert len(ids) == len(set(ids)), "duplicate articles"
    items = sorted(title_item(r["title"]) for r in all_rows)
    assert len(items) == len(set(items)), "an item committed twice under two ids"
    return items


def polled_before(site, when: float) -> int:
    return max(count for at, count in site.served if at < when)


def test_a_restart_loses_nothing_and_duplicates_nothing(session):
    """Across the TaskManager kill, the first stop and the restart: every item the
    first stream polled is in Parquet, and nothing is there twice."""
    items = committed_items(session["lake"])
    assert items and items[0] == 0, f"items before {items[:1]} were never committed"
    polled = polled_before(session["site"], session["first_stopped"])
    missing = set(range(polled)) - set(items)
    assert not missing, f"polled by the first stream but never committed: {sorted(missing)}"


def test_the_last_stop_commits_everything_polled_before_it(session):
    """What the second stream polled before its SIGTERM is committed by that stop."""
    items = committed_items(session["lake"])
    polled = polled_before(session["site"], session["stopped_at"])
    missing = set(range(polled)) - set(items)
    assert not missing, f"polled but not committed: {sorted(missing)}; " + json.dumps(
        session["events"].get("polled_before_last_stop_not_committed"))
