"""The SparkSession factory (shared session) and the CLI entry point."""
from __future__ import annotations

import json

from patentpanel import cli
from patentpanel.session import jvm_class_available, launched_by_spark_submit


def test_local_session_settings(spark, engines):
    conf = spark.sparkContext.getConf()
    assert spark.sparkContext.master == "local[2]"
    assert conf.get("spark.sql.shuffle.partitions") == "2"
    assert conf.get("spark.ui.enabled") == "false"
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert engines.master == "local[2]"
    assert not launched_by_spark_submit()


def test_engines_follow_the_classpath(engines):
    delta = jvm_class_available("io.delta.sql.DeltaSparkSessionExtension")
    graphframes = jvm_class_available("org.graphframes.GraphFramePythonAPI")
    assert engines.storage == ("delta-spark" if delta else "delta-rs")
    assert engines.graph == ("graphframes" if graphframes else "dataframe")
    assert "storage=" in engines.describe() and "graph=" in engines.describe()
    # a class that is certainly there, and one that certainly is not
    assert jvm_class_available("org.apache.spark.sql.SparkSession")
    assert not jvm_class_available("org.example.DoesNotExist")


def test_delta_extension_only_when_classes_present(spark, engines):
    ext = spark.sparkContext.getConf().get("spark.sql.extensions", "")
    assert ("DeltaSparkSessionExtension" in ext) == (engines.storage == "delta-spark")


def test_cli_info_without_spark(capsys):
    assert cli.main(["info", "--no-spark", "--json", "--set", "run.seed=3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stage"] == "info" and out["sources"][-1] == "--set run.seed=3"


def test_cli_config_error_exit_code(capsys):
    assert cli.main(["info", "--no-spark", "--set", "nope.key=1"]) == 2
    assert "unknown configuration key 'nope'" in capsys.readouterr().err


def test_cli_with_spark_reuses_session(spark, capsys):
    assert cli.main(["info", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["spark"] == spark.version and out["master"] == "local[2]"


def _cached_rdd_partitions(spark) -> int:
    return sum(i.numCachedPartitions() for i in spark.sparkContext._jsc.sc().getRDDStorageInfo())


def test_release_frees_local_checkpoints_and_caches(spark):
    """DataFrame.unpersist leaves a local checkpoint's blocks in memory; release frees
    them, and persist()'s cache too."""
    from patentpanel.session import release
    base = _cached_rdd_partitions(spark)
    checkpointed = spark.range(1000).selectExpr("id", "id * 2 AS x").localCheckpoint()
    cached = spark.range(1000).selectExpr("id + 1 AS y").persist()
    cached.count()
    assert _cached_rdd_partitions(spark) > base
    checkpointed.unpersist()
    assert _cached_rdd_partitions(spark) > base      # what unpersist alone leaves
    release(checkpointed, cached, None)
    assert _cached_rdd_partitions(spark) == base
    assert not cached.is_cached
