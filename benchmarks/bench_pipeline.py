"""Pipeline benchmark: raw exports -> gold, stage by stage, in ONE Spark local[2] session.

    .venv/bin/python benchmarks/bench_pipeline.py --records 100000 600000 [--label after]

Per size N the raw exports come from the simulator (``patentpanel.simulate``; written once
under --work/sim_N and reused, not timed as part of the pipeline). Then ingest -> clean ->
classify -> network -> panels run through their stage modules (as run-all does) on a
fresh lake, and per stage the script records:

* wall seconds and raw records per second;
* CPU seconds of the Python driver, of the driver JVM (in local mode the executors are
  threads of that JVM, so this includes every task) and of the Python workers it forks
  (live ones and the ones their daemon reaped), so that wall figures taken on a loaded,
  shared machine can be read: cpu / wall near 2 means the two cores were ours;
* peak RSS of the Python driver and of the JVM during the stage (``VmHWM`` of
  /proc/<pid>/status, reset between stages through ``clear_refs``), and the 1-minute
  load average at the start and end of the run.

Each size runs in its own process (own session), so one size cannot warm the next.
Results are appended to benchmarks/results/pipeline.json under --label; a table is
printed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from proctime import cpu_seconds, descendants

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["ingest", "clean", "classify", "network", "panels"]


# ---------------------------------------------------------------- process accounting
def _status(pid: int, key: str) -> float:
    """A kB field of /proc/<pid>/status in MiB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _reset_peak(pid: int) -> None:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


class WriteLog:
    """Collects TableStore's per-write log records (table, mode, seconds)."""

    def __init__(self):
        import logging
        self.rows: list[dict] = []
        outer = self

        class _H(logging.Handler):
            def emit(self, record):
                if hasattr(record, "table"):
                    outer.rows.append({"table": record.table, "mode": record.mode,
                                       "seconds": round(record.seconds, 2)})
        self.handler = _H(level=logging.INFO)
        lg = logging.getLogger("patentpanel.storage")
        lg.addHandler(self.handler)
        lg.setLevel(logging.INFO)

    def take(self) -> list[dict]:
        out, self.rows = self.rows, []
        return out


class Meter:
    """CPU and peak memory of the driver (Python + JVM) and the Python workers."""

    def __init__(self, jvm_pid: int):
        self.py, self.jvm = os.getpid(), jvm_pid

    def snapshot(self) -> dict:
        workers = descendants(self.jvm)
        return {"py_cpu": cpu_seconds(self.py), "jvm_cpu": cpu_seconds(self.jvm),
                "workers_cpu": sum(cpu_seconds(w, children=True) for w in workers),
                "workers": set(workers)}

    def reset_peaks(self) -> None:
        _reset_peak(self.py)
        _reset_peak(self.jvm)

    def peaks(self) -> dict:
        return {"py_peak_rss_mb": round(_status(self.py, "VmHWM"), 1),
                "jvm_peak_rss_mb": round(_status(self.jvm, "VmHWM"), 1)}


def _diff(a: dict, b: dict) -> dict:
    # Workers that died during the stage are lost, but the daemon that forked them reaps
    # them and their time moves to its cutime, which is counted.
    return {"cpu_python_s": round(b["py_cpu"] - a["py_cpu"], 2),
            "cpu_jvm_s": round(b["jvm_cpu"] - a["jvm_cpu"], 2),
            "cpu_workers_s": round(max(0.0, b["workers_cpu"] - a["workers_cpu"]), 2)}


# ---------------------------------------------------------------- one size
def _stage_args(module):
    p = argparse.ArgumentParser(add_help=False)
    if hasattr(module, "add_arguments"):
        module.add_arguments(p)
    return p.parse_args([])


