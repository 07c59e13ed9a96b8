"""Helpers of the cluster tests: run ./spark-submit.sh, or a driver script with the
options it would use, from a test process (without its local Spark gateway)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def submit_env() -> dict[str, str]:
    """This environment without a parent Spark gateway (a test session's local Spark)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env["PATENTPANEL_PYTHON"] = sys.executable
    return env


def spark_submit_sh(args, cwd=ROOT, timeout=900) -> subprocess.CompletedProcess:
    """``./spark-submit.sh ARGS``; fails the test with the end of stderr unless it exits 0."""
    r = subprocess.run([str(ROOT / "spark-submit.sh"), *map(str, args)], cwd=cwd, env=submit_env(),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"spark-submit.sh {' '.join(map(str, args))} failed " \
                              f"({r.returncode}):\n{r.stderr[-4000:]}"
    return r


def submit_script(cluster, script: Path, args, options=(), timeout=900) -> subprocess.CompletedProcess:
    """Submit a driver script with exactly the options ``./spark-submit.sh [options] info``
    would use (package zip, conf archive, Python settings), the script in place of the
    stage's entry point."""
    from patentpanel.submit import build_command
    cmd, env, _ = build_command(["--master", cluster.master_url, *options, "info"])
    assert cmd[-1] == str(ROOT / "jobs" / "info.py")
    cmd = [*cmd[:-1], str(script), *map(str, args)]
    r = subprocess.run(cmd, env={**submit_env(), **env}, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{script.name} failed ({r.returncode}):\n{r.stderr[-4000:]}"
    return r
