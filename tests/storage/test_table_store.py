"""TableStore contract, run on both engines: every case runs on the embedded delta-rs
engine; the delta-spark run of each skips where Spark's Delta JARs are not loadable.
Expected results are hand-written row sets (plain Python), never read back through the
store itself."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import Row

from patentpanel.storage import (DuplicateKeys, SchemaMismatch, TableNotFound, TableStore,
                                 TableStoreError)
from patentpanel.storage.store import delta_spark_available

SCHEMA = "app_no string, app_year int, title string, n int"
ROWS_A = [("CN1", 2019, "深度学习 方法", 1), ("CN2", 2020, "neural net", 2),
          ("CN3", 2020, "图像识别", 3)]
ROWS_B = [("CN4", 2021, "speech", 4), ("CN5", 2019, "机器人", 5)]


@pytest.fixture(params=["delta-rs", "delta-spark"])
def store(request, spark, lake):
    if request.param == "delta-spark" and not delta_spark_available(spark):
        pytest.skip("delta-spark engine: io.delta.tables.DeltaTable is not on the classpath "
                    "(no Delta JARs here; run ./spark-submit.sh --with-packages where Maven "
                    "is reachable)")
    return TableStore(spark, lake, engine=request.param)


def rows(df, cols=None):
    cols = cols or df.columns
    return sorted(tuple(r[c] for c in cols) for r in df.collect())


def frame(spark, data, schema=SCHEMA):
    return spark.createDataFrame(data, schema)


def test_overwrite_roundtrip_keeps_schema_and_column_order(store, spark):
    v = store.write(frame(spark, ROWS_A), "silver.patents")
    assert v == 0 and store.version("silver.patents") == 0
    assert store.exists("silver.patents") and not store.exists("silver.other")
    assert store.path("silver.patents") == f"{store.root}/silver/patents"
    back = store.read("silver.patents")
    assert back.columns == ["app_no", "app_year", "title", "n"]
    assert [f.dataType.simpleString() for f in back.schema.fields] == \
        ["string", "int", "string", "int"]
    assert rows(back) == sorted(ROWS_A)


def test_overwrite_rerun_does_not_duplicate_and_old_version_stays(store, spark):
    store.write(frame(spark, ROWS_A), "silver.patents")
    store.write(frame(spark, ROWS_B), "silver.patents")
    assert store.write(frame(spark, ROWS_B), "silver.patents") == 2
    assert rows(store.read("silver.patents")) == sorted(ROWS_B)
    assert rows(store.read("silver.patents", version=0)) == sorted(ROWS_A)
    assert rows(store.read("silver.patents", version=1)) == sorted(ROWS_B)


def test_append_adds_rows_in_any_column_order(store, spark):
    store.write(frame(spark, ROWS_A), "bronze.patent_records")
    reordered = frame(spark, ROWS_B).select("n", "title", "app_no", "app_year")
    assert store.write(reordered, "bronze.patent_records", mode="append") == 1
    assert rows(store.read("bronze.patent_records")) == sorted(ROWS_A + ROWS_B)
    assert rows(store.read("bronze.patent_records", 0)) == sorted(ROWS_A)


@pytest.mark.parametrize("select, missing, extra, different", [
    (["app_no", "app_year", "title"], ["n"], [], {}),
    (["app_no", "app_year", "title", "n", "extra_col"], [], ["extra_col"], {}),
    (["app_no", "app_year", "title", "n_long"], ["n"], ["n_long"], {}),
    (["app_no", "year_str", "title", "n"], [], [], {"app_year": ("int", "string")}),
])
def test_append_schema_mismatch_names_the_columns(store, spark, select, missing, extra, different):
    store.write(frame(spark, ROWS_A), "silver.patents")
    src = frame(spark, ROWS_B).selectExpr(
        "*", "'x' as extra_col", "cast(n as bigint) as n_long",
        "cast(app_year as string) as year_str")
    src = src.selectExpr(*[("year_str as app_year" if c == "year_str" else c) for c in select])
    with pytest.raises(SchemaMismatch) as err:
        store.write(src, "silver.patents", mode="append")
    e = err.value
    assert (e.missing, e.extra, e.different) == (missing, extra, different)
    for col in missing + extra + list(different):
        assert col in str(e)
    assert store.version("silver.patents") == 0          # nothing committed


def test_merge_upserts_one_row_per_key(store, spark):
    store.write(frame(spark, ROWS_A + ROWS_B), "silver.patents")
    src = frame(spark, [("CN2", 2020, "neural net v2", 20), ("CN5", 2019, "机器人 v2", 50),
                        ("CN6", 2021, "new", 6)])
    v = store.write(src, "silver.patents", mode="merge", keys=["app_no"],
                    metadata={"stage": "clean"})
    expected = sorted([("CN1", 2019, "深度学习 方法", 1), ("CN2", 2020, "neural net v2", 20),
                       ("CN3", 2020, "图像识别", 3), ("CN4", 2021, "speech", 4),
                       ("CN5", 2019, "机器人 v2", 50), ("CN6", 2021, "new", 6)])
    assert rows(store.read("silver.patents")) == expected
    # re-running the same merge changes nothing
    assert store.write(src, "silver.patents", mode="merge", keys="app_no") == v + 1
    assert rows(store.read("silver.patents")) == expected
    h = store.history("silver.patents")
    assert h[1]["operation"] == "MERGE" and h[1]["metadata"] == {"stage": "clean"}
    m = h[1]["metrics"]
    assert int(m["numTargetRowsUpdated"]) == 2 and int(m["numTargetRowsInserted"]) == 1


def test_merge_creates_missing_table_and_keeps_partitioning(store, spark):
    src = frame(spark, ROWS_A)
    assert store.write(src, "gold.firm_year", mode="merge", keys=["app_no"],
                       partition_by="app_year") == 0
    # a key that moves to another partition is removed from the old one
    store.write(frame(spark, [("CN1", 2021, "moved", 1)]), "gold.firm_year", mode="merge",
                keys=["app_no"])
    assert store.partition_columns("gold.firm_year") == ["app_year"]
    assert rows(store.read("gold.firm_year")) == sorted(
        [("CN1", 2021, "moved", 1), ROWS_A[1], ROWS_A[2]])


def test_merge_composite_keys(store, spark):
    s = "app_no string, position int, name string"
    store.write(frame(spark, [("CN1", 1, "a"), ("CN1", 2, "b"), ("CN2", 1, "c")], s),
                "silver.applicants")
    store.write(frame(spark, [("CN1", 2, "B"), ("CN2", 2, "d")], s), "silver.applicants",
                mode="merge", keys=["app_no", "position"])
    assert rows(store.read("silver.applicants")) == [("CN1", 1, "a"), ("CN1", 2, "B"),
                                                     ("CN2", 1, "c"), ("CN2", 2, "d")]


def test_merge_rejects_duplicate_and_null_keys(store, spark):
    store.write(frame(spark, ROWS_A), "silver.patents")
    dup = frame(spark, [("CN7", 2020, "x", 1), ("CN7", 2020, "y", 2), ("CN8", 2020, "z", 3)])
    with pytest.raises(DuplicateKeys) as err:
        store.write(dup, "silver.patents", mode="merge", keys=["app_no"])
    assert "app_no='CN7'" in str(err.value) and "2 rows" in str(err.value)
    assert "CN8" not in str(err.value)
    with pytest.raises(DuplicateKeys, match="null or duplicate"):
        store.write(frame(spark, [(None, 2020, "x", 1)]), "silver.patents", mode="merge",
                    keys=["app_no"])
    with pytest.raises(TableStoreError, match="key column.*nope"):
        store.write(frame(spark, ROWS_B), "silver.patents", mode="merge", keys=["nope"])
    assert store.version("silver.patents") == 0


def test_partitioned_write_restores_partition_values(store, spark):
    data = [("CN1", 2019, "a b/c%d", 1), ("CN2", 2020, "plain", 2), ("CN3", 2020, None, 3)]
    s = "app_no string, app_year int, city string, n int"
    store.write(frame(spark, data, s), "gold.city_year", partition_by=["app_year", "city"])
    assert store.partition_columns("gold.city_year") == ["app_year", "city"]
    back = store.read("gold.city_year")
    assert back.columns == ["app_no", "app_year", "city", "n"]
    assert back.schema["app_year"].dataType.simpleString() == "int"
    assert rows(back) == sorted(data, key=lambda r: r[0])
    assert rows(back.where("app_year = 2020")) == [("CN2", 2020, "plain", 2),
                                                    ("CN3", 2020, None, 3)]
    with pytest.raises(TableStoreError, match="partitioned by"):
        store.write(frame(spark, data, s), "gold.city_year", mode="append",
                    partition_by="app_year")
    with pytest.raises(TableStoreError, match="cannot partition by n_d"):
        store.write(frame(spark, data, s).selectExpr("*", "n * 1.5 as n_d"), "gold.x",
                    partition_by="n_d")


def test_time_travel_to_every_version_and_history(store, spark):
    snapshots = []
    store.write(frame(spark, ROWS_A), "gold.panel", metadata={"stage": "panels", "step": 0},
                description="city-year panel")
    snapshots.append(sorted(ROWS_A))
    store.write(frame(spark, ROWS_B), "gold.panel", mode="append", metadata={"step": 1})
    snapshots.append(sorted(ROWS_A + ROWS_B))
    store.write(frame(spark, [("CN1", 2019, "t", 9)]), "gold.panel", mode="merge",
                keys=["app_no"], metadata={"step": 2})
    snapshots.append(sorted([("CN1", 2019, "t", 9)] + ROWS_A[1:] + ROWS_B))
    new_schema = spark.createDataFrame([("CN9", 1.5)], "app_no string, score double")
    store.write(new_schema, "gold.panel", metadata={"step": 3})     # schema replaced
    snapshots.append([("CN9", 1.5)])
    latest = store.version("gold.panel")
    assert latest == 3
    for v, snap in enumerate(snapshots):
        assert rows(store.read("gold.panel", version=v)) == snap, v
    assert store.schema("gold.panel").fieldNames() == ["app_no", "score"]
    assert store.schema("gold.panel", version=0).fieldNames() == ["app_no", "app_year",
                                                                  "title", "n"]
    with pytest.raises(TableNotFound, match="no version 4"):
        store.read("gold.panel", version=4)
    h = store.history("gold.panel")
    assert [e["version"] for e in h] == [3, 2, 1, 0]
    assert [e["metadata"].get("step") for e in h] == [3, 2, 1, 0]
    assert h[-1]["metadata"]["stage"] == "panels"
    assert [e["operation"] for e in h][:3] == ["WRITE", "MERGE", "WRITE"]
    assert all(isinstance(e["timestamp"], dt.datetime) for e in h)
    assert h[0]["timestamp"] >= h[-1]["timestamp"]


def test_empty_table_then_append(store, spark):
    empty = frame(spark, [], SCHEMA)
    assert store.write(empty, "bronze.quarantine", partition_by="app_year") == 0
    back = store.read("bronze.quarantine")
    assert back.count() == 0 and back.columns == ["app_no", "app_year", "title", "n"]
    store.write(empty, "bronze.unpartitioned")
    assert store.read("bronze.unpartitioned").count() == 0
    store.write(frame(spark, ROWS_A), "bronze.quarantine", mode="append")
    assert rows(store.read("bronze.quarantine")) == sorted(ROWS_A)
    assert store.read("bronze.quarantine", version=0).count() == 0


@pytest.mark.parametrize("name", ["patents", "Silver.patents", "silver.Patents",
                                  "platinum.patents", "silver.pat-ents", "silver.",
                                  "silver.a.b", "silver.1abc", "", None, "silver..x"])
def test_bad_table_names(spark, lake, name):
    store = TableStore(spark, lake, engine="delta-rs")
    with pytest.raises(TableStoreError, match="bad table name"):
        store.path(name)


def test_bad_arguments(store, spark):
    df = frame(spark, ROWS_A)
    with pytest.raises(TableStoreError, match="unknown write mode 'upsert'"):
        store.write(df, "silver.patents", mode="upsert")
    with pytest.raises(TableStoreError, match="merge needs keys"):
        store.write(df, "silver.patents", mode="merge")
    with pytest.raises(TableStoreError, match="only used by mode='merge'"):
        store.write(df, "silver.patents", keys=["app_no"])
    with pytest.raises(TableNotFound, match="silver.nothing does not exist"):
        store.read("silver.nothing")
    with pytest.raises(TableStoreError, match="unknown storage engine"):
        TableStore(spark, store.root, engine="hudi")


def test_tables_description_delete_and_vacuum(store, spark):
    store.write(frame(spark, ROWS_A), "silver.patents", description="one row per application")
    store.write(frame(spark, ROWS_B), "silver.patents")
    store.write(frame(spark, ROWS_B), "gold.city_year")
    assert store.tables() == ["gold.city_year", "silver.patents"]
    assert store.tables("silver") == ["silver.patents"]
    from deltalake import DeltaTable
    assert DeltaTable(store.path("silver.patents")).metadata().description == \
        "one row per application"
    removed = store.vacuum("silver.patents", retain_hours=0)
    assert len(removed) >= 1                   # the files of version 0
    assert rows(store.read("silver.patents")) == sorted(ROWS_B)
    assert store.delete("gold.city_year") is True and store.delete("gold.city_year") is False
    assert store.tables() == ["silver.patents"]
