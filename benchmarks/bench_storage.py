"""Embedded Delta engine: Spark-written Parquet committed by delta-rs (what TableStore
does) against the simple path (``df.toArrow()`` + ``write_deltalake`` / delta-rs merge
with an Arrow source).

600k rows x 12 columns with text, partitioned by year: initial write, append 60k new
rows, merge 60k rows (half updates of existing keys, half inserts). Median of --repeat
runs; prints a table and writes benchmarks/results/storage.json.

    .venv/bin/python benchmarks/bench_storage.py [--rows 600000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from patentpanel.config import load_config
from patentpanel.session import build_session
from patentpanel.storage import TableStore


def make_frame(spark, n: int, start: int = 0):
    """Synthetic silver.patents-like rows (deterministic: derived from the row id)."""
    i = F.col("id")
    h = F.sha2(i.cast("string"), 256)
    return (spark.range(start, start + n).select(
        F.format_string("CN%012d.%d", i, i % 10).alias("app_no"),
        (F.lit(2010) + i % 12).cast("int").alias("app_year"),
        F.date_add(F.lit("2010-01-01").cast("date"), (i % 4380).cast("int")).alias("app_date"),
        F.concat(F.lit("一种基于深度学习的"), F.substring(h, 1, 16), F.lit("方法")).alias("title"),
        F.concat_ws(" ", *[F.substring(F.sha2(F.concat(i.cast("string"), F.lit(k)), 256), 1, 40)
                           for k in range(5)]).alias("abstract"),
        F.concat(F.lit("G06N"), (i % 10).cast("string"), F.lit("/0"), (i % 7).cast("string"))
        .alias("ipc_main"),
        ((i % 4) + 1).cast("int").alias("n_applicants"),
        (F.lit(1.0) / ((i % 4) + 1)).alias("share"),
        (i % 3 == 0).alias("is_ai"),
        F.format_string("%06d", (i * 7919) % 999999).alias("city_code"),
        F.substring(h, 20, 12).alias("applicant"),
        (i % 5).cast("long").alias("n_publications")))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_simple(base, v0, app, mrg):
    """The simple path: collect to Arrow on the driver, delta-rs writes and merges."""
    from deltalake import DeltaTable, write_deltalake
    path = str(base / "simple")
    out = {}
    out["write"] = timed(lambda: write_deltalake(path, v0.toArrow(), mode="overwrite",
                                                 partition_by=["app_year"]))
    out["append"] = timed(lambda: write_deltalake(path, app.toArrow(), mode="append"))

    def merge():
        (DeltaTable(path).merge(mrg.toArrow(), "t.app_no = s.app_no", source_alias="s",
                                target_alias="t")
         .when_matched_update_all().when_not_matched_insert_all().execute())
    out["merge"] = timed(merge)
    return out


def run_store(base, spark, v0, app, mrg):
    """TableStore's embedded engine: Spark writes Parquet, delta-rs commits."""
    store = TableStore(spark, base / "lake", engine="delta-rs")
    out = {}
    out["write"] = timed(lambda: store.write(v0, "silver.patents", partition_by="app_year"))
    out["append"] = timed(lambda: store.write(app, "silver.patents", mode="append"))
    out["merge"] = timed(lambda: store.write(mrg, "silver.patents", mode="merge",
                                             keys=["app_no"]))
    out["read_count"] = timed(lambda: store.read("silver.patents").count())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "storage.json"))
    args = ap.parse_args()

    cfg = load_config(sets=["spark.shuffle_partitions=4"])
    spark, engines = build_session(cfg, "bench-storage", test=True)
    n, k = args.rows, args.rows // 10
    v0 = make_frame(spark, n).cache()
    app = make_frame(spark, k, start=n).cache()
    # half updates of existing keys (spread over all years), half new keys
    mrg = (make_frame(spark, k // 2, start=0).withColumn("title", F.lit("updated"))
           .unionByName(make_frame(spark, k - k // 2, start=n + k))).cache()
    for df in (v0, app, mrg):
        df.count()

    runs: dict[str, list[dict]] = {"store": [], "simple": []}
    for _ in range(args.repeat):
        for kind in ("store", "simple"):
            base = Path(tempfile.mkdtemp(prefix=f"bench-storage-{kind}-"))
            try:
                runs[kind].append(run_store(base, spark, v0, app, mrg) if kind == "store"
                                  else run_simple(base, v0, app, mrg))
            finally:
                shutil.rmtree(base, ignore_errors=True)

    med = {kind: {op: statistics.median(r[op] for r in rs) for op in rs[0]}
           for kind, rs in runs.items()}
    result = {"rows": n, "append_rows": k, "merge_rows": k, "repeat": args.repeat,
              "spark": spark.version, "master": spark.sparkContext.master,
              "seconds_median": med,
              "ratio_simple_over_store": {op: med["simple"][op] / med["store"][op]
                                          for op in ("write", "append", "merge")},
              "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{n} rows x 12 columns, median of {args.repeat} (seconds)")
    print(f"{'operation':<10}{'store (Spark+commit)':>22}{'simple (Arrow)':>16}{'ratio':>8}")
    for op in ("write", "append", "merge"):
        print(f"{op:<10}{med['store'][op]:>22.2f}{med['simple'][op]:>16.2f}"
              f"{result['ratio_simple_over_store'][op]:>8.2f}")
    print(f"read+count (store) {med['store']['read_count']:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
