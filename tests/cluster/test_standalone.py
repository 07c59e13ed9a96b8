"""A real Spark standalone cluster on loopback: master + two one-core workers, jobs
submitted with spark-submit, tasks in separate executor processes. The cluster is
started once for this module and stopped (exactly its own processes) afterwards."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from patentpanel.cluster import LocalCluster, _alive

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(workers=2, cores=1, memory="1g",
                     state_dir=tmp_path_factory.mktemp("cluster"))
    c.start(timeout=120)
    yield c
    pids = list(c.pids)
    c.stop()
    assert not any(_alive(p) for p in pids), "cluster processes left behind"


def _submit(args, cwd=ROOT, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env["PATENTPANEL_PYTHON"] = sys.executable
    r = subprocess.run([str(ROOT / "spark-submit.sh"), *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"spark-submit failed ({r.returncode}):\n{r.stderr[-4000:]}"
    return r


def test_workers_registered_on_loopback(cluster):
    status = cluster.status()
    alive = [w for w in status["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 2
    assert all(w["host"] == "127.0.0.1" and w["cores"] == 1 for w in alive)
    assert status["url"] == cluster.master_url


def test_tasks_run_in_separate_executor_processes(cluster, tmp_path):
    out = tmp_path / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    from patentpanel.submit import spark_build
    submit = spark_build().spark_home / "bin" / "spark-submit"
    r = subprocess.run([str(submit), "--master", cluster.master_url,
                        "--conf", f"spark.pyspark.python={sys.executable}",
                        str(ROOT / "tests" / "cluster" / "probe_executors.py"), str(out)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    pids = {t[0] for t in res["tasks"]}
    assert res["master"] == cluster.master_url
    assert len(pids) >= 2, f"all tasks ran in one process: {pids}"
    assert res["driver_pid"] not in pids
    assert sum(t[3] for t in res["tasks"]) == sum(range(10_000))


def test_stage_through_spark_submit_sh(cluster, tmp_path):
    r = _submit(["--master", cluster.master_url, "info", "--json"], cwd=tmp_path)
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    assert summary["master"] == cluster.master_url
    assert summary["storage"] in ("delta-rs", "delta-spark")


def test_cluster_state_file_and_second_start_refused(cluster):
    state = json.loads((cluster.state_dir / "cluster.json").read_text())
    assert state["pids"] == cluster.pids
    with pytest.raises(RuntimeError, match="still running"):
        LocalCluster(state_dir=cluster.state_dir).start()
