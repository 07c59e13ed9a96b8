"""Shared fixtures: one local SparkSession for the whole test session (starting one
costs ~5 s), a per-test lake directory, and the path to ../shared (read-only inputs
that CI places beside the clone; tests that need it skip when it is absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from patentpanel.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def cfg():
    """The project's configuration with test-friendly Spark settings."""
    # C1-only JIT: test inputs are tiny, so compiling Spark's generated code dominates and
    # the C2 compiler's work never pays back (~25% less CPU; on 600k records it costs ~10%);
    # the throughput collector as in the default configuration. C1-only mode shrinks the
    # JIT code cache to 48 MB, which the whole suite's generated code can fill in one JVM
    # ("Out of space in CodeCache" in a CI run): reserve the full-JIT default of 240 MB.
    return load_config(sets=["spark.shuffle_partitions=2", "spark.master=local[2]",
                             "spark.java_options=-XX:TieredStopAtLevel=1 -XX:+UseParallelGC "
                             "-XX:ReservedCodeCacheSize=240m"])


@pytest.fixture(scope="session")
def spark_and_engines(cfg, tmp_path_factory):
    from patentpanel.session import build_session
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    warehouse = tmp_path_factory.mktemp("warehouse")
    c = cfg.with_overrides([f"spark.extra.spark.sql.warehouse.dir={warehouse}"])
    spark, engines = build_session(c, "patentpanel-tests", test=True)
    yield spark, engines
    spark.stop()


@pytest.fixture(scope="session")
def spark(spark_and_engines):
    return spark_and_engines[0]


@pytest.fixture(scope="session")
def engines(spark_and_engines):
    return spark_and_engines[1]


@pytest.fixture
def lake(tmp_path):
    """An empty lake root for one test."""
    p = tmp_path / "lake"
    p.mkdir()
    return p


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present (CI places shared/ beside the clone)")
    return SHARED
