"""Benchmark: one two-step system-GMM fit (Blundell-Bond EmplUK specification,
``xtabond2 n L.n L(0/1).(w k) yr*, gmm(L.(n w k)) iv(yr*, eq(level)) twostep robust``,
113 instruments) with patentpanel.econ.gmm against pydynpd 0.2.2 on the same data, same
process conditions (one BLAS thread).

pydynpd 0.2.2 needs numpy<2.4, so it runs in its own virtual environment
(benchmarks/.venv-pydynpd, created on first use with pip) as a subprocess.
A second case times the placebo workload of study 1: Table 4 Model 3
(conf/models/study1.yaml: L.ti and ip endogenous, GMM-style lags 2+; nc, ip_x_nc, ed, ic,
ie IV-style; two-step, Windmeijer) on a seeded 29-cluster x 10-year panel, one full fit and
``--placebo-reps`` re-fits with a permuted ip column, through the fast path
(``GMMSpec.refit``) and as naive full fits (``GMMSpec.fit`` on the permuted data).

Prints the figures and writes benchmarks/results/gmm.json.

    .venv/bin/python benchmarks/bench_gmm.py [--reps 50] [--placebo-reps 1000] [--no-pydynpd]
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from patentpanel.econ.synthetic import study1_like_panel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "reference" / "gmm" / "emplUK.csv"
VENV = ROOT / "benchmarks" / ".venv-pydynpd"
OUT = ROOT / "benchmarks" / "results" / "gmm.json"

PYDYNPD_SCRIPT = r"""
import os, sys, json, time, io, contextlib
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
import numpy as np, pandas as pd
from pydynpd import regression
df = pd.read_csv(sys.argv[1])
reps = int(sys.argv[2])
cmd = "n L1.n w L1.w k L1.k | gmm(n, 2:.) gmm(w, 2:.) gmm(k, 2:.) | timedumm"
def fit():
    with contextlib.redirect_stdout(io.StringIO()):
        return regression.abond(cmd, df, ["firm", "year"])
m = fit()
wall, cpu = [], []
for _ in range(reps):
    w, c = time.perf_counter(), time.process_time()
    fit()
    cpu.append(time.process_time() - c); wall.append(time.perf_counter() - w)
mod = m.models[0]
print(json.dumps({"wall": wall, "cpu": cpu, "n_instruments": int(mod.z_information.num_instr),
                  "L1.n": float(mod.regression_table["coefficient"].iloc[0]),
                  "numpy": np.__version__}))
