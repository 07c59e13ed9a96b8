"""Benchmark: ingest + clean of simulated raw exports on Spark local[2], against a
single-process pandas implementation of the same parse, in the same script.

    .venv/bin/python benchmarks/bench_ingest.py --records 100000 600000 \
        [--inputs /tmp/pp_bench/sim_{n}] [--work /tmp/patentpanel-bench-ingest]

Inputs: ``--inputs`` (a directory pattern with ``{n}``, holding ``raw/``) when given and
present, else ``patentpanel.simulate`` writes them once per size under ``--work``.
Reported per size (wall seconds, CPU seconds of this process and all its children,
i.e. the Spark JVM and its Python workers, and the load average, because the machine is
shared): (a) Spark ingest (binaryFile + mapInArrow parse + bronze Delta writes),
(b) Spark clean (silver tables), (c) the pandas baseline in one process: the same
parsers (:func:`patentpanel.ingest.parsers.parse_file`) file by file into one frame,
Parquet written, then pandas versions of the cheap clean columns (app-number check,
date parse, applicant count). Ratios: pandas ingest seconds / Spark ingest seconds
(same parse, same output kind) and records per second per stage. Where the time goes:
the seconds of each Delta write (from the storage log) and the parse's own share.
With the simulator's truth beside the inputs, the applicant-region accuracy
(:func:`patentpanel.clean.accuracy.region_accuracy`) of the cleaned lake is reported too.
Results go to benchmarks/results/ingest.json and are printed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tree_cpu() -> float:
    """CPU seconds of this process and every live descendant (the JVM, Python workers),
    including what they reaped from their own children."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[tuple[int, list[str]]]] = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        children.setdefault(int(rest[1]), []).append((int(p), rest))
    total, todo, seen = 0, [os.getpid()], set()
    while todo:
        for pid, rest in children.get(todo.pop(), []):
            if pid not in seen:
                seen.add(pid)
                todo.append(pid)
                total += sum(int(x) for x in rest[11:15])    # utime stime cutime cstime
    own = os.times()
    return total / tick + own.user + own.system


class Meter:
    """Wall, CPU and load of a block; Delta writes (table -> seconds) seen meanwhile."""

    def __init__(self, writes: dict):
        self.writes = writes

    def __enter__(self):
        self.writes.clear()
        self.load0 = os.getloadavg()[0]
        self.cpu0 = tree_cpu()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = tree_cpu() - self.cpu0
        self.load = (round(self.load0, 1), round(os.getloadavg()[0], 1))
        self.write_s = {k: round(v, 2) for k, v in self.writes.items()}
        return False

    def figures(self, records: int) -> dict:
        return {"wall_s": round(self.wall, 1), "cpu_s": round(self.cpu, 1),
                "records_per_s": round(records / self.wall), "load_1min": list(self.load),
                "delta_writes_s": self.write_s}


