"""Airflow DAG: the yearly patentpanel refresh (see docs/scheduling.md).

Runs ``./spark-submit.sh refresh --raw NEW_EXPORTS`` from the project directory once a
year, after the new CNIPA exports have arrived. Replace ``NEW_EXPORTS`` with the
directory or glob of that year's exports (a path the Spark driver can read: a local
directory in client mode, an object-store URI on a cluster); spark-submit options such
as ``--master yarn --pack-env`` go before ``refresh``. The refresh is idempotent (files
already ingested are skipped by content hash), so a retry or a manual re-run is safe.

Kept consistent with the cron line in docs/scheduling.md and with the real command-line
parser by tests/cluster/test_scheduling.py (which reads this file without importing
Airflow).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3: the Bash operator lives in the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

PROJECT_DIR = "/opt/patentpanel"
SCHEDULE = "0 2 15 3 *"   # 02:00 on 15 March, as the cron line
REFRESH_COMMAND = "./spark-submit.sh refresh --raw NEW_EXPORTS"

with DAG(
    dag_id="patentpanel_yearly_refresh",
    description="merge the year's new raw patent exports and recompute panels and estimates",
    schedule=SCHEDULE,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=30)},
    tags=["patentpanel"],
) as dag:
    BashOperator(
        task_id="refresh",
        bash_command=REFRESH_COMMAND,
        cwd=PROJECT_DIR,
        execution_timeout=timedelta(hours=12),
    )
