"""newsbeam ingest as an Airflow DAG: one run per schedule interval.

Copy to your DAGs folder and set the three paths.  The schedule's logical time
(``{{ ts }}``) is passed as ``--fetched-at``, so every row of a run carries the
interval it belongs to, and a retry of the same interval (Airflow's
``retries``) neither duplicates nor loses anything: newsbeam records what an
earlier attempt committed before it starts, and names files after their rows.
``max_active_runs=1`` keeps runs from overlapping; if one still does (a manual
trigger), newsbeam exits with status 2 and Airflow retries it.  Backfills work
the same way with older logical times.
"""
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

NEWSBEAM = "/opt/newsbeam/.venv/bin/newsbeam"
FEEDS = "/etc/newsbeam/feeds.txt"
LAKE = "/var/lib/newsbeam/lake"

with DAG(
    dag_id="newsbeam_ingest",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 11, 30),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
) as dag:
    BashOperator(
        task_id="ingest",
        bash_command=f"{NEWSBEAM} ingest --feeds {FEEDS} --output {LAKE} "
                     "--fetched-at {{ ts }} --lock-timeout 60",
    )
