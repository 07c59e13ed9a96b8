"""spark-submit.sh's command construction (dry run) and package coordinates."""
from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pyspark
import pytest

from patentpanel.submit import ROOT, SparkBuild, build_command, maven_coordinates, spark_build


def test_spark_build_matches_installed_pyspark():
    b = spark_build()
    assert b.spark_version == pyspark.__version__
    assert b.scala_binary == "2.13"


def test_coordinates_follow_installed_versions():
    coords = maven_coordinates()
    v = pyspark.__version__
    major = v.split(".")[0]
    assert coords["delta"].startswith("io.delta:delta-spark_2.13:")
    assert coords["graphframes"].startswith(f"io.graphframes:graphframes-spark{major}_2.13:")


def test_coordinates_fallback_table_and_unknown_spark():
    b = SparkBuild("9.9.0", "2.13", Path("/nowhere"))
    table = {"compatibility": {"9.9": {"delta": "9.1.0", "graphframes": "0.99.0"}}}
    import patentpanel.submit as s
    orig = s._installed
    s._installed = lambda dist: None   # as on a machine without the 'cluster' extra
    try:
        coords = maven_coordinates(b, table)
        assert coords == {"delta": "io.delta:delta-spark_2.13:9.1.0",
                          "graphframes": "io.graphframes:graphframes-spark9_2.13:0.99.0"}
        with pytest.raises(ValueError, match="Spark 9.8"):
            maven_coordinates(SparkBuild("9.8.0", "2.13", Path("/nowhere")), table)
    finally:
        s._installed = orig


def test_dry_run_command_local(tmp_path):
    cmd, env, args = build_command(["--dist", str(tmp_path), "--with-packages", "ingest", "--set", "run.seed=1"])
    s = " ".join(cmd)
    assert cmd[0].endswith("bin/spark-submit")
    assert "--master local[2]" in s and "--driver-memory 4g" in s
    assert "--packages io.delta:delta-spark_2.13:" in s
    assert cmd[-3:] == [str(ROOT / "jobs" / "ingest.py"), "--set", "run.seed=1"]
    py_zip = Path(cmd[cmd.index("--py-files") + 1])
    with zipfile.ZipFile(py_zip) as zf:
        names = zf.namelist()
    assert "patentpanel/__init__.py" in names and "patentpanel/cli.py" in names
    assert not any("__pycache__" in n for n in names)
    assert cmd[cmd.index("--archives") + 1].endswith("conf.zip#conf")
    assert env["PATENTPANEL_CONF_DIR"].endswith("conf")


def test_dry_run_cluster_passthrough(tmp_path):
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "a.jar").write_bytes(b"PK")
    cmd, env, _ = build_command(["--dist", str(tmp_path), "--master", "spark://127.0.0.1:7077",
                                 "--deploy-mode", "cluster", "--conf", "spark.executor.cores=1",
                                 "--executor-memory", "2g", "--jars", str(jars), "network"])
    s = " ".join(cmd)
    assert "--master spark://127.0.0.1:7077" in s and "--deploy-mode cluster" in s
    assert "--driver-memory" not in s  # cluster resources are the cluster's
    assert "--conf spark.executor.cores=1" in s and "--executor-memory 2g" in s
    assert f"--jars {jars / 'a.jar'}" in s
    assert "PATENTPANEL_CONF_DIR" not in env


def test_package_zip_is_reproducible(tmp_path):
    from patentpanel.submit import build_package_zip
    a = build_package_zip(tmp_path / "a").read_bytes()
    b = build_package_zip(tmp_path / "b").read_bytes()
    assert a == b


def test_script_dry_run_prints_command():
    out = subprocess.run([str(ROOT / "spark-submit.sh"), "--dry-run", "--with-packages", "info"],
                         capture_output=True, text=True, check=True).stdout
    assert "spark-submit" in out and "io.graphframes:graphframes-spark" in out
    assert out.strip().endswith("jobs/info.py")