def run_one(n: int, work: Path, sets: list[str]) -> dict:
    """Simulate (if needed) and run the pipeline for one size in this process."""
    import importlib
    import logging

    from patentpanel.cli import STAGES as REGISTRY, RunContext, configure_logging
    from patentpanel.config import load_config

    # Python workers must run this interpreter (spark.pyspark.python alone does not
    # reach local-mode workers in pyspark 4.2; the project's tests set this too).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    configure_logging(quiet=False)
    logging.getLogger("patentpanel").setLevel(logging.WARNING)
    sim = work / f"sim_{n}"
    lake = work / f"lake_{n}"
    reports = work / f"reports_{n}"
    base = load_config([], [f"inputs.simulated={sim}"])
    t_sim = None
    if not (sim / "raw").is_dir():
        from patentpanel.simulate.job import simulate
        t0 = time.perf_counter()
        simulate(base, sim, records=n)
        t_sim = round(time.perf_counter() - t0, 1)
    manifest = json.loads((sim / "truth" / "manifest.json").read_text()) \
        if (sim / "truth" / "manifest.json").exists() else {}
    raw_bytes = sum(f.stat().st_size for f in (sim / "raw").rglob("*") if f.is_file())
    for d in (lake, reports):
        shutil.rmtree(d, ignore_errors=True)
    cfg = load_config([], [f"inputs.simulated={sim}", f"lake.root={lake}",
                           f"outputs.reports={reports}", "inputs.raw=", *sets])
    ctx = RunContext(cfg, app_name=f"bench-pipeline-{n}")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    spark = ctx.spark
    _ = ctx.store
    session_s = time.perf_counter() - t0
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    meter = Meter(jvm_pid)
    writes = WriteLog()
    out: dict = {"records_requested": n, "session_s": round(session_s, 2),
                 "simulate_s": t_sim, "raw_bytes": raw_bytes, "stages": {}}
    records = None
    for name in STAGES:
        module = importlib.import_module(REGISTRY[name][0])
        spark.sparkContext.setJobGroup(f"bench-{name}", f"bench stage {name}")
        meter.reset_peaks()
        a = meter.snapshot()
        t = time.perf_counter()
        summary = module.run(ctx, _stage_args(module)) or {}
        secs = time.perf_counter() - t
        b = meter.snapshot()
        if name == "ingest":
            records = int(summary.get("records_read") or 0)
        row = {"seconds": round(secs, 2), **_diff(a, b), **meter.peaks(),
               "records_per_s": round(records / secs) if records and secs else None}
        row["cpu_total_s"] = round(row["cpu_python_s"] + row["cpu_jvm_s"] + row["cpu_workers_s"], 2)
        row["writes"] = writes.take()
        row["write_s"] = round(sum(w["seconds"] for w in row["writes"]), 2)
        row["summary"] = {k: v for k, v in summary.items() if isinstance(v, (int, float, str))}
        out["stages"][name] = row
        print(f"  N={n} {name:<9} {secs:8.1f} s  cpu {row['cpu_total_s']:7.1f} s  "
              f"py {row['py_peak_rss_mb']:6.0f} MiB  jvm {row['jvm_peak_rss_mb']:6.0f} MiB",
              file=sys.stderr, flush=True)
    total = sum(s["seconds"] for s in out["stages"].values())
    out.update({"records": records, "applications": manifest.get("applications", n),
                "pipeline_s": round(total, 2),
                "records_per_s": round(records / total) if records else None,
                "cpu_total_s": round(sum(s["cpu_total_s"] for s in out["stages"].values()), 2),
                "load_avg_start": [round(x, 2) for x in load0],
                "load_avg_end": [round(x, 2) for x in os.getloadavg()],
                "py_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "spark": spark.version, "master": spark.sparkContext.master,
                "storage_engine": ctx.engines.storage, "cpus": os.cpu_count(),
                "python": platform.python_version()})
    spark.stop()
    return out


def _table(rows: list[dict]) -> str:
    head = f"{'label':<10} {'N':>9} " + " ".join(f"{s:>9}" for s in STAGES) + \
        f" {'total':>8} {'rec/s':>7} {'cpu':>7} {'jvmMiB':>7} {'load':>11}"
    lines = [head, "-" * len(head)]
    for r in rows:
        st = r["stages"]
        jvm = max(s["jvm_peak_rss_mb"] for s in st.values())
        lines.append(f"{r.get('label', ''):<10} {r['records']:>9} "
                     + " ".join(f"{st[s]['seconds']:>9.1f}" if s in st else f"{'-':>9}" for s in STAGES)
                     + f" {r['pipeline_s']:>8.1f} {r['records_per_s'] or 0:>7} {r['cpu_total_s']:>7.1f}"
                     + f" {jvm:>7.0f} {r['load_avg_start'][0]:>5.1f}/{r['load_avg_end'][0]:<5.1f}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, nargs="+", default=[100_000, 600_000])
    ap.add_argument("--work", default="/tmp/pp_bench", help="simulated inputs and lakes")
    ap.add_argument("--label", default="current", help="name of this set of runs (before/after)")
    ap.add_argument("--set", action="append", default=[], dest="sets",
                    help="configuration override KEY=VALUE for the pipeline (repeatable)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline.json"))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)   # child: one size
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.one:
        res = run_one(args.one, work, args.sets)
        print(json.dumps(res))
        return 0
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else []
    new = []
    for n in args.records:
        cmd = [sys.executable, __file__, "--one", str(n), "--work", str(work)]
        for s in args.sets:
            cmd += ["--set", s]
        print(f"N={n}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        if p.returncode != 0:
            print(f"N={n} failed (exit {p.returncode})", file=sys.stderr)
            continue
        res = json.loads(p.stdout.strip().splitlines()[-1])
        res["label"] = args.label
        res["sets"] = args.sets
        res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        new.append(res)
        results = [r for r in results if not (r.get("label") == args.label
                                               and r.get("records_requested") == n)] + [res]
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(_table(new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
