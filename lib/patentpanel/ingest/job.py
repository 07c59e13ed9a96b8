"""The ``ingest`` stage: raw exports -> bronze.patent_records, bronze.quarantine and
bronze.ingest_report.

extract: list the input files (a local directory or glob on the driver; any other URI,
``file://``, ``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``, through Hadoop's
``FileSystem``, so object stores are listed with the cluster's credentials).
transform (:func:`parse_files`): Spark reads each file once (``binaryFile``, one task
per file, no shuffle) and a ``mapInArrow`` task hashes it (the batch id) and parses it
whole with :mod:`.parsers`; files whose batch id is already in bronze.ingest_report are
hashed but not parsed, so re-ingesting a file is a no-op, and of files with the same
content in one run only the first is kept. load: records and
quarantined records are merged by (batch_id, record_index) (a re-run after a crash
cannot duplicate them), then the report. Per file ``records_read = accepted +
quarantined + duplicates`` is checked against the rows actually produced before
anything is written (:class:`AccountingError`), and one log line per batch says so.
"""
from __future__ import annotations

import fnmatch
import functools
import glob as globmod
import json
import logging
import os
import re
from typing import Iterable

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (LongType, MapType, StringType, StructField, StructType,
                               TimestampType)

from ..session import release
from .layouts import LOGICAL_FIELDS, layouts_from_config
from .parsers import ParseOptions, batch_id, parse_file

log = logging.getLogger("patentpanel.ingest")

RECORDS = "bronze.patent_records"
QUARANTINE = "bronze.quarantine"
REPORT = "bronze.ingest_report"


class AccountingError(AssertionError):
    """records read != accepted + quarantined + duplicates for some file."""


_PARSED = StructType(
    [StructField("kind", StringType()), StructField("batch_id", StringType()),
     StructField("source_file", StringType()), StructField("source_layout", StringType()),
     StructField("encoding", StringType()), StructField("record_index", LongType())]
    + [StructField(f, StringType()) for f in LOGICAL_FIELDS]
    + [StructField("reason", StringType()), StructField("detail", StringType()),
       StructField("raw_text", StringType()), StructField("status", StringType()),
       StructField("message", StringType()), StructField("records_read", LongType()),
       StructField("n_accepted", LongType()), StructField("n_quarantined", LongType()),
       StructField("n_duplicates", LongType()), StructField("by_reason", StringType()),
       StructField("notes", StringType())])

QUARANTINE_COLUMNS = ("stage", "batch_id", "source_file", "source_layout", "encoding",
                      "record_index", "reason", "detail", "raw_text", "app_no",
                      "quarantined_at")


def add_arguments(parser) -> None:
    parser.add_argument("--input", default=None,
                        help="directory or glob of raw exports (default: inputs.raw, else "
                             "inputs.simulated)")
    parser.add_argument("--layout", default=None,
                        help="declare the layout of every file instead of detecting it "
                             "(trs, incopat, patsnap, jsonl)")


def parse_options(section: dict, layout: str | None = None) -> ParseOptions:
    enc = section.get("encoding", {})
    return ParseOptions(layouts=layouts_from_config(section["layouts"]),
                        layout=layout or section.get("layout", "auto"),
                        utf8_min_share=float(enc.get("utf8_min_share", 0.5)),
                        binary_max_control_share=float(enc.get("binary_max_control_share", 0.1)),
                        min_header_matches=int(section.get("min_header_matches", 3)),
                        trs_closing_field_share=float(section.get("trs_closing_field_share", 0.5)))


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def list_inputs(spec: str, patterns: Iterable[str], spark=None) -> list[str]:
    """Files of a directory (matching ``patterns``, recursively) or of a glob, sorted.

    A plain path is listed on the driver (absolute paths come back). A URI with a scheme
    (``file://``, ``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``) is listed through
    Hadoop's ``FileSystem`` of ``spark`` (needed then), and comes back as the qualified
    URIs Hadoop reports (``file:/data/x.csv``, ``s3a://bucket/x.csv``)."""
    patterns = list(patterns)
    if _SCHEME.match(spec):
        if spark is None:
            raise ValueError(f"listing {spec!r} needs a SparkSession (its Hadoop FileSystem); "
                             f"pass spark=")
        return _list_hadoop(spark, spec, patterns)
    if os.path.isdir(spec):
        found = set()
        for pat in patterns:
            found.update(globmod.glob(os.path.join(spec, "**", pat), recursive=True))
        files = sorted(f for f in found if os.path.isfile(f))
    else:
        files = sorted(f for f in globmod.glob(spec, recursive=True) if os.path.isfile(f))
    return [os.path.abspath(f) for f in files]


