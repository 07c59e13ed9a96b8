"""On-disk format of the embedded engine, checked by readers that share no code with it:
the ``deltalake`` package (log, schema, versions, history, file list, stats), pyarrow
(the listed Parquet files plus the log's partition values) and DuckDB (its delta
extension when it can be loaded offline, else read_parquet over the listed files)."""
from __future__ import annotations

import datetime as dt
import json
import os
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from patentpanel.storage import TableStore

SCHEMA = ("app_no string, app_year int, title string, share double, is_ai boolean, "
          "app_date date, ipc_codes array<string>, n bigint")
V0 = [("CN1", 2019, "深度学习方法", 0.5, True, dt.date(2019, 3, 1), ["G06N3/08"], 1),
      ("CN2", 2020, "neural net", 1.0, False, dt.date(2020, 1, 2), ["G06F17/00", "H04L"], 2),
      ("CN3", 2020, None, None, None, None, None, None)]
APPEND = [("CN4", 2021, "语音", 0.25, True, dt.date(2021, 7, 9), [], 4)]
MERGE = [("CN2", 2020, "neural net v2", 0.5, True, dt.date(2020, 1, 2), ["G06N"], 20),
         ("CN5", 2019, "robot", 1.0, False, dt.date(2019, 12, 31), ["B25J9/16"], 5)]
FINAL = sorted([V0[0], MERGE[0], V0[2], APPEND[0], MERGE[1]], key=lambda r: r[0])
COLS = ["app_no", "app_year", "title", "share", "is_ai", "app_date", "ipc_codes", "n"]


@pytest.fixture(scope="module")
def table(spark, tmp_path_factory):
    store = TableStore(spark, tmp_path_factory.mktemp("fmt") / "lake", engine="delta-rs")
    name = "silver.patents"
    store.write(spark.createDataFrame(V0, SCHEMA), name, partition_by="app_year",
                metadata={"stage": "clean", "config": "abc123"})
    store.write(spark.createDataFrame(APPEND, SCHEMA), name, mode="append",
                metadata={"stage": "clean"})
    store.write(spark.createDataFrame(MERGE, SCHEMA), name, mode="merge", keys=["app_no"],
                metadata={"stage": "clean", "batch": 3})
    return store, name, store.path(name)


def _norm(row):
    return tuple(list(v) if isinstance(v, (list, tuple)) and not isinstance(v, str) else v
                 for v in row)


def test_deltalake_sees_versions_schema_history_and_files(table):
    store, name, path = table
    t = DeltaTable(path)
    assert t.version() == store.version(name) == 2
    assert t.metadata().partition_columns == ["app_year"]
    fields = json.loads(t.schema().to_json())["fields"]
    assert [(f["name"], f["type"] if isinstance(f["type"], str) else f["type"]["type"])
            for f in fields] == [("app_no", "string"), ("app_year", "integer"),
                                 ("title", "string"), ("share", "double"),
                                 ("is_ai", "boolean"), ("app_date", "date"),
                                 ("ipc_codes", "array"), ("n", "long")]
    hist = t.history()
    assert [h["version"] for h in hist] == [2, 1, 0]
    assert [json.loads(h["userMetadata"]) for h in hist] == [
        {"stage": "clean", "batch": 3}, {"stage": "clean"}, {"stage": "clean", "config": "abc123"}]
    assert hist[0]["patentpanel"]["operation"] == "MERGE"
    # the files Spark reads are exactly the files the log lists
    assert sorted(store._engine.files(path)) == sorted(unquote(u) for u in t.file_uris())
    assert t.count() == len(FINAL)                     # numRecords stats add up
    for v, n in [(0, 3), (1, 4)]:
        assert DeltaTable(path, version=v).count() == n
    # removed files are still on disk: reading the directory would be wrong
    on_disk = [f for _, _, fs in os.walk(path) for f in fs if f.endswith(".parquet")]
    assert len(on_disk) > len(t.file_uris())


def _arrow_rows(path):
    """Rows of the current version via pyarrow: the listed files + log partition values."""
    t = DeltaTable(path)
    actions = pa.table(t.get_add_actions(flatten=True)).to_pylist()
    out = []
    for a in actions:
        part = pq.read_table(os.path.join(path, unquote(a["path"])))
        for r in part.to_pylist():
            r["app_year"] = a["partition.app_year"]
            out.append(tuple(r[c] for c in COLS))
    return sorted(out, key=lambda r: r[0]), actions


def test_pyarrow_reads_what_was_written_and_stats_are_true(table):
    store, name, path = table
    got, actions = _arrow_rows(path)
    assert [_norm(r) for r in got] == [_norm(r) for r in FINAL]
    # min/max/null-count stats in the log agree with the data of each file
    for a in actions:
        data = pq.read_table(os.path.join(path, unquote(a["path"])))
        assert a["num_records"] == data.num_rows
        ns = [v for v in data.column("n").to_pylist() if v is not None]
        assert a["null_count.n"] == data.num_rows - len(ns)
        if ns:
            assert (a["min.n"], a["max.n"]) == (min(ns), max(ns))
        titles = [v for v in data.column("title").to_pylist() if v is not None]
        if titles:
            assert (a["min.title"], a["max.title"]) == (min(titles, key=str.encode),
                                                        max(titles, key=str.encode))


def test_spark_read_matches_and_time_travel_matches_deltalake(table, spark):
    store, name, path = table
    got = sorted((tuple(r) for r in store.read(name).select(*COLS).collect()),
                 key=lambda r: r[0])
    assert [_norm(r) for r in got] == [_norm(r) for r in FINAL]
    for v in range(3):
        assert store.read(name, version=v).count() == DeltaTable(path, version=v).count()


def test_duckdb_reads_the_same_rows(table):
    duckdb = pytest.importorskip("duckdb")
    store, name, path = table
    con = duckdb.connect()
    sql_cols = ", ".join(COLS)
    try:
        con.execute("LOAD delta")
        rows = con.execute(f"SELECT {sql_cols} FROM delta_scan('{path}')").fetchall()
    except duckdb.Error:
        # delta extension not installable offline: the listed files, hive partitions
        files = [unquote(u) for u in DeltaTable(path).file_uris()]
        rows = con.execute(
            f"SELECT {sql_cols} FROM read_parquet(?, hive_partitioning = true, "
            f"hive_types = {{'app_year': INTEGER}})", [files]).fetchall()
    got = sorted(rows, key=lambda r: r[0])
    assert [_norm(r) for r in got] == [_norm(r) for r in FINAL]
