"""Benchmark: the study-1 placebo (Fig. 6) with R = 1000 replications of Model 2 (two-step
System GMM, Windmeijer SEs, 92 instruments on 29 clusters x 10 years) on a panel from the
Monte Carlo's Eq. 3 DGP:

* Spark ``local[2]`` (``SparkRunner``: blocks of replication ids, panel broadcast once,
  one BLAS thread per task), after a warm-up run that starts the Python workers;
* the same loop serially in this process (``SerialRunner``, one BLAS thread);
* a serial loop of pydynpd 0.2.2 (benchmarks/.venv-pydynpd, made by bench_gmm.py) over the
  same permutations: ``ti L1.ti ip ed ic ie | gmm(ti, 2:.) gmm(ip, 2:.) iv(ed ic ie)``,
  two-step system GMM (pydynpd's default); run on --pydynpd-reps permutations and scaled.

Wall and CPU time are reported: the machine is shared, so CPU time (driver + the
replications' own CPU time measured inside the tasks) is the steadier figure. Writes
benchmarks/results/placebo.json.

    .venv/bin/python benchmarks/bench_placebo.py [--reps 1000] [--pydynpd-reps 200]
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
import sys  # noqa: E402

# local-mode Python workers run this interpreter (the venv with patentpanel installed)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "benchmarks" / ".venv-pydynpd"
OUT = ROOT / "benchmarks" / "results" / "placebo.json"

PYDYNPD_SCRIPT = r"""
import os, sys, json, time, io, contextlib, warnings
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
from pydynpd import regression
df = pd.read_csv(sys.argv[1])
perms = np.load(sys.argv[2])
cmd = "ti L1.ti ip ed ic ie | gmm(ti, 2:.) gmm(ip, 2:.) iv(ed ic ie)"
def fit(d):
    with contextlib.redirect_stdout(io.StringIO()):
        m = regression.abond(cmd, d, ["city", "year"]).models[0]
    t = m.regression_table
    return float(t.loc[t["variable"] == "ip", "coefficient"].iloc[0]), int(m.z_information.num_instr)
real, ninst = fit(df)
w, c = time.perf_counter(), time.process_time()
coefs, failed = [], 0
for p in perms:
    try:
        coefs.append(fit(df.assign(ip=p))[0])
    except Exception:
        failed += 1
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "n": len(perms),
                  "failed": failed, "real": real, "n_instruments": ninst, "coefs": coefs}))
"""


def panel(seed: int) -> pd.DataFrame:
    from patentpanel.config import load_config
    from patentpanel.econ.montecarlo import Eq3DGP
    return Eq3DGP.from_config(load_config()).simulate(np.random.default_rng(seed))


class Timed:
    """A task wrapper that adds the replication's own CPU time to its row."""

    def __init__(self, task):
        self.task = task

    def __call__(self, r, payload):
        c = time.process_time()
        row = self.task(r, payload)
        row["task_cpu_s"] = time.process_time() - c
        return row