def _list_hadoop(spark, spec: str, patterns: list[str]) -> list[str]:
    """:func:`list_inputs` of a URI: a directory is walked recursively and its files are
    kept when their name matches a pattern; anything else is a Hadoop glob. Hidden
    names (``.x``) only match a pattern that starts with a dot, as with ``glob``."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(spec)
    fs = path.getFileSystem(conf)
    out = []
    if fs.exists(path) and fs.getFileStatus(path).isDirectory():
        it = fs.listFiles(path, True)
        while it.hasNext():
            name = it.next().getPath()
            base = name.getName()
            if any(fnmatch.fnmatchcase(base, p) and (p.startswith(".") or not base.startswith("."))
                   for p in patterns):
                out.append(name.toString())
    else:
        dotted = path.getName().startswith(".")
        for st in fs.globStatus(path) or []:
            if st.isFile() and (dotted or not st.getPath().getName().startswith(".")):
                out.append(st.getPath().toString())
    return sorted(out)


def source_name(path: str) -> str:
    """A file's name as recorded in bronze (``source_file``): local files by their path
    (``file:/x``, ``file:///x`` -> ``/x``), other URIs as they are."""
    return re.sub(r"^file:(//(?=/))?", "", path)


_LONGS = [f.name for f in _PARSED.fields if isinstance(f.dataType, LongType)]
_STRINGS = [f.name for f in _PARSED.fields if isinstance(f.dataType, StringType)]


_ARROW = pa.schema([pa.field(f.name, pa.int64() if isinstance(f.dataType, LongType)
                             else pa.string()) for f in _PARSED.fields])


def _batch(rows: list[dict]) -> pa.RecordBatch:
    """Rows (dicts; absent keys are null) as one Arrow batch of :data:`_PARSED`."""
    return pa.RecordBatch.from_arrays(
        [pa.array([r.get(f.name) for r in rows], type=f.type) for f in _ARROW], schema=_ARROW)


def _batches_of(res, chunk: int = 20000) -> Iterable[pa.RecordBatch]:
    """One parsed file as Arrow batches: its records, its rejected records and one
    ``file`` row (the report)."""
    base = {"batch_id": res.batch_id, "source_file": res.source_file,
            "source_layout": res.layout, "encoding": res.encoding}
    buf: list[dict] = []
    for rec in res.records:
        buf.append({**base, "kind": "record", **rec})
        if len(buf) >= chunk:
            yield _batch(buf)
            buf = []
    for rej in res.rejected:
        buf.append({**base, "kind": "reject", **rej})
    by_reason = res.quarantined_by_reason()
    buf.append({**base, "kind": "file", "status": res.status, "message": res.message,
                "records_read": res.records_read, "n_accepted": len(res.records),
                "n_quarantined": len(res.rejected), "n_duplicates": res.duplicates,
                "by_reason": json.dumps(by_reason, sort_keys=True),
                "notes": "; ".join(res.notes)})
    yield _batch(buf)


def _read_files(spark, files: list[str], parallelism: int) -> DataFrame:
    """(path, content) of every file, read once. ``parallelism`` 0: one scan per file,
    unioned, so each file is one task and nothing is shuffled (a file is parsed whole
    anyway); N > 0: one scan spread over N tasks by a repartition on the path (for
    inputs of very many small files)."""
    def scan(paths):
        return (spark.read.format("binaryFile").load(paths)
                .select(F.col("path"), F.col("content")))
    if parallelism > 0:
        return scan(files).repartition(max(1, min(parallelism, len(files))), "path")
    return functools.reduce(DataFrame.unionAll, [scan([f]) for f in files])


def parse_files(spark, files: list[str], opts: ParseOptions, parallelism: int = 0,
                known: Iterable[str] = ()) -> DataFrame:
    """Transform: the given files -> one DataFrame of parsed rows (``kind`` = record,
    reject or file; ``known`` for a file whose batch id is in ``known``: hashed, not
    parsed). Each file is read once and parsed whole by one ``mapInArrow`` task."""
    if not files:
        return spark.createDataFrame([], _PARSED)
    known = frozenset(known)

    def run(batches: Iterable[pa.RecordBatch]):
        for b in batches:
            paths = b.column("path").to_pylist()
            contents = b.column("content")
            for i, path in enumerate(paths):
                data = contents[i].as_py()
                name = source_name(path)
                bid = batch_id(data)
                if bid in known:
                    yield _batch([{"kind": "known", "batch_id": bid, "source_file": name}])
                    continue
                yield from _batches_of(parse_file(name, data, opts, batch=bid))

    return _read_files(spark, files, parallelism).mapInArrow(run, _PARSED)


def split_parsed(parsed: DataFrame, now=None) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(bronze records, quarantine rows, report rows) of parsed rows."""
    now = now if now is not None else F.current_timestamp()
    records = (parsed.where(F.col("kind") == "record")
               .select("batch_id", "source_file", "source_layout", "encoding", "record_index",
                       *LOGICAL_FIELDS)
               .withColumn("ingested_at", now))
    quarantine = (parsed.where(F.col("kind") == "reject")
                  .select(F.lit("ingest").alias("stage"), "batch_id", "source_file",
                          "source_layout", "encoding", "record_index", "reason", "detail",
                          "raw_text", F.lit(None).cast("string").alias("app_no"),
                          now.alias("quarantined_at")))
    report = (parsed.where(F.col("kind") == "file")
              .select("batch_id", "source_file", F.col("source_layout").alias("layout"),
                      "encoding", "status", "message", "records_read",
                      F.col("n_accepted").alias("accepted"),
                      F.col("n_quarantined").alias("quarantined"),
                      F.col("n_duplicates").alias("duplicates"),
                      F.from_json("by_reason", MapType(StringType(), LongType()))
                      .alias("quarantined_by_reason"),
                      "notes", now.alias("ingested_at")))
    return records, quarantine, report


def check_accounting(report_rows: list[dict], produced: dict[tuple[str, str], int]) -> None:
    """Raise :class:`AccountingError` unless, per file, the report adds up and the number
    of rows produced (records + quarantined) equals what the report says."""
    problems = []
    for r in report_rows:
        total = r["accepted"] + r["quarantined"] + r["duplicates"]
        if total != r["records_read"]:
            problems.append(f"{r['source_file']}: read {r['records_read']} != accepted "
                            f"{r['accepted']} + quarantined {r['quarantined']} + duplicates "
                            f"{r['duplicates']}")
        got = produced.get((r["batch_id"], "record"), 0)
        rej = produced.get((r["batch_id"], "reject"), 0)
        if got != r["accepted"] or rej != r["quarantined"]:
            problems.append(f"{r['source_file']}: report says {r['accepted']} accepted and "
                            f"{r['quarantined']} quarantined, rows produced {got} and {rej}")
    if problems:
        raise AccountingError("ingest accounting violated: " + "; ".join(problems))


def write_new_batches(store, df: DataFrame, table: str, keys: list[str], batches: list[str],
                      stage: str = "ingest") -> None:
    """Append rows of new batches; merge by ``keys`` instead when some of these batches
    already left rows (a run that stopped before writing its report), so a re-run never
    duplicates."""
    meta = {"stage": stage}
    if not store.exists(table):
        store.write(df, table, mode="overwrite", metadata=meta)
    elif store.read(table).where(F.col("batch_id").isin(batches)).limit(1).count():
        store.write(df, table, mode="merge", keys=keys, metadata=meta)
    else:
        store.write(df, table, mode="append", metadata=meta)


def ingest(spark, store, files: list[str], opts: ParseOptions, parallelism: int = 0) -> dict:
    """Ingest ``files`` into the bronze tables of ``store``; returns a summary."""
    summary = {"files": len(files), "skipped_known": 0, "batches": 0, "records_read": 0,
               "accepted": 0, "quarantined": 0, "duplicates": 0, "rejected_files": 0}
    if not files:
        log.warning("ingest: no input files")
        return summary
    # one entry per file (a path given twice, or as /x and file:/x, is read once)
    names: set[str] = set()
    files = [f for f in files if not (source_name(f) in names or names.add(source_name(f)))]
    known: set[str] = set()
    if store.exists(REPORT):
        known = {r["batch_id"] for r in store.read(REPORT).select("batch_id").distinct().collect()}
    # row blocks (localCheckpoint), not persist()'s columnar cache: encoding and
    # compressing every title and abstract into it cost more CPU than the re-reads save
    parsed = parse_files(spark, files, opts, parallelism, known).localCheckpoint()
    try:
        files_seen = parsed.where(F.col("kind").isin("file", "known")).select(
            "kind", "batch_id", "source_file").collect()
        by_name = {r["source_file"]: r for r in files_seen}
        seen: dict[str, str] = {}
        dropped: list[str] = []
        for f in files:
            r = by_name.get(source_name(f))
            if r is None:
                continue
            b, name = r["batch_id"], r["source_file"]
            if r["kind"] == "known":
                summary["skipped_known"] += 1
                log.info("ingest: %s (batch %s) already ingested; skipped", name, b)
            elif b in seen:
                summary["skipped_known"] += 1
                dropped.append(name)
                log.warning("ingest: %s has the same content as %s (batch %s); skipped",
                            name, seen[b], b)
            else:
                seen[b] = name
        if not seen:
            return summary
        new = parsed.where(F.col("kind") != "known")
        if dropped:
            new = new.where(~F.col("source_file").isin(dropped))
        now = F.lit(pd.Timestamp.now(tz="UTC").to_pydatetime().replace(tzinfo=None)
                    ).cast(TimestampType())
        records, quarantine, report = split_parsed(new, now)
        produced = {(r["batch_id"], r["kind"]): r["count"] for r in
                    new.groupBy("batch_id", "kind").count().collect()}
        report_rows = [r.asDict() for r in report.collect()]
        check_accounting(report_rows, produced)
        batches = [r["batch_id"] for r in report_rows]
        if any(r["accepted"] for r in report_rows):
            write_new_batches(store, records, RECORDS, ["batch_id", "record_index"], batches)
        if any(r["quarantined"] for r in report_rows):
            write_new_batches(store, quarantine.select(*QUARANTINE_COLUMNS), QUARANTINE,
                              ["stage", "batch_id", "record_index"], batches)
        store.write(report, REPORT, mode="merge", keys=["batch_id"], metadata={"stage": "ingest"})
    finally:
        release(parsed)
    for r in sorted(report_rows, key=lambda r: r["source_file"]):
        summary["batches"] += 1
        for k in ("records_read", "accepted", "quarantined", "duplicates"):
            summary[k] += r[k]
        if r["status"] != "ok":
            summary["rejected_files"] += 1
            log.error("ingest: batch %s file %s rejected: %s", r["batch_id"], r["source_file"],
                      r["message"])
        else:
            log.info("ingest: batch %s file %s layout=%s encoding=%s read=%d accepted=%d "
                     "quarantined=%d %s duplicates=%d (read = accepted + quarantined + "
                     "duplicates: ok)", r["batch_id"], os.path.basename(r["source_file"]),
                     r["layout"], r["encoding"], r["records_read"], r["accepted"],
                     r["quarantined"], dict(r["quarantined_by_reason"] or {}), r["duplicates"])
    return summary


def run(ctx, args) -> dict:
    cfg = ctx.cfg
    section = cfg.section("ingest")
    spec = getattr(args, "input", None) or cfg.get("inputs.raw") or \
        os.path.join(str(cfg.get("inputs.simulated")), "raw")
    files = list_inputs(spec, section.get("patterns", ["*"]), ctx.spark)
    opts = parse_options(section, getattr(args, "layout", None))
    summary = ingest(ctx.spark, ctx.store, files, opts, int(section.get("parallelism", 0)))
    summary["tables"] = [RECORDS, QUARANTINE, REPORT]
    return summary
