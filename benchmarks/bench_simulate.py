"""Benchmark of the simulator's rendering stage: all five layouts from a plan of N
applications, with 2 worker processes, reporting wall time, records/s and peak RSS of
the parent and of the workers.

    python benchmarks/bench_simulate.py                 # 600k and 2M, one process each
    python benchmarks/bench_simulate.py --records 600000 --one

Peak RSS is measured per N in a fresh process, so the 600k and 2M figures are
comparable: the renderer streams in chunks, so its memory beyond the plan itself does
not grow with N. The plan is the renderer's stand-in plan (simulate/sample.py); the
real plan from simulate/plan.py has the same columns.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class _WorkerPeak:
    """Polls the peak RSS (VmHWM, which starts afresh at exec) of this process's
    children; ru_maxrss of children would include the parent's pages copied at fork."""

    def __init__(self):
        import threading
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[int]:
        pids = []
        for task in Path("/proc/self/task").iterdir():
            try:
                pids += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                pass
        return pids

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._children():
                try:
                    # skip a child between fork and exec (it still shows the parent's pages)
                    if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024.0)
                except OSError:
                    pass
            self._stop.wait(0.2)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def one(n: int, workers: int, chunk_rows: int, keep: str | None) -> dict:
    import pandas as pd
    from patentpanel.config import load_config
    from patentpanel.simulate.render import render
    from patentpanel.simulate.sample import sample_entities, sample_plan
    from patentpanel.simulate.text import Vocabulary

    cfg = load_config()
    vocab = Vocabulary.load(cfg.directory / "simulate" / "vocab")
    regions = pd.read_csv(cfg.directory / "geo" / "regions_2020.csv", dtype=str)
    t0 = time.perf_counter()
    ents = sample_entities(max(1000, n // 25), 1, regions)
    plan = sample_plan(n, ents, 1, vocab, corruption_rate=0.01)
    t_plan = time.perf_counter() - t0
    rss_plan = _current_rss_mb()
    out = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        t1 = time.perf_counter()
        with _WorkerPeak() as wp:
            bad = render(plan, ents, out, cfg, seed=1, chunk_rows=chunk_rows, workers=workers)
        t_render = time.perf_counter() - t1
        files = [p for p in (out / "raw").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    records = int(plan["n_publications"].sum())
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_parent = me.ru_utime + me.ru_stime
    cpu_workers = kids.ru_utime + kids.ru_stime
    return {"applications": n, "records": records, "bad_records": len(bad),
            "files": len(files), "bytes": size, "workers": workers, "chunk_rows": chunk_rows,
            "plan_seconds": round(t_plan, 2), "render_seconds": round(t_render, 2),
            "records_per_second": round(records / t_render),
            # CPU seconds (the machine may be shared): on 2 idle cores the render takes
            # about max(parent, workers / 2) of these
            "cpu_seconds_parent": round(cpu_parent, 1),
            "cpu_seconds_workers": round(cpu_workers, 1),
            "load_average_1min": round(os.getloadavg()[0], 1),
            "rss_after_plan_mb": round(rss_plan, 1),
            "peak_rss_parent_mb": round(_rss_mb(resource.RUSAGE_SELF), 1),
            "peak_rss_worker_mb": round(wp.peak_mb, 1),
            "cpu_count": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, nargs="*", default=[600_000, 2_000_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-rows", type=int, default=10_000)
    ap.add_argument("--one", action="store_true", help="run one N in this process")
    ap.add_argument("--keep", default=None, help="keep the output in this directory")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.records[0], args.workers, args.chunk_rows, args.keep)))
        return
    results = []
    for n in args.records:
        cmd = [sys.executable, __file__, "--one", "--records", str(n), "--workers",
               str(args.workers), "--chunk-rows", str(args.chunk_rows)]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                        cwd=ROOT).stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"{n:>10,d} applications -> {res['records']:,d} records in "
              f"{res['render_seconds']:.1f} s ({res['records_per_second']:,d}/s; CPU s parent "
              f"{res['cpu_seconds_parent']}, workers {res['cpu_seconds_workers']}, load "
              f"{res['load_average_1min']}); plan RSS "
              f"{res['rss_after_plan_mb']:.0f} MB, peak parent {res['peak_rss_parent_mb']:.0f}"
              f" MB, peak worker {res['peak_rss_worker_mb']:.0f} MB", flush=True)
    dest = ROOT / "benchmarks" / "results" / "bench_simulate.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