"""


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "pydynpd==0.2.2", "numpy<2.4"], check=True)
    return py


def bench_ours(df: pd.DataFrame, reps: int) -> dict:
    from patentpanel.econ.gmm import GMMInstrument, SystemGMM

    def model():
        return SystemGMM(df, "n", lags=1, exog="L(0/1).(w k)", entity="firm", time="year",
                         gmm=[GMMInstrument("L.(n w k)")], time_dummies=True)

    res = model().fit(steps=2)
    out = {"n_instruments": res.n_instruments, "L1.n": float(res.params["L1.n"])}
    for label, kw in (("full", {}), ("no_diff_hansen", {"diff_hansen": False})):
        wall, cpu = [], []
        for _ in range(reps):
            w, c = time.perf_counter(), time.process_time()
            model().fit(steps=2, **kw)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        out[label] = {"median_wall_s": float(np.median(wall)), "median_cpu_s": float(np.median(cpu))}
    return out


study1_panel = study1_like_panel


def bench_placebo(reps: int, seed: int = 20240601) -> dict:
    import warnings
    from patentpanel.econ.gmm import GMMSpec

    spec = GMMSpec.from_yaml(ROOT / "conf" / "models" / "study1.yaml", "model3")
    panel = study1_panel(seed)
    ip0 = panel["ip"].to_numpy()
    perms = [np.random.default_rng([seed, r]).permutation(ip0) for r in range(reps)]
    out: dict = {"spec": "conf/models/study1.yaml model3", "panel": "29 groups x 10 years (seeded)", "reps": reps}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = []
        for _ in range(20):
            w, c = time.perf_counter(), time.process_time()
            res = spec.fit(panel)
            one.append((time.process_time() - c, time.perf_counter() - w))
        out["n_instruments"], out["ip"] = res.n_instruments, float(res.params["ip"])
        out["one_fit"] = {"median_cpu_s": float(np.median([c for c, _ in one])),
                          "median_wall_s": float(np.median([w for _, w in one]))}
        for label in ("fast_refit", "fast_refit_no_diagnostics", "naive_full_fit"):
            w, c = time.perf_counter(), time.process_time()
            if label == "fast_refit":
                model = spec.model(panel)
                coefs = [spec.refit(model, {"ip": p}).params["ip"] for p in perms]
            elif label == "fast_refit_no_diagnostics":  # what a placebo needs: coefficients and SEs
                model = spec.model(panel)
                coefs = [spec.refit(model, {"ip": p}, diff_hansen=False, ar_order=0).params["ip"] for p in perms]
            else:
                coefs = [spec.fit(panel.assign(ip=p)).params["ip"] for p in perms]
            cpu, wall = time.process_time() - c, time.perf_counter() - w
            out[label] = {"total_cpu_s": cpu, "total_wall_s": wall, "per_fit_cpu_s": cpu / reps,
                          "per_fit_wall_s": wall / reps}
            out[label + "_coefs"] = coefs
    naive = out.pop("naive_full_fit_coefs")
    # Omitted (unidentified) ip is NaN in both paths: they must agree on where, and on
    # every finite value.
    naive = np.asarray(naive, dtype=float)
    diffs, mismatched = [], 0
    for lab in ("fast_refit", "fast_refit_no_diagnostics"):
        fast = np.asarray(out.pop(lab + "_coefs"), dtype=float)
        mismatched += int(np.sum(np.isnan(fast) != np.isnan(naive)))
        ok = ~np.isnan(fast) & ~np.isnan(naive)
        diffs.append(float(np.max(np.abs(fast[ok] - naive[ok]))) if ok.any() else 0.0)
    out["max_abs_diff_fast_vs_naive"] = max(diffs)
    out["omitted_fits"] = int(np.isnan(naive).sum())
    out["omitted_mismatches_fast_vs_naive"] = mismatched
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--placebo-reps", type=int, default=1000)
    ap.add_argument("--no-pydynpd", action="store_true")
    args = ap.parse_args()
    df = pd.read_csv(DATA)
    ours = bench_ours(df, args.reps)
    result = {"spec": "xtabond2 n L.n L(0/1).(w k) yr*, gmm(L.(n w k)) iv(yr*, eq(level)) twostep robust",
              "reps": args.reps, "blas_threads": 1, "machine": platform.platform(),
              "load_average": os.getloadavg(), "patentpanel": ours}
    print(f"patentpanel.econ.gmm: instruments={ours['n_instruments']} L1.n={ours['L1.n']:.7f}")
    for label in ("full", "no_diff_hansen"):
        r = ours[label]
        print(f"  {label:15s} median wall {r['median_wall_s'] * 1e3:8.2f} ms   cpu {r['median_cpu_s'] * 1e3:8.2f} ms")
    if args.placebo_reps:
        pl = bench_placebo(args.placebo_reps)
        result["study1_placebo"] = pl
        print(f"study-1 model 3 (29x10, {pl['n_instruments']} instruments): one fit cpu "
              f"{pl['one_fit']['median_cpu_s'] * 1e3:.2f} ms, wall {pl['one_fit']['median_wall_s'] * 1e3:.2f} ms")
        for label in ("fast_refit", "fast_refit_no_diagnostics", "naive_full_fit"):
            r = pl[label]
            print(f"  {pl['reps']} x {label:26s} total cpu {r['total_cpu_s']:6.2f} s wall {r['total_wall_s']:6.2f} s"
                  f"  per fit cpu {r['per_fit_cpu_s'] * 1e3:6.2f} ms wall {r['per_fit_wall_s'] * 1e3:6.2f} ms")
        print(f"  max |ip coef fast - naive| = {pl['max_abs_diff_fast_vs_naive']:.2e} over the fits "
              f"where ip is identified ({pl['omitted_fits']} of {pl['reps']} omit it; "
              f"{pl['omitted_mismatches_fast_vs_naive']} disagreements on which)")
    if not args.no_pydynpd:
        py = ensure_venv()
        proc = subprocess.run([str(py), "-c", PYDYNPD_SCRIPT, str(DATA), str(args.reps)],
                              capture_output=True, text=True, check=True)
        pd_res = json.loads(proc.stdout.strip().splitlines()[-1])
        pyd = {"median_wall_s": float(np.median(pd_res["wall"])), "median_cpu_s": float(np.median(pd_res["cpu"])),
               "n_instruments": pd_res["n_instruments"], "L1.n": pd_res["L1.n"], "numpy": pd_res["numpy"]}
        result["pydynpd_0.2.2"] = pyd
        full = ours["full"]
        result["speedup_wall"] = pyd["median_wall_s"] / full["median_wall_s"]
        result["speedup_cpu"] = pyd["median_cpu_s"] / full["median_cpu_s"]
        print(f"pydynpd 0.2.2:        instruments={pyd['n_instruments']} L1.n={pyd['L1.n']:.7f}")
        print(f"  {'full':15s} median wall {pyd['median_wall_s'] * 1e3:8.2f} ms   cpu {pyd['median_cpu_s'] * 1e3:8.2f} ms")
        print(f"speed-up (pydynpd / ours, full diagnostics): wall {result['speedup_wall']:.1f}x, cpu {result['speedup_cpu']:.1f}x")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
