"""An Airflow DAG that runs an aquaduct pipeline once a night.

aquaduct's exit code says what Airflow should do:

    0    everything extracted and committed          -> success
    1    a job or batch failed (others may be fine)  -> fail, retried (usually transient)
    2    usage or config error, nothing contacted     -> fail at once, never retried
    3    authentication refused                       -> fail at once, never retried
    130  interrupted (SIGINT/SIGTERM): server-side jobs cancelled, nothing half-written
                                                      -> fail, retried

Secrets reach the pipeline only through ${VAR}: here from Airflow connections/variables
into the process environment, never into the TOML file or the task's log. The state
directory (cursors of stateful and incremental queries) must persist between runs, and
aquaduct locks it (a second run on it refuses to start): max_active_runs=1 and a path on
durable storage.
The JSON run report (--report) is returned, so it lands in XCom for downstream tasks.

Requires Airflow >= 2.4 and the `aquaduct` binary on the worker's PATH.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile

import pendulum
from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.hooks.base import BaseHook

PIPELINE = "/opt/etl/aquaduct/pipeline.toml"
STATE_DIR = "/var/lib/etl/aquaduct/state"  # durable, one writer at a time

NO_RETRY = {2: "config or usage error", 3: "authentication refused"}


@dag(
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs must never share the state directory
    default_args={"retries": 3, "retry_delay": pendulum.duration(minutes=10)},
    tags=["zuora", "aquaduct"],
)
def aquaduct_nightly():
    @task(execution_timeout=pendulum.duration(hours=4))
    def extract() -> dict:
        zuora = BaseHook.get_connection("zuora_oauth")  # login = client id, password = secret
        warehouse = BaseHook.get_connection("warehouse_pg")
        env = dict(os.environ)
        env["ZUORA_CLIENT_ID"] = zuora.login
        env["ZUORA_CLIENT_SECRET"] = zuora.password
        env["AQUADUCT_PG_DSN"] = (
            f"host={warehouse.host} port={warehouse.port or 5432} dbname={warehouse.schema} "
            f"user={warehouse.login} password={warehouse.password}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            report_path = os.path.join(tmp, "report.json")
            proc = subprocess.Popen(
                ["aquaduct", "run", PIPELINE, "--state-dir", STATE_DIR, "--report", report_path],
                env=env,
            )  # stdout/stderr (logs and the run report table) go to the task log
            try:
                code = proc.wait()
            except BaseException:
                # Airflow kills the task (timeout, mark failed): let aquaduct cancel
                # its server-side jobs and commit nothing half-written.
                proc.send_signal(signal.SIGTERM)
                proc.wait()
                raise
            report = None
            if os.path.exists(report_path):
                with open(report_path, encoding="utf-8") as f:
                    report = json.load(f)

        if code == 0:
            return report
        if code in NO_RETRY:
            raise AirflowFailException(f"aquaduct exited {code}: {NO_RETRY[code]}; not retried")
        if code == 130:
            raise AirflowException("aquaduct was interrupted (exit 130); retrying")
        failed = [
            f"{j['name']}/{q['name']}: {q.get('error')}"
            for j in (report or {}).get("jobs", [])
            for q in j.get("queries", [])
            if q.get("status") != "completed"
        ]
        raise AirflowException(f"aquaduct exited {code}; failed: {failed or 'see the log'}")

    extract()


aquaduct_nightly()
