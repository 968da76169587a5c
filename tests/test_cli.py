"""The command line end to end: exit codes, the demo site, readers, determinism."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pyarrow.dataset as ds
import pytest

from schemas import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA
from tests.conftest import FETCHED_AT_FLAG, REPO, run_cli

DEMO_FLAGS = ["--allow-private-networks", "--read-timeout", "1", "--total-timeout", "3",
              "--fetched-at", FETCHED_AT_FLAG]


def test_missing_feeds_file_exits_2_with_a_message(tmp_path):
    result = run_cli("--feeds", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "feeds file not found" in result.stderr
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def test_unwritable_output_exits_2_with_a_message(tmp_path):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://example.invalid/feed\n")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("--feeds", str(feeds), "--output", str(blocker / "out"))
    assert result.returncode == 2
    assert "cannot write to output" in result.stderr


def test_missing_arguments_exit_2(tmp_path):
    assert run_cli("--output", str(tmp_path)).returncode == 2
    result = run_cli("--feeds", "https://example.invalid/feed")
    assert result.returncode == 2 and "--output is required" in result.stderr


def test_help_lists_options_with_defaults():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "--allow-private-networks" in result.stdout and "default: 15.0" in result.stdout


def test_console_script_dispatches(tmp_path):
    script = shutil.which("newsbeam", path=os.path.dirname(sys.executable))
    assert script, "the newsbeam console script is installed with the package"
    result = subprocess.run([script, "ingest", "--feeds", str(tmp_path / "none.txt"),
                             "--output", str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 2 and "feeds file not found" in result.stderr
    assert subprocess.run([script, "bogus"], capture_output=True).returncode == 2


@pytest.fixture(scope="module")
def demo(seed_sites, real_site, broken, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    feeds = [seed_sites[("flat", "sk")].url("/feed/"), real_site.url("/feeds/zyte.xml"),
             real_site.url("/feeds/fundus-dev.xml"), broken.url("/feed.xml"),
             broken.url("/malformed.xml"), broken.url("/missing-feed.xml")]
    (out / "feeds.txt").write_text("\n".join(feeds) + "\n")
    result = run_cli("--feeds", str(out / "feeds.txt"), "--output", str(out / "lake"),
                     *DEMO_FLAGS)
    assert result.returncode == 0, result.stderr
    return out, result


def test_demo_writes_articles_and_every_broken_entry_as_a_dead_letter(demo, broken):
    out, result = demo
    errors = ds.dataset(out / "lake" / "errors", format="parquet", partitioning="hive")
    rows = errors.to_table().to_pylist()
    by_url = {(r["stage"], r["url"]): r["error_type"] for r in rows}
    assert by_url[("fetch", broken.url("/news/removed"))] == "http_404"
    assert by_url[("fetch", broken.url("/files/annual-report.pdf"))] == \
        "unsupported_content_type"
    assert by_url[("fetch", broken.url("/news/slow"))] in ("timeout_read", "timeout_total")
    assert by_url[("feed", broken.url("/malformed.xml"))] == "malformed_feed"
    assert by_url[("feed", broken.url("/missing-feed.xml"))] == "http_404"
    assert ("feed", "entry_without_link") in {(r["stage"], r["error_type"]) for r in rows}
    assert all(r["message"] and r["at"] and r["feed_url"] for r in rows)


def test_demo_articles_cover_every_reachable_page(demo, real_site, broken):
    out, _ = demo
    table = ds.dataset(out / "lake" / "articles", format="parquet",
                       partitioning="hive").to_table()
    urls = set(table.column("url").to_pylist())
    from devsite.corpus_site import load_corpus
    for name in ("zyte", "fundus-dev"):
        for page in load_corpus(name):
            assert real_site.url(page.path) in urls, page.id
    assert broken.url("/news/cycling") in urls and broken.url("/news/second") in urls
    slow = table.filter(ds.field("url") == broken.url("/news/slow")).to_pylist()
    assert slow[0]["extraction_method"] == "feed_summary"
    assert len(set(table.column("language").to_pylist())) >= 10


def test_demo_summary_on_stdout_and_in_json(demo):
    out, result = demo
    summary = json.loads((out / "lake" / "run_summary.json").read_text())
    assert summary["articles"] > 50 and summary["dead_letters"] >= 6
    assert summary["articles_by_language"]["en"] > 10
    assert summary["dead_letters_by_reason"]["fetch.http_404"] == 1
    assert sum(summary["articles_by_source"].values()) == summary["articles"]
    assert "Articles by language" in result.stdout and "Dead letters by reason" in result.stdout
    assert str(out / "lake" / "articles") in result.stdout


def test_demo_datasets_read_with_duckdb_and_pyarrow(demo):
    out, _ = demo
    lake = out / "lake"
    con = duckdb.connect()
    articles = con.sql(f"select count(*), count(distinct id) from read_parquet("
                       f"'{lake}/articles/**/*.parquet', hive_partitioning=true)").fetchall()
    assert articles[0][0] == articles[0][1] > 50
    cols = {c[0] for c in con.sql(f"describe select * from read_parquet("
                                  f"'{lake}/articles/**/*.parquet', hive_partitioning=true)"
                                  ).fetchall()}
    assert set(ARTICLE_SCHEMA.names) | {"ingest_date"} == cols
    errors = ds.dataset(lake / "errors", format="parquet", partitioning="hive")
    assert set(DEAD_LETTER_SCHEMA.names) <= set(errors.schema.names)
    leftovers = [f for _, _, names in os.walk(lake) for f in names if f.endswith(".tmp")]
    assert leftovers == []
    # The articles parked for the run's joins (transforms/lib/parking.py) are gone.
    assert not (lake / "_state" / "parking").exists()


def test_rerun_and_two_workers_give_identical_files(seed_sites, real_site, tmp_path):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("\n".join([seed_sites[("wordpress", "en")].url("/feed/"),
                                real_site.url("/feeds/fundus-dev.xml")]) + "\n")
    flags = ["--allow-private-networks", "--fetched-at", FETCHED_AT_FLAG]
    killed = tmp_path / "a" / "_state" / "parking" / "20250101T000000Z"
    killed.mkdir(parents=True)
    (killed / "0.park").write_bytes(b"what a killed run parked")
    one = run_cli("--feeds", str(feeds), "--output", str(tmp_path / "a"), *flags)
    two = run_cli("--feeds", str(feeds), "--output", str(tmp_path / "b"), *flags,
                  "--direct_num_workers=2", "--direct_running_mode=multi_threading")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr

    def parquet_files(root):
        return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
                for d, _, names in os.walk(root) for f in names if f.endswith(".parquet")}
    a, b = parquet_files(tmp_path / "a"), parquet_files(tmp_path / "b")
    assert a and a.keys() == b.keys()
    assert all(a[name] == b[name] for name in a)
    assert not (tmp_path / "a" / "_state" / "parking").exists()


@pytest.mark.parametrize("runner", ["DirectRunner", "FnApiRunner", "BundleBasedDirectRunner"])
def test_stream_refuses_runners_that_do_not_stream(tmp_path, runner):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://example.invalid/feed\n")
    result = run_cli("--feeds", str(feeds), "--output", str(tmp_path / "o"),
                     f"--runner={runner}", module="pipelines.stream")
    assert result.returncode == 2
    assert "does not stream continuously" in result.stderr and "PrismRunner" in result.stderr


def test_stream_help_and_console_script(tmp_path):
    result = run_cli("--help", module="pipelines.stream")
    assert result.returncode == 0 and "--poll-interval" in result.stdout
    assert "default: 300.0" in result.stdout
    script = shutil.which("newsbeam", path=os.path.dirname(sys.executable))
    result = subprocess.run([script, "stream", "--feeds", str(tmp_path / "none.txt"),
                             "--output", str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 2 and "feeds file not found" in result.stderr


@pytest.mark.parametrize("flag,value", [
    ("--max-bytes", "-1"), ("--max-in-flight", "0"), ("--connect-timeout", "-5"),
    ("--read-timeout", "nan"), ("--total-timeout", "inf"), ("--max-attempts", "0"),
    ("--num-shards", "0"), ("--host-shards", "0"), ("--revalidate-after", "1e12"),
    ("--fetched-at", "9999-12-31T23:59:59-05:00"), ("--fetched-at", "yesterday"),
    ("--fetched-at", "0001-01-01T00:00:00Z"),
])
def test_bad_values_exit_2_with_a_message_and_no_traceback(tmp_path, flag, value):
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://example.invalid/feed\n")
    result = run_cli("--feeds", str(feeds), "--output", str(tmp_path / "o"), f"{flag}={value}")
    assert result.returncode == 2, result.stderr
    assert flag in result.stderr and "Traceback" not in result.stderr


def test_a_second_run_on_a_held_state_directory_exits_2(tmp_path):
    from transforms.lib.state_dir import StateLock
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://example.invalid/feed\n")
    with StateLock(str(tmp_path / "o" / "_state"), "test"):
        result = run_cli("--feeds", str(feeds), "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "is in use by newsbeam test" in result.stderr


def test_a_killed_holder_never_blocks_the_next_run(tmp_path):
    """flock dies with its holder: kill -9 leaves no stale lock behind."""
    from transforms.lib.state_dir import StateLock
    state = tmp_path / "_state"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from transforms.lib.state_dir import StateLock; "
         f"StateLock({str(state)!r}, 'holder').acquire(); print('held', flush=True); "
         "time.sleep(60)"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Exception, match="in use by newsbeam holder"):
            StateLock(str(state), "second").acquire()
        holder.kill()
        holder.wait(10)
        StateLock(str(state), "third").acquire(timeout=5).release()
    finally:
        holder.kill()
        holder.wait(10)


def test_an_abbreviated_flag_is_refused_not_taken_for_another(tmp_path):
    """Beam's parser reads --out as --output_executable_path: a Flink run once
    wrote a jar and reported DONE without running anything."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://example.invalid/feed\n")
    result = run_cli("--feeds", str(feeds), "--out=" + str(tmp_path / "o"))
    assert result.returncode == 2
    assert "--out is not an option" in result.stderr and "--output" in result.stderr


