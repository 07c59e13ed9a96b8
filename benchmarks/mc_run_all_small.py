"""Monte Carlo of the whole pipeline at a small simulated size: the sampling spread of the
study-1 Table 4 Model 3 estimates (IP, IP x NC) over simulator seeds, from raw exports
through every stage, so the run-all test can state a tolerance that fits its sample size.

    .venv/bin/python benchmarks/mc_run_all_small.py --records 20000 --seeds 1-8 --out benchmarks/results/mc_run_all_20k.json

Each seed: simulate -> ingest -> clean -> classify -> network -> panels -> estimate
(Table 4 only) on a fresh lake under --work (removed afterwards). Prints one JSON line per
seed and writes the summary (mean, SD, bias against the planted values) to --out.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=20000)
    p.add_argument("--seeds", default="1-8", help="a-b or comma list")
    p.add_argument("--work", default="/tmp/pp_mc_run_all")
    p.add_argument("--out", default="benchmarks/results/mc_run_all_20k.json")
    a = p.parse_args(argv)
    seeds = (list(range(int(a.seeds.split("-")[0]), int(a.seeds.split("-")[1]) + 1)) if "-" in a.seeds
             else [int(s) for s in a.seeds.split(",")])

    from patentpanel.cli import RunContext
    from patentpanel.config import load_config
    from patentpanel.econ import job as est_job
    from patentpanel.stages.run_all import run_stages

    base = load_config(sets=["spark.shuffle_partitions=2", "spark.master=local[2]"])
    spark = engines = None
    rows = []
    terms = ["ip", "ip_x_nc", "L1.ti", "nc"]
    for s in seeds:
        work = Path(a.work) / f"seed{s}"
        shutil.rmtree(work, ignore_errors=True)
        cfg = base.with_overrides([f"lake.root={work / 'lake'}", f"inputs.simulated={work / 'sim'}",
                                   f"outputs.reports={work / 'reports'}", f"run.seed={s}"])
        ctx = RunContext(cfg, _spark=spark, _engines=engines)
        t0 = time.perf_counter()
        run_stages(ctx, ["simulate", "ingest", "clean", "classify", "network", "panels"],
                   argparse.Namespace(raw=None, records=a.records))
        spark, engines = ctx.spark, ctx.engines
        est_job.run(ctx, argparse.Namespace(only=["table4"], montecarlo=None, placebo_replications=None,
                                            bootstrap=None, seed=None, backend="serial"))
        est = ctx.store.read("gold.estimates").toPandas()
        m3 = est[(est["table"] == "Table 4") & (est["model"] == "model3")].set_index("term")
        stats = json.loads(m3["stats"].iloc[0])
        planted = json.loads((work / "sim" / "truth" / "manifest.json").read_text())["recovery"]["study1_eq3"]["planted"]
        row = {"seed": s, "seconds": round(time.perf_counter() - t0, 1), "nobs": stats.get("nobs"),
               "n_groups": stats.get("n_groups"),
               **{f"{t}_coef": float(m3.loc[t, "coef"]) for t in terms if t in m3.index},
               **{f"{t}_se": float(m3.loc[t, "se"]) for t in terms if t in m3.index}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(work, ignore_errors=True)
    truth = {"ip": planted["ip"], "ip_x_nc": planted["ip_x_nc"], "L1.ti": planted["ti_lag"], "nc": planted["nc"]}
    summary = {"records": a.records, "replications": len(rows), "seeds": seeds, "planted": truth, "draws": rows}
    for t in terms:
        v = np.array([r.get(f"{t}_coef", np.nan) for r in rows], float)
        se = np.array([r.get(f"{t}_se", np.nan) for r in rows], float)
        summary[t] = {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v, ddof=1)),
                      "bias": float(np.nanmean(v) - truth[t]), "mean_reported_se": float(np.nanmean(se)),
                      "min": float(np.nanmin(v)), "max": float(np.nanmax(v))}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({t: summary[t] for t in terms}, indent=2))
    if spark is not None:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