def run(runner, test, label):
    from patentpanel.econ.placebo import placebo_replication
    c, w = time.process_time(), time.perf_counter()
    draws = runner.run(Timed(placebo_replication), test.replications, test.payload(), label=label)
    wall, driver_cpu = time.perf_counter() - w, time.process_time() - c
    return draws, {"wall_s": wall, "driver_cpu_s": driver_cpu,
                   "task_cpu_s": float(draws["task_cpu_s"].sum()),
                   "failed": int((draws["status"] != "ok").sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--pydynpd-reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20250806)
    ap.add_argument("--no-pydynpd", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from patentpanel.config import load_config
    from patentpanel.econ.distributed import SerialRunner, SparkRunner
    from patentpanel.econ.gmm import GMMSpec
    from patentpanel.econ.placebo import PlaceboTest
    from patentpanel.session import build_session

    cfg = load_config(sets=["spark.master=local[2]"])
    spec = GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"), "model2")
    data = panel(args.seed)
    fit = dict(cfg.get("estimate.placebo.fit"))
    test = PlaceboTest(data, spec, replications=args.reps, seed=args.seed, fit_options=fit)
    result = {"spec": "conf/models/study1.yaml model2, two-step system GMM, fit " + json.dumps(fit),
              "panel": "Eq. 3 DGP (econ/montecarlo.py), 29 clusters x 10 years", "reps": args.reps,
              "machine": platform.platform(), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()}

    t = time.perf_counter()
    spark, _ = build_session(cfg, "bench-placebo")
    result["spark_session_start_s"] = time.perf_counter() - t
    warm = PlaceboTest(data, spec, replications=20, seed=1, fit_options=fit)
    t = time.perf_counter()
    run(SparkRunner(spark), warm, "warm-up")
    result["spark_warmup_20_s"] = time.perf_counter() - t

    spark_draws, result["spark_local2"] = run(SparkRunner(spark, block_size=50), test, "placebo spark")
    result["spark_local2"]["blocks"] = SparkRunner(spark, block_size=50).n_partitions(args.reps)
    serial_draws, result["serial"] = run(SerialRunner(progress_every=250), test, "placebo serial")
    cols = ["replication", "coef", "se", "status"]
    result["spark_equals_serial_bitwise"] = bool(spark_draws[cols].equals(serial_draws[cols]))
    res_real = test.model.fit(**test.fit_options)
    result["real_ip"] = float(res_real.params["ip"])
    result["n_instruments"] = int(res_real.n_instruments)
    ok = serial_draws[serial_draws["status"] == "ok"]["coef"].to_numpy()
    from patentpanel.econ.placebo import empirical_pvalues
    result["placebo_mean"], result["p_two_sided"] = float(ok.mean()), empirical_pvalues(ok, result["real_ip"])["two_sided"]
    s, p = result["serial"], result["spark_local2"]
    result["speedup_wall_spark_vs_serial"] = s["wall_s"] / p["wall_s"]

    if not args.no_pydynpd and (VENV / "bin" / "python").exists():
        n = min(args.pydynpd_reps, args.reps)
        perms = np.stack([test.permuted(r) for r in range(n)])
        with tempfile.TemporaryDirectory() as tmp:
            csv, npy = Path(tmp) / "panel.csv", Path(tmp) / "perms.npy"
            data.rename(columns={"city_code": "city"}).assign(
                city=lambda d: pd.factorize(d["city"], sort=True)[0] + 1).to_csv(csv, index=False)
            np.save(npy, perms)
            proc = subprocess.run([str(VENV / "bin" / "python"), "-c", PYDYNPD_SCRIPT, str(csv), str(npy)],
                                  capture_output=True, text=True)
        if proc.returncode != 0:
            result["pydynpd_0.2.2"] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            pr = json.loads(proc.stdout.strip().splitlines()[-1])
            ours = serial_draws["coef"].to_numpy()[:n]
            theirs = np.asarray(pr["coefs"])
            per_wall, per_cpu = pr["wall"] / pr["n"], pr["cpu"] / pr["n"]
            result["pydynpd_0.2.2"] = {
                "reps_run": pr["n"], "failed": pr["failed"], "wall_s": pr["wall"], "cpu_s": pr["cpu"],
                "scaled_wall_s": per_wall * args.reps, "scaled_cpu_s": per_cpu * args.reps,
                "n_instruments": pr["n_instruments"], "real_ip": pr["real"],
                "max_abs_diff_vs_ours": float(np.max(np.abs(ours - theirs))) if len(theirs) == n else None}
            result["speedup_wall_spark_vs_pydynpd"] = per_wall * args.reps / p["wall_s"]
    result["load_average_end"] = os.getloadavg()
    spark.stop()

    print(f"placebo of ip in model 2: {args.reps} replications, {result['n_instruments']} instruments, "
          f"real {result['real_ip']:.4f}, placebo mean {result['placebo_mean']:.4f}, p {result['p_two_sided']:.4f}")
    print(f"  spark local[2] ({p['blocks']} blocks): wall {p['wall_s']:6.2f} s  driver cpu {p['driver_cpu_s']:5.2f} s"
          f"  task cpu {p['task_cpu_s']:6.2f} s")
    print(f"  serial (1 process):      wall {s['wall_s']:6.2f} s  cpu {s['driver_cpu_s']:6.2f} s")
    print(f"  spark == serial bit for bit: {result['spark_equals_serial_bitwise']};"
          f" wall speed-up {result['speedup_wall_spark_vs_serial']:.2f}x")
    if "pydynpd_0.2.2" in result:
        print(f"  pydynpd 0.2.2: {json.dumps(result['pydynpd_0.2.2'])}")
    print(f"  session start {result['spark_session_start_s']:.1f} s, warm-up {result['spark_warmup_20_s']:.1f} s, "
          f"load average {result['load_average_start']} -> {result['load_average_end']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
