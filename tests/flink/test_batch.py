"""`newsbeam ingest` on the Flink session cluster, against the DirectRunner.

The same feeds, the same ``--fetched-at``: the cluster at ``--parallelism=2``
must write what the DirectRunner writes, byte for byte (Parquet files, the
promoted feed states, the per-site evidence), and both task slots must have
worked.  The TaskManager is killed in the middle of a run: whatever Flink
does about it, no half-written file is visible, and a rerun completes without
duplicates.  What each run did is saved under ``out/flink/`` for the record.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from devsite.broken_site import broken_site
from devsite.corpus_site import corpus_site
from devsite.seed_site import seed_site
from tests.conftest import FETCHED_AT_FLAG, REPO
from tests.flink.conftest import Background, newsbeam

# Timeouts a little longer than test_cli's: two cores run the JVMs and the
# SDK workers too, and a page that times out on one runner only would be a
# difference of load, not of code.
FLAGS = ["--allow-private-networks", "--read-timeout", "3", "--total-timeout", "6",
         "--fetched-at", FETCHED_AT_FLAG]
# Files that record the run itself, not its data: the lock's holder (pid,
# host) and the summary (seconds, paths, counters as the runner reports them).
RUN_FILES = {"_state/LOCK", "run_summary.json"}
RECORD = REPO / "out" / "flink"


def record(name: str, data: dict) -> None:
    RECORD.mkdir(parents=True, exist_ok=True)
    (RECORD / f"{name}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")


@pytest.fixture(scope="module")
def demo_sites():
    sites = [seed_site("flat", "sk").start(), corpus_site().start(),
             broken_site(hang_seconds=20).start()]
    yield sites
    for site in sites:
        site.stop()


def write_feeds(path: Path, feeds: list[str]) -> Path:
    path.write_text("\n".join(feeds) + "\n")
    return path


def files(root: Path) -> dict[str, str]:
    """Every file under ``root``: relative path -> SHA-256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def dataset(root: Path, name: str) -> list[dict]:
    path = root / name
    if not any(path.rglob("*.parquet")):
        return []
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist()


def articles(root: Path) -> set[tuple[str, str]]:
    return {(r["id"], r["content_hash"]) for r in dataset(root, "articles")}


def dead_letters(root: Path) -> set[tuple[str, str, str]]:
    return {(r["stage"], r["url"], r["error_type"]) for r in dataset(root, "errors")}


def temporaries(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".*")]


def compare(direct: Path, flink: Path) -> dict:
    """What matched and what did not, file by file."""
    a, b = files(direct), files(flink)
    data = sorted(k for k in a if k.split("/")[0] in ("articles", "errors"))
    return {
        "identical": sorted(k for k in a if b.get(k) == a[k]),
        "different": sorted(k for k in a if k in b and b[k] != a[k]),
        "only_direct": sorted(set(a) - set(b)),
        "only_flink": sorted(set(b) - set(a)),
        "data_files": data,
    }


def run_both(feeds: Path, out: Path, flink_flags: list[str], cluster) -> dict:
    direct = newsbeam("ingest", "--feeds", str(feeds), "--output", str(out / "direct"), *FLAGS)
    assert direct.returncode == 0, direct.stderr[-3000:]
    before = {j["jid"] for j in cluster.jobs()}
    started = time.time()
    flink = newsbeam("ingest", "--feeds", str(feeds), "--output", str(out / "flink"), *FLAGS,
                     *flink_flags, timeout=420)
    seconds = time.time() - started
    assert flink.returncode == 0, flink.stdout[-2000:] + flink.stderr[-4000:]
    job = cluster.new_job(before, timeout=5)
    return {"job": job, "seconds": round(seconds, 1), "stdout": flink.stdout}


def test_demo_on_flink_writes_what_the_directrunner_writes(cluster, demo_sites, tmp_path):
    seed, corpus, broken = demo_sites
    feeds = write_feeds(tmp_path / "feeds.txt", [
        seed.url("/feed/"), corpus.url("/feeds/zyte.xml"), corpus.url("/feeds/fundus-dev.xml"),
        broken.url("/feed.xml"), broken.url("/malformed.xml"), broken.url("/missing-feed.xml")])
    run = run_both(feeds, tmp_path, cluster.runner_flags, cluster)
    direct, flink = tmp_path / "direct", tmp_path / "flink"

    # The data: the same articles (id, content hash) and dead letters.
    assert articles(flink) == articles(direct) and len(articles(direct)) > 50
    assert dead_letters(flink) == dead_letters(direct) and len(dead_letters(direct)) >= 6
    # Byte for byte: every Parquet file, the promoted feed states, the site evidence.
    diff = compare(direct, flink)
    assert diff["only_direct"] == diff["only_flink"] == [], diff
    assert set(diff["different"]) <= RUN_FILES, diff
    assert "_state/feeds.jsonl" in diff["identical"] and diff["data_files"]
    assert set(diff["data_files"]) <= set(diff["identical"])
    assert not (flink / "_state" / "pending").exists() or not any(
        (flink / "_state" / "pending").iterdir()), "state left pending after a good run"
    assert temporaries(flink) == []

    # The summary: the article count; the rest as each runner reports its counters.
    summaries = {name: json.loads((tmp_path / name / "run_summary.json").read_text())
                 for name in ("direct", "flink")}
    assert summaries["flink"]["articles"] == summaries["direct"]["articles"]
    counters = {k: (summaries["direct"]["counters"].get(k), summaries["flink"]["counters"].get(k))
                for k in set(summaries["direct"]["counters"]) | set(summaries["flink"]["counters"])}
    counters_differ = {k: v for k, v in sorted(counters.items()) if v[0] != v[1]}

    # Both task slots worked: every vertex at parallelism 2, and the Python
    # stages after the Reshuffle (language, rows, the article sink) read
    # records in both subtasks.
    vertices = cluster.vertices(run["job"]["jid"])
    assert {v["parallelism"] for v in vertices} == {2}, vertices
    python_stages = [v for v in vertices if v["name"].startswith("MapPartition")]
    per_subtask = [sum(v["subtasks"][i]["read_bytes"] for v in python_stages) for i in (0, 1)]
    assert min(per_subtask) > 0, per_subtask
    spread = [v for v in python_stages if "WriteArticles" in v["name"]]
    assert spread and all(s["read_records"] > 0 for v in spread for s in v["subtasks"]), spread
    heavy = sorted(vertices, key=lambda v: -sum(s["read_bytes"] for s in v["subtasks"]))[:6]
    record("batch-demo", {
        "flink_seconds": run["seconds"], "job": run["job"], "articles": len(articles(direct)),
        "dead_letters": len(dead_letters(direct)), "files": diff,
        "summary_counters_that_differ (direct, flink)": counters_differ,
        "python_stage_read_bytes_per_subtask": per_subtask,
        "heaviest_vertices": [{"name": v["name"][:120], "parallelism": v["parallelism"],
                               "subtasks": v["subtasks"]} for v in heavy]})