def test_local_paths_on_a_distributed_runner_need_a_shared_filesystem(tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.launcher import UsageError, check_abbreviations, check_shared_paths
    flink = ["--runner=FlinkRunner", f"--output={tmp_path}"]
    with pytest.raises(UsageError, match="--shared-filesystem"):
        check_shared_paths(PipelineOptions(flink), ["https://x.example/feed"])
    with pytest.raises(UsageError, match="feeds/local.xml"):
        check_shared_paths(PipelineOptions(["--runner=FlinkRunner", "--output=gs://b/lake",
                                            "--state-dir=gs://b/state"]),
                           [str(tmp_path / "feeds/local.xml")])
    check_shared_paths(PipelineOptions([*flink, "--shared-filesystem"]), ["/srv/feed.xml"])
    check_shared_paths(PipelineOptions(["--runner=FlinkRunner", "--output=gs://b/lake",
                                        "--state-dir=gs://b/state"]),
                       ["https://x.example/feed"])
    check_shared_paths(PipelineOptions([f"--output={tmp_path}"]), ["/srv/feed.xml"])
    check_abbreviations(["--checkpointing_interval=10000", "--parallelism=2"])


def test_newsbeams_output_flag_is_not_read_as_beams_output_executable_path():
    """Beam's views parse with abbreviations on: --output also set Beam's
    --output_executable_path, and the Flink job server wrote a jar instead of
    running the job."""
    from apache_beam.options.pipeline_options import PortableOptions

    from pipelines.launcher import pipeline_options
    from pipelines.options import NewsbeamOptions
    options = pipeline_options(["--output", "/tmp/lake", "--runner=FlinkRunner"])
    assert options.view_as(NewsbeamOptions).output == "/tmp/lake"
    assert options.view_as(PortableOptions).output_executable_path is None
    assert options.get_all_options().get("output_executable_path") is None
    given = pipeline_options(["--output=/tmp/lake", "--output_executable_path=/tmp/job.jar"])
    assert given.view_as(PortableOptions).output_executable_path == "/tmp/job.jar"
