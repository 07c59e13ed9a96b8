"""A real Spark standalone cluster on loopback: master + two one-core workers, jobs
submitted with spark-submit, tasks in separate executor processes; the placebo spread
over both executors; executors running a --pack-env environment. The cluster is started
once for this module and stopped (exactly its own processes) afterwards (conftest.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterlib import spark_submit_sh, submit_script
from patentpanel.cluster import LocalCluster
from patentpanel.econ.distributed import SerialRunner

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.cluster


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
    r = spark_submit_sh(["--master", cluster.master_url, "info", "--json"], cwd=tmp_path)
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    assert summary["master"] == cluster.master_url
    assert summary["storage"] in ("delta-rs", "delta-spark")


def test_cluster_state_file_and_second_start_refused(cluster):
    state = json.loads((cluster.state_dir / "cluster.json").read_text())
    assert state["pids"] == cluster.pids
    with pytest.raises(RuntimeError, match="still running"):
        LocalCluster(state_dir=cluster.state_dir).start()


def test_placebo_on_both_executors_bit_identical_to_serial(cluster, cfg, tmp_path):
    """Study 1's placebo, R = 50, SparkRunner with 4 blocks on the two executors vs
    SerialRunner in this process: the same seed gives the same numbers to the last bit."""
    import placebo_job
    out = tmp_path / "placebo.json"
    seed, reps = 20250806, 50
    submit_script(cluster, HERE / "placebo_job.py", [out, seed, reps])
    got = json.loads(out.read_text(encoding="utf-8"))
    assert got["master"] == cluster.master_url
    where = pd.DataFrame(got["where"])
    assert where["executor"].nunique() == 2, f"replications ran on {set(where['executor'])}"
    assert where["pid"].nunique() >= 2 and got["driver_pid"] not in set(where["pid"])
    serial = placebo_job.placebo(cfg, seed, reps).run(SerialRunner())
    # a few permutations of this panel give a non-finite estimate: recorded as failed
    # replications (with their reason) by both runners alike
    assert serial.replications == reps and serial.n_failed <= reps // 10
    cols = ["replication", "coef", "se", "nobs", "n_instruments", "status", "reason"]
    draws = pd.DataFrame(got["draws"])[cols].astype(serial.draws[cols].dtypes.to_dict())
    pd.testing.assert_frame_equal(draws, serial.draws[cols], check_exact=True)
    np.testing.assert_array_equal(where["coef"].to_numpy(float), serial.draws["coef"].to_numpy(float))
    assert got["summary"] == json.loads(json.dumps(serial.summary(), default=str))


@pytest.mark.slow
def test_pack_env_executors_run_the_packed_python(cluster, tmp_path):
    """--pack-env: the executors unpack the venv-pack archive as ./environment and run
    its python (sys.executable inside the tasks), with numpy, statsmodels, linearmodels
    from the archive and patentpanel from the --py-files zip (the editable install is
    left out of the archive)."""
    out = tmp_path / "env.json"
    submit_script(cluster, HERE / "probe_env.py", [out], options=["--pack-env"])
    got = json.loads(out.read_text(encoding="utf-8"))
    work = str(cluster.state_dir / "work")
    tasks = got["tasks"]
    assert sum(t["n"] for t in tasks) == 100
    assert len({t["cwd"] for t in tasks}) == 2, "tasks on both executors"
    for t in tasks:
        env = os.path.join(t["cwd"], "environment")
        assert t["cwd"].startswith(work)
        assert t["executable"] == os.path.join(env, "bin", "python")
        assert os.path.realpath(t["prefix"]) == os.path.realpath(env)
        for mod in ("numpy", "statsmodels", "linearmodels"):
            assert os.path.realpath(t[mod]).startswith(os.path.realpath(env) + os.sep), (mod, t[mod])
        assert "patentpanel-" in t["patentpanel"] and ".zip" in t["patentpanel"], t["patentpanel"]
        assert t["version"] == sys.version.split()[0]
    assert got["driver_executable"] == sys.executable   # client mode: the driver runs here