@pytest.fixture(scope="module")
def slow_corpus():
    """Every fixture corpus (73 pages), each answer 0.2 s late: a run long enough to
    kill a TaskManager in its middle."""
    site = corpus_site(latency=0.2).start()
    yield site
    site.stop()


def test_a_killed_taskmanager_leaves_no_partial_file_and_a_rerun_has_no_duplicates(
        cluster, slow_corpus, tmp_path):
    feeds = write_feeds(tmp_path / "feeds.txt", [
        slow_corpus.url(f"/feeds/{name}.xml") for name in ("zyte", "fundus-dev",
                                                           "trafilatura-eval")])
    reference = newsbeam("ingest", "--feeds", str(feeds), "--output", str(tmp_path / "direct"),
                         *FLAGS)
    assert reference.returncode == 0, reference.stderr[-3000:]
    out = tmp_path / "flink"
    before = {j["jid"] for j in cluster.jobs()}
    first = Background("ingest", "--feeds", str(feeds), "--output", str(out), *FLAGS,
                       *cluster.runner_flags)
    events: dict = {}
    try:
        job = cluster.new_job(before, timeout=180)
        # In the middle: the job runs and records flow through its Python stages.
        deadline = time.time() + 180
        while True:
            state = cluster.rest(f"/jobs/{job['jid']}")["state"]
            flowing = state == "RUNNING" and any(
                s["read_records"] for v in cluster.vertices(job["jid"])
                if v["name"].startswith("MapPartition") for s in v["subtasks"])
            if flowing or state in ("FINISHED", "FAILED", "CANCELED") or time.time() > deadline:
                break
            time.sleep(0.5)
        assert state == "RUNNING", f"job {state} before the TaskManager could be killed"
        time.sleep(2)
        events["state_at_kill"] = cluster.rest(f"/jobs/{job['jid']}")["state"]
        events["files_at_kill"] = len(list(out.rglob("*.parquet")))
        cluster.kill_taskmanager()
        events["killed_at"] = time.time()
        time.sleep(3)
        cluster.start_taskmanager()
        events["taskmanager_back_after_s"] = round(time.time() - events["killed_at"], 1)
        code = first.wait(420)
    finally:
        first.kill()
    final = cluster.rest(f"/jobs/{job['jid']}")
    exceptions = cluster.rest(f"/jobs/{job['jid']}/exceptions").get(
        "exceptionHistory", {}).get("entries", [])
    events.update(exit=code, job_state=final["state"], failures=[
        f"{e['exceptionName']} in {e.get('taskName')}" for e in exceptions][:5],
        seconds=round(time.time() - events["killed_at"], 1))

    # Whatever happened: no temporary, every file whole.
    assert temporaries(out) == []
    for path in out.rglob("*.parquet"):
        pq.read_table(path)
    if code == 0:  # recovered: the run completed and promoted the DirectRunner's state
        assert final["state"] == "FINISHED", final["state"]
        promoted = (out / "_state" / "feeds.jsonl").read_bytes()
        assert promoted == (tmp_path / "direct" / "_state" / "feeds.jsonl").read_bytes()
    else:  # failed cleanly: nothing promoted
        assert not (out / "_state" / "feeds.jsonl").exists()

    # A rerun with the same --fetched-at completes, without duplicates.
    rerun = newsbeam("ingest", "--feeds", str(feeds), "--output", str(out), *FLAGS,
                     *cluster.runner_flags, timeout=420)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-4000:]
    assert temporaries(out) == []
    ids = [r["id"] for r in dataset(out, "articles")]
    assert len(ids) == len(set(ids)) == 73, (len(ids), len(set(ids)))
    # And the larger fixture's result is the DirectRunner's, byte for byte.
    assert articles(out) == articles(tmp_path / "direct")
    diff = compare(tmp_path / "direct", out)
    assert set(diff["data_files"]) <= set(diff["identical"]), diff
    events["rerun_summary"] = [line for line in rerun.stdout.splitlines()
                               if line.startswith("newsbeam:")]
    events["files"] = diff
    record("batch-kill", events)
    print(json.dumps(events, indent=1, default=str))
