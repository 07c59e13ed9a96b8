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


# ------------------------------------------------------------------------- --pack-env
def _fake_venv(tmp_path, pth: dict[str, str]) -> Path:
    """A real (tiny) venv with a few site-packages entries: editable .pth files, a module,
    a pyspark JAR."""
    import sys as _sys
    venv = tmp_path / "venv"
    subprocess.run([_sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    for name, text in pth.items():
        (site / name).write_text(text)
    (site / "mod.py").write_text("X = 1\n")
    (site / "pyspark" / "jars").mkdir(parents=True)
    (site / "pyspark" / "__init__.py").write_text("")
    (site / "pyspark" / "jars" / "spark-core.jar").write_bytes(b"PK")
    return venv


def test_editable_installs_own_and_others(tmp_path):
    from patentpanel.submit import _editable_installs
    venv = _fake_venv(tmp_path, {
        "__editable__.patentpanel-0.1.0.pth": f"{ROOT / 'lib'}\n",
        "distutils-precedence.pth": "import os; var = 'SETUPTOOLS_USE_DISTUTILS'\n",
        "inside.pth": "mod_dir\n",
        "__editable__.foo-1.0.pth": "import __editable___foo_1_0_finder; __editable___foo_1_0_finder.install()\n",
        "bar.pth": "/somewhere/else/src\n"})
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "__editable___patentpanel_0_1_0_finder.py").write_text("")
    own, others = _editable_installs(venv.resolve(), site)
    assert own == ["__editable__.patentpanel-0.1.0.pth", "__editable___patentpanel_0_1_0_finder.py"]
    assert sorted(o.split(":")[0] for o in others) == ["__editable__.foo-1.0.pth", "bar.pth"]


def test_pack_env_refuses_other_editable_installs(tmp_path):
    from patentpanel.submit import PackError, pack_env
    venv = _fake_venv(tmp_path, {"bar.pth": "/somewhere/else/src\n"})
    with pytest.raises(PackError, match=r"bar\.pth: /somewhere/else/src"):
        pack_env(tmp_path / "dist", venv)


def test_pack_env_archive_contents_and_cache(tmp_path):
    import tarfile
    from patentpanel.submit import pack_env
    venv = _fake_venv(tmp_path, {"__editable__.patentpanel-0.1.0.pth": f"{ROOT / 'lib'}\n"})
    out = pack_env(tmp_path / "dist", venv)
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        mode = tf.getmember("bin/python").issym()
    site = next(n for n in names if n.endswith("site-packages/mod.py")).rsplit("/", 1)[0]
    assert f"{site}/pyspark/__init__.py" in names           # pyspark's Python code stays
    assert f"{site}/pyspark/jars/spark-core.jar" not in names  # its JARs do not
    assert f"{site}/__editable__.patentpanel-0.1.0.pth" not in names
    assert "pyvenv.cfg" in names and mode
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    # cached: the same packages give the same file, untouched; a new package a new one
    mtime = out.stat().st_mtime_ns
    assert pack_env(tmp_path / "dist", venv) == out and out.stat().st_mtime_ns == mtime
    info = venv / site / "newpkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: newpkg\nVersion: 1.0\n")
    assert pack_env(tmp_path / "dist", venv) != out


def test_dry_run_pack_env_options(tmp_path, monkeypatch):
    import sys as _sys
    import patentpanel.submit as s
    seen = {}

    def fake_pack(dist, prefix=None, *, python_prefix=None, **kw):
        seen["python_prefix"] = python_prefix
        return tmp_path / "env.tar.gz"
    monkeypatch.setattr(s, "pack_env", fake_pack)
    cmd, _, _ = build_command(["--dist", str(tmp_path), "--master", "spark://h:7077", "--pack-env",
                               "--pack-python-prefix", "/usr", "ingest"])
    line = " ".join(cmd)
    assert f"{tmp_path / 'env.tar.gz'}#environment" in cmd[cmd.index("--archives") + 1].split(",")
    assert "--conf spark.pyspark.python=./environment/bin/python" in line
    assert f"--conf spark.pyspark.driver.python={_sys.executable}" in line   # client mode
    assert seen["python_prefix"] == "/usr"
    cmd, _, _ = build_command(["--dist", str(tmp_path), "--master", "yarn", "--deploy-mode", "cluster",
                               "--pack-env", "ingest"])
    assert "--conf spark.pyspark.driver.python=./environment/bin/python" in " ".join(cmd)
