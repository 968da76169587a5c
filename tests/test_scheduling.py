"""The shipped schedules run as written: the cron line, the systemd unit's
ExecStart and the Airflow DAG's command, each against the demo site.

Each command is taken from docs/scheduling/ as a user copies it, with only
the placeholder paths replaced, and run by the shell, twice: the second run
of a schedule writes no article again.
"""
from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess

import pyarrow.dataset as ds
import pytest

from tests.conftest import NETGUARD, REPO

DOCS = REPO / "docs" / "scheduling"


@pytest.fixture(scope="module")
def demo_feeds(seed_sites, real_site, tmp_path_factory):
    feeds = tmp_path_factory.mktemp("feeds") / "feeds.txt"
    feeds.write_text("\n".join([seed_sites[("flat", "sk")].url("/feed/"),
                                real_site.url("/feeds/fundus-dev.xml")]) + "\n")
    return feeds


def placeholders(command: str, feeds, lake) -> str:
    command = command.replace("/opt/newsbeam", str(REPO))
    command = command.replace("/etc/newsbeam/feeds.txt", str(feeds))
    command = command.replace("/var/lib/newsbeam/lake", str(lake))
    command = command.replace("/var/lib/newsbeam/ingest.log", str(lake.parent / "ingest.log"))
    # The demo site is on loopback; real feeds are not.
    return command.replace(" ingest ", " ingest --allow-private-networks ", 1)


def run_shell(command: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{REPO}")
    return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def article_ids(lake) -> list[str]:
    table = ds.dataset(lake / "articles", format="parquet", partitioning="hive").to_table()
    return table.column("id").to_pylist()


def run_twice(command: str, lake) -> None:
    first = run_shell(command)
    assert first.returncode == 0, first.stderr[-3000:]
    ids = article_ids(lake)
    assert ids and len(ids) == len(set(ids))
    second = run_shell(command)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(article_ids(lake)) == sorted(ids)  # the next tick writes nothing again


def test_the_cron_line_runs_as_written(demo_feeds, tmp_path):
    lines = [line for line in (DOCS / "crontab").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    (entry,) = lines
    fields = entry.split(None, 5)
    assert fields[:5] == ["*/15", "*", "*", "*", "*"]
    command = fields[5].replace("\\%", "%")  # what cron hands the shell
    run_twice(placeholders(command, demo_feeds, tmp_path / "lake"), tmp_path / "lake")
    assert "newsbeam:" in (tmp_path / "ingest.log").read_text()


def test_the_systemd_units_exec_start_runs_as_written(demo_feeds, tmp_path):
    unit = (DOCS / "newsbeam-ingest.service").read_text()
    joined = re.sub(r"\\\n\s*", " ", unit)
    (exec_start,) = [line.split("=", 1)[1] for line in joined.splitlines()
                     if line.startswith("ExecStart=")]
    command = exec_start.replace("%%", "%")  # systemd's own unescaping
    argv = shlex.split(command)
    assert argv[:2] == ["/bin/sh", "-c"]
    run_twice(placeholders(argv[2], demo_feeds, tmp_path / "lake"), tmp_path / "lake")
    timer = (DOCS / "newsbeam-ingest.timer").read_text()
    assert "OnCalendar=*:0/15" in timer and "Persistent=true" in timer


def test_the_airflow_dags_command_runs_with_a_logical_time(demo_feeds, tmp_path):
    source = (DOCS / "airflow_dag.py").read_text()
    tree = ast.parse(source)
    constants = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)
                 and isinstance(node.value, ast.Constant)}
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
               and getattr(n.func, "id", "") == "BashOperator"]
    template = next(k.value for k in call.keywords if k.arg == "bash_command")
    command = eval(compile(ast.Expression(template), "dag", "eval"), {}, constants)
    rendered = command.replace("{{ ts }}", "2026-11-30T10:15:00+00:00")
    run_twice(placeholders(rendered, demo_feeds, tmp_path / "lake"), tmp_path / "lake")
    rows = ds.dataset(tmp_path / "lake" / "articles", format="parquet",
                      partitioning="hive").to_table().to_pylist()
    assert {r["fetched_at"].isoformat() for r in rows} == {"2026-11-30T10:15:00+00:00"}