class _WriteLog(logging.Handler):
    """Collects the seconds of each TableStore write from its log records."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.seen: dict[str, float] = {}

    def emit(self, record):
        table = getattr(record, "table", None)
        if table is not None:
            self.seen[table] = self.seen.get(table, 0.0) + float(getattr(record, "seconds", 0.0))


def simulate_inputs(cfg, inputs: str | None, work: Path, n: int) -> Path:
    if inputs:
        raw = Path(inputs.format(n=n)) / "raw"
        if raw.is_dir():
            return raw
    out = work / "sim"
    if not (out / "raw").is_dir():
        from patentpanel.simulate.job import simulate
        simulate(cfg, out, records=n)
    return out / "raw"


def pandas_baseline(files: list[str], opts, out: Path) -> dict:
    """Single process: the same parse into one pandas frame, written as Parquet (what
    Spark's ingest produces), then the clean's cheap column work with pandas."""
    import pandas as pd

    from patentpanel.clean.patents import WEIGHTS
    from patentpanel.ingest.parsers import parse_file
    c0, t0, p0 = tree_cpu(), time.perf_counter(), time.process_time()
    frames, rejected = [], 0
    for f in files:
        res = parse_file(f, Path(f).read_bytes(), opts)
        frame = pd.DataFrame(res.records)
        frame.insert(0, "batch_id", res.batch_id)
        frame.insert(1, "source_file", f)
        frames.append(frame)
        rejected += len(res.rejected)
    df = pd.concat(frames, ignore_index=True)
    t_parse, c_parse = time.perf_counter() - t0, time.process_time() - p0
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "records.parquet")
    t_ingest, c_ingest = time.perf_counter() - t0, tree_cpu() - c0
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
    df.to_parquet(out / "clean_lite.parquet")
    return {"records": len(df), "rejected": rejected, "parse_s": round(t_parse, 1),
            "parse_cpu_s": round(c_parse, 1),
            "ingest_wall_s": round(t_ingest, 1), "ingest_cpu_s": round(c_ingest, 1),
            "clean_lite_s": round(time.perf_counter() - t0 - t_ingest, 1),
            "ingest_records_per_s": round((len(df) + rejected) / t_ingest)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, nargs="+", default=[100_000, 600_000])
    ap.add_argument("--inputs", default=None,
                    help="simulated inputs to reuse, a pattern with {n} (e.g. /tmp/pp_bench/sim_{n})")
    ap.add_argument("--work", default="/tmp/patentpanel-bench-ingest")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ingest.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from patentpanel.clean.job import clean
    from patentpanel.config import load_config
    from patentpanel.geo.geocode import Geocoder
    from patentpanel.ingest.job import ingest, list_inputs, parse_options
    from patentpanel.session import build_session
    from patentpanel.storage import TableStore
    writes = _WriteLog()
    storage_log = logging.getLogger("patentpanel.storage")
    storage_log.addHandler(writes)
    storage_log.setLevel(logging.INFO)
    cfg = load_config(sets=["spark.master=local[2]"])
    section = cfg.section("ingest")
    opts = parse_options(section)
    spark, engines = build_session(cfg, "bench-ingest", test=True)
    spark.range(1000).selectExpr("sum(id)").collect()      # first-job warm-up, not timed
    results = {"engines": engines.describe(), "cores": os.cpu_count(),
               "note": "CPU = this process + Spark JVM + Python workers; wall times are "
                       "inflated by other users' load (load_1min before/after)",
               "runs": []}
    for n in args.records:
        work = Path(args.work) / f"n{n}"
        raw = simulate_inputs(cfg, args.inputs, work, n)
        files = list_inputs(str(raw), section["patterns"])
        lake = work / "lake"
        shutil.rmtree(lake, ignore_errors=True)
        store = TableStore(spark, str(lake), engine="auto")
        with Meter(writes.seen) as m_ing:
            ing = ingest(spark, store, files, opts)
        read = ing["records_read"]
        with Meter(writes.seen) as m_cl:
            cl = clean(spark, store, Geocoder.from_config(cfg), section)
        accuracy = None
        entities = raw.parent / "truth" / "entities.parquet"
        if entities.exists():
            import pandas as pd

            from patentpanel.clean.accuracy import region_accuracy
            acc = region_accuracy(store.read("silver.applicants").select(
                "name", "position", "city_code", "region_method").toPandas(),
                pd.read_parquet(entities))
            accuracy = acc.as_dict()
            print(f"{n} applications: {acc.summary()}", flush=True)
        base = pandas_baseline(files, opts, work / "pandas")
        if base["records"] + base["rejected"] + ing["duplicates"] != read:
            raise AssertionError(f"pandas parse saw {base['records']} + {base['rejected']} "
                                 f"records, Spark ingest {read}")
        spark_ingest = m_ing.figures(read)
        spark_clean = m_cl.figures(cl.get("records", 0))
        run = {"applications": n, "raw_records": read, "files": len(files),
               "input_mib": round(sum(os.path.getsize(f) for f in files) / 2**20, 1),
               "spark_ingest": spark_ingest, "spark_clean": spark_clean,
               "spark_ingest_plus_clean_cpu_s": round(m_ing.cpu + m_cl.cpu, 1),
               "pandas": base,
               "ratio_pandas_over_spark_ingest_wall": round(base["ingest_wall_s"] / m_ing.wall, 2),
               "ratio_pandas_over_spark_ingest_cpu": round(base["ingest_cpu_s"] / m_ing.cpu, 2),
               "python_parse_share_of_spark_ingest_cpu": round(base["parse_cpu_s"] / m_ing.cpu, 2),
               "region_accuracy": accuracy,
               "clean_summary": {k: cl.get(k) for k in ("records", "publications_accepted",
                                                         "quarantined")}}
        results["runs"].append(run)
        print(json.dumps(run, ensure_ascii=False), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {out}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
