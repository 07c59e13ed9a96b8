"""Benchmark: ingest + clean of simulated raw exports on Spark local[2], against a
single-process pandas implementation of the same parse, in the same script.

    .venv/bin/python benchmarks/bench_ingest.py --records 100000 600000

Inputs come from ``patentpanel.simulate`` (its ``render``), written once per size under
--work. Reported per size: seconds and records/second of (a) Spark ingest (binaryFile +
mapInPandas parse + Delta writes), (b) Spark clean (silver tables), (c) the pandas
baseline: the same parsers (:func:`patentpanel.ingest.parsers.parse_file`) in one
process, then pandas/regex versions of the app-number check, date parse and applicant
split, writing Parquet. The ratio is pandas seconds / Spark seconds for the parse, and
where the time goes is taken from the stage timings. Results go to
benchmarks/results/bench_ingest.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def simulate_inputs(cfg, out: Path, n: int) -> Path:
    from patentpanel.simulate.job import simulate
    if not (out / "raw").is_dir():
        simulate(cfg, out, records=n)
    return out / "raw"


def pandas_baseline(files: list[str], opts, out: Path) -> dict:
    """Single-process parse + the clean's cheap column work, with pandas."""
    import pandas as pd

    from patentpanel.clean.patents import WEIGHTS
    from patentpanel.ingest.parsers import parse_file
    t0 = time.perf_counter()
    frames = []
    for f in files:
        res = parse_file(f, Path(f).read_bytes(), opts)
        frames.append(pd.DataFrame(res.records))
    df = pd.concat(frames, ignore_index=True)
    t_parse = time.perf_counter() - t0
    s = df["app_no"].str.upper().str.replace(r"\s+", "", regex=True)
    m = s.str.extract(r"^(?:CN|ZL)?(\d{12})\.?([0-9X])$")
    digits = m[0].fillna("000000000000")
    total = sum(digits.str[i].astype(int) * w for i, w in enumerate(WEIGHTS))
    rem = total % 11
    expected = rem.astype(str).where(rem != 10, "X")
    df["app_no_ok"] = m[1].notna() & (expected == m[1])
    d = df["app_date"].str.extract(r"^(\d{4})\D?(\d{1,2})\D?(\d{1,2})")
    df["app_date_parsed"] = pd.to_datetime(d[0] + "-" + d[1] + "-" + d[2], errors="coerce")
    df["n_applicants"] = df["applicants"].fillna("").str.count(r"[;；|]") + 1
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "records.parquet")
    return {"records": len(df), "parse_s": round(t_parse, 2),
            "total_s": round(time.perf_counter() - t0, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, nargs="+", default=[100_000, 600_000])
    ap.add_argument("--work", default="/tmp/patentpanel-bench-ingest")
    args = ap.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from patentpanel.clean.job import clean
    from patentpanel.config import load_config
    from patentpanel.geo.geocode import Geocoder
    from patentpanel.ingest.job import ingest, list_inputs, parse_options
    from patentpanel.session import build_session
    from patentpanel.storage import TableStore
    cfg = load_config(sets=["spark.master=local[2]"])
    section = cfg.section("ingest")
    opts = parse_options(section)
    spark, engines = build_session(cfg, "bench-ingest", test=True)
    results = {"engines": engines.describe(), "inputs": "patentpanel.simulate.render",
               "runs": []}
    for n in args.records:
        work = Path(args.work) / f"n{n}"
        t = time.perf_counter()
        raw = simulate_inputs(cfg, work / "sim", n)
        sim_s = time.perf_counter() - t
        files = list_inputs(str(raw), section["patterns"])
        lake = work / "lake"
        shutil.rmtree(lake, ignore_errors=True)
        store = TableStore(spark, str(lake), engine="auto")
        t = time.perf_counter()
        ing = ingest(spark, store, files, opts)
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        cl = clean(spark, store, Geocoder.from_config(cfg), section)
        clean_s = time.perf_counter() - t
        base = pandas_baseline(files, opts, work / "pandas")
        run = {"applications": n, "records": ing["records_read"], "simulate_s": round(sim_s, 1),
               "spark_ingest_s": round(ingest_s, 1),
               "spark_ingest_rps": round(ing["records_read"] / ingest_s),
               "spark_clean_s": round(clean_s, 1),
               "spark_clean_rps": round(cl.get("records", 0) / clean_s),
               "pandas": base,
               "ratio_pandas_over_spark_ingest": round(base["total_s"] / ingest_s, 2)}
        results["runs"].append(run)
        print(json.dumps(run, ensure_ascii=False))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_ingest.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
