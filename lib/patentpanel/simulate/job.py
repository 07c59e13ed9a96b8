"""``patentpanel simulate``: DGP -> entities -> plan -> render (raw exports) -> other inputs
-> truth manifest. Re-running with the same arguments rewrites the same bytes."""
from __future__ import annotations

import argparse
import copy
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .dgp import DGPSpec, TIERS, World, build_world
from .entities import build_entities
from .inputs import write_inputs
from .plan import LAYOUTS, iter_plan
from .truth import TruthAccumulator, sha256_file

log = logging.getLogger("patentpanel.simulate.job")

__all__ = ["add_arguments", "run", "simulate", "check_study1", "check_study2"]

OWNED_DIRS = ("raw", "truth", "policies", "yearbook", "history", "firms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("simulate")
    g.add_argument("--records", type=int, default=None, help="applications (default simulate.records)")
    g.add_argument("--years", default=None, help="year range, e.g. 2010-2021 (default simulate.years)")
    g.add_argument("--seed", type=int, default=None, help="root seed (default run.seed)")
    g.add_argument("--out", default=None, help="output directory (default simulate.out or inputs.simulated)")
    g.add_argument("--layouts", default=None,
                   help=f"comma-separated subset of {','.join(LAYOUTS)} (default: all, configured shares)")


def _parse_years(text: str | None):
    if text is None:
        return None
    try:
        a, b = (int(x) for x in str(text).split("-"))
    except ValueError:
        raise ValueError(f"--years {text!r}: expected START-END, e.g. 2010-2021") from None
    return a, b


def _restrict_layouts(spec: DGPSpec, layouts: str | None) -> DGPSpec:
    if not layouts:
        return spec
    chosen = [x.strip() for x in layouts.split(",") if x.strip()]
    bad = [x for x in chosen if x not in LAYOUTS]
    if bad or not chosen:
        raise ValueError(f"--layouts: unknown layout(s) {bad}; expected a subset of {list(LAYOUTS)}")
    p = copy.deepcopy(spec.p)
    ms = p["messiness"]
    ms["layouts"] = {k: (v if k in chosen else 0.0) for k, v in ms["layouts"].items()}
    if sum(ms["layouts"].values()) <= 0:
        ms["layouts"] = {k: (1.0 if k in chosen else 0.0) for k in ms["layouts"]}
    for reason, allowed in list((ms.get("corruption_layouts") or {}).items()):
        keep = [x for x in allowed if x in chosen]
        if keep:
            ms["corruption_layouts"][reason] = keep
        else:
            ms["corruption"][reason] = 0.0     # this reason cannot occur in the chosen layouts
            del ms["corruption_layouts"][reason]
    return DGPSpec(records=spec.records, years=spec.years, seed=spec.seed, p=p, network=spec.network,
                   conf_dir=spec.conf_dir)


def _render_fn():
    try:
        from .render import render
    except ImportError:
        return None
    return render


def simulate(cfg, out: Path, records: int | None = None, years=None, seed: int | None = None,
             layouts: str | None = None, render: bool = True) -> dict:
    """Run the whole simulator into ``out``; returns the summary (also in the manifest)."""
    t0 = time.perf_counter()
    spec = _restrict_layouts(DGPSpec.from_config(cfg, records=records, years=years, seed=seed), layouts)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for d in OWNED_DIRS:
        if (out / d).exists():
            shutil.rmtree(out / d)
    world = build_world(spec)
    c = world.cells
    located = (c[c["region_id"] >= 0].groupby("region_id")["n_ok"].sum()
               .reindex(range(len(world.regions)), fill_value=0).to_numpy()) / len(world.years)
    ent = build_entities(spec, world.regions, located)
    truth_dir = out / "truth"
    acc = TruthAccumulator(world, ent, truth_dir)
    frames = []
    for chunk in iter_plan(world, ent, int(spec.p["chunk_years"])):
        acc.add(chunk)
        frames.append(chunk.frame)
    acc.close()
    plan = pd.concat(frames, ignore_index=True)
    del frames
    fn = _render_fn() if render else None
    if fn is not None:
        bad = fn(plan, ent.frame.drop(columns="region_id"), out, cfg, spec.seed,
                 chunk_rows=int(spec.p["render_chunk_rows"]))
        rendered = True
    else:
        log.warning("simulate: the renderer (patentpanel.simulate.render) is not available; "
                    "writing the plan and truth without raw exports")
        bad = pd.DataFrame({"source_file": pd.Series(dtype=str), "record_index": pd.Series(dtype="int64"),
                            "app_id": pd.Series(dtype="int64"), "reason": pd.Series(dtype=str)})
        rendered = False
    extra = write_inputs(world, ent, out)
    summary = write_truth(world, ent, acc, plan, bad, extra, out, rendered)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def _pq(df: pd.DataFrame, path: Path) -> None:
    df.reset_index(drop=True).to_parquet(path, index=False)


def write_truth(world: World, ent, acc: TruthAccumulator, plan: pd.DataFrame, bad: pd.DataFrame,
                extra: dict, out: Path, rendered: bool) -> dict:
    spec = world.spec
    td = out / "truth"
    td.mkdir(parents=True, exist_ok=True)
    ry = acc.region_year()
    edges = acc.edge_table()
    lq, lq_info = acc.lq(ry, edges)
    nc = acc.nc(edges)
    reg = world.regions
    # study-1 panel: realized TI/NC recomputed from the plan; IP and controls from the DGP
    s1 = world.study1.drop(columns=["ti", "nc", "ln_ti", "ln_nc", "ip_x_nc_c"]).merge(
        ry[["region_id", "year", "ti_ipc_fractional"]].rename(columns={"ti_ipc_fractional": "ti"}),
        on=["region_id", "year"], how="left").merge(nc, on=["region_id", "year"], how="left")
    p1 = world.params["study1"]
    s1["ln_ti"] = np.log(s1["ti"])
    s1["ln_nc"] = np.log(s1["nc"])
    s1["ip_x_nc_c"] = (s1["ln_ip"] - p1["centre_ip"]) * (s1["ln_nc"] - p1["centre_nc"])
    # study-2 panel: realized tier counts and innovation index from the plan
    s2 = world.study2.copy()
    ryi = ry.set_index(["region_id", "year"])
    key = pd.MultiIndex.from_arrays([s2["region_id"], s2["year"]])
    w = spec.p["study2"]["index_weights"]
    comp = sum(w[t] * ryi.loc[key, f"all_{t}"].to_numpy(float) for t in ("invention", "utility", "design"))
    s2["index"] = comp / s2["population_10k"].to_numpy()
    s2["log_index"] = np.log(s2["index"])
    s2["innovation"] = (s2["log_index"] - s2["log_index"].min()) / (s2["log_index"].max() - s2["log_index"].min())
    for k in TIERS:
        s2[f"{k.lower()}_count"] = ryi.loc[key, f"ai_{k}"].to_numpy()
        lx = np.log1p(s2[f"{k.lower()}_count"].to_numpy(float))
        s2[k.lower()] = (lx - lx.min()) / (lx.max() - lx.min())
    s2["innovation_error"] = s2["innovation"] - s2["innovation_target"]
    orgmap = ent.frame.rename(columns={"region_id": "_r"}).drop(columns="_r")
    first_app = np.unique(np.concatenate(acc.first_ids)) if acc.first_ids else np.zeros(0, np.int64)
    orgmap["is_first_applicant_somewhere"] = orgmap["entity_id"].isin(first_app)
    tables = {
        "region_year": ry, "region_edges": edges.drop(columns=["a_id", "b_id"]), "lq": lq, "centrality": nc.merge(
            reg[["region_id", "adcode"]], on="region_id"),
        "study1_panel": s1, "study2_panel": s2, "entities": orgmap, "bad_records": bad,
        "yearbook_truth": world.yearbook, "yearbook_gaps": extra["yearbook_gaps"],
        "firm_panel": extra["firm_panel"], "policy_counts": world.ip.merge(reg[["region_id", "adcode"]], on="region_id"),
        "history_1984": world.history, "national_series": world.national,
        "cells": world.cells,
    }
    for name, df in tables.items():
        _pq(df, td / f"{name}.parquet")
    # realized messiness
    n = len(plan)
    corr = plan["corruption"].value_counts().to_dict()
    inv_ok = (plan["patent_type"] == "invention") & plan["corruption"].isna()
    rates = {"corruption": {k: corr.get(k, 0) / n for k in spec.p["messiness"]["corruption"]},
             "duplicate_inventions": float((plan.loc[inv_ok, "n_publications"] == 2).mean()) if inv_ok.any() else 0.0,
             "layouts": (plan["layout"].value_counts() / n).to_dict()}
    clusters_found = lq.loc[lq["cluster"], "name_en"].tolist()
    planted = reg.loc[reg["group"] == "cluster", "name_en"].tolist()
    checks = {"study1": check_study1(s1, p1), "study2": check_study2(s2)}
    manifest = {
        "simulator": "patentpanel.simulate", "seed": spec.seed, "records": spec.records,
        "years": list(spec.years), "rendered": rendered,
        "counts": {"applications": int(n), "records": int(plan["n_publications"].sum()),
                   "corrupted_applications": int(plan["corruption"].notna().sum()),
                   "bad_records": int(len(bad)), "ai_applications": int(plan["is_ai"].sum()),
                   "withheld_addresses": acc.n_withheld,
                   "withheld_addresses_unlocated": acc.n_withheld_unlocated,
                   "entities": int(len(ent.frame))},
        "config": spec.p, "dgp": world.params, "diagnostics": world.diagnostics,
        "messiness_realized": rates,
        "lq": lq_info, "clusters_planted": planted, "clusters_truth": clusters_found,
        "lq_gt_1": lq.loc[lq["lq_gt_1"], "name_en"].tolist(),
        "conventions": {
            "located": "first applicant's home region (entities.city_adcode); with a withheld address "
                       "only when a municipality's province code is written, or an organisation is "
                       "placed by another filing with a written address or by its name; else nowhere",
            "study1_ai": "an IPC code on conf/simulate/ai_ipc_codes.csv (SEI 2021 + bridges)",
            "eligible_study1": "every applicant a mainland organisation (no individual, foreign, HK/MO/TW)",
            "corruption": "a corrupted application has one publication and is excluded from every aggregate",
            "ti": "fractional count of eligible AI (code list) invention applications (1/k per located "
                  "applicant's region)",
            "nc": world.params["study1"]["nc_convention"],
            "study2_tiers": "AI applications of all types and mainland applicant kinds, first-applicant city",
            "innovation": "log((0.5 inv + 0.3 util + 0.2 design) / population_10k), min-max over the 120x12 panel",
            "tier_variables": "log(1 + count), min-max over the 120x12 panel",
        },
        "recovery": _recovery_statement(world),
        "checks": checks,
    }
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest["files"] = {str(p.relative_to(out)): sha256_file(p) for p in files}
    with open(td / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=2, sort_keys=True, default=_jsonable)
        fh.write("\n")
    return {"applications": int(n), "records": manifest["counts"]["records"], "out": str(out),
            "clusters": len(clusters_found), "clusters_match_planted": sorted(clusters_found) == sorted(planted),
            "rendered": rendered, "bad_records": int(len(bad))}


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return str(o)


def _within(df: pd.DataFrame, cols: list[str], by: str) -> pd.DataFrame:
    return df[cols] - df.groupby(by)[cols].transform("mean")


def check_study1(s1: pd.DataFrame, p1: dict) -> dict:
    """Quick references for Eq. 3 on the realized panel: the oracle regression with the
    planted cluster effects removed (recovers the coefficients up to eps), pooled OLS and the
    within estimator (biased: eta and Nickell). Not a substitute for System-GMM."""
    d = s1.sort_values(["region_id", "year"]).copy()
    d["ln_ti_lag"] = d.groupby("region_id")["ln_ti"].shift(1)
    d = d[d["in_sample"] & d["ln_nc"].notna() & d["ln_ti_lag"].notna()]
    xs = ["ln_ti_lag", "ln_ip", "ln_nc", "ip_x_nc_c", "ln_ed", "ln_ic", "ln_ie"]
    names = ["ti_lag", "ip", "nc", "ip_x_nc", "ed", "ic", "ie"]
    if len(d) < len(xs) + 2:
        return {"n": int(len(d))}
    X = np.column_stack([d[xs].to_numpy(float), np.ones(len(d))])
    if not (np.isfinite(X).all() and np.isfinite(d["ln_ti"]).all()):
        return {"n": int(len(d)), "skipped": "non-finite values"}
    yo = d["ln_ti"].to_numpy() - d["eta"].to_numpy()
    bo = np.linalg.lstsq(X, yo, rcond=None)[0]
    bp = np.linalg.lstsq(X, d["ln_ti"].to_numpy(), rcond=None)[0]
    W = _within(d, xs + ["ln_ti"], "region_id")
    bw = np.linalg.lstsq(W[xs].to_numpy(float), W["ln_ti"].to_numpy(), rcond=None)[0]
    return {"n": int(len(d)),
            "oracle_known_eta": dict(zip(names + ["const"], map(float, bo))),
            "pooled_ols": dict(zip(names + ["const"], map(float, bp))),
            "within": dict(zip(names, map(float, bw))), "planted": p1["coef"]}


def _twoway(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    x = df[cols]
    return (x - x.groupby(df["region_id"]).transform("mean") - x.groupby(df["year"]).transform("mean")
            + x.mean()).to_numpy(float)


def check_study2(s2: pd.DataFrame) -> dict:
    """Two-way FE OLS and 2SLS (instruments z_k, their triple product for the three-way term)
    on the realized panel (balanced: two-way demeaning is exact)."""
    d = s2.copy()
    d["ft_ct_gpt"] = d["ft"] * d["ct"] * d["gpt"]
    d["z3"] = d["z_ft"] * d["z_ct"] * d["z_gpt"]
    ctrl = ["ecodevelop", "fdi", "open", "eduexp", "indstru", "techlevel"]
    xs = ["ft", "ct", "gpt", "ft_ct_gpt"]
    zs = ["z_ft", "z_ct", "z_gpt", "z3"]
    y = _twoway(d, ["innovation"]).ravel()
    X = _twoway(d, xs + ctrl)
    Z = _twoway(d, zs + ctrl)
    if not (np.isfinite(y).all() and np.isfinite(X).all() and np.isfinite(Z).all()):
        # tiny runs: a tier with no patents at all has no min-max scale (LAPACK may not
        # return on NaN input, so never call it with one)
        return {"n": int(len(d)), "skipped": "non-finite tier or innovation values"}
    b_fe = np.linalg.lstsq(X, y, rcond=None)[0]
    Xh = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]
    b_iv = np.linalg.lstsq(Xh, y, rcond=None)[0]
    return {"n": int(len(d)), "fe_ols": dict(zip(xs, map(float, b_fe[:4]))),
            "iv_2sls": dict(zip(xs, map(float, b_iv[:4])))}


def _recovery_statement(world: World) -> dict:
    s1, s2 = world.params["study1"], world.params["study2"]
    return {
        "study1_eq3": {
            "planted": s1["coef"], "estimator": "two-step System-GMM (xtabond2-like), lag of TI and IP "
            "endogenous, controls exogenous, centred IP x NC, cluster-years 2012-2020 with NC",
            "tolerance": "each coefficient within 2.5 of its reported standard error of the planted value; "
                         "with 29 clusters and 9 years the sampling error is large, see checks.study1"},
        "study2_table5_model8": {
            "planted_on_pipeline_scale": s2["beta"], "gamma_effective": s2["gamma_effective"],
            "estimator": "2SLS with two-way FE, instruments z_k = std log(1984 variable) x std national series, "
                         "z_FT*z_CT*z_GPT for the three-way term",
            "tolerance": "FT, CT within 0.10; GPT and FT x CT x GPT within 0.20 (absolute); FE OLS is biased "
                         "upward by the confounder u (rho_u_effective)",
            "rho_u_effective": s2["rho_u_effective"]},
        "firms_table5": {"planted": dict(world.spec.p["firms"]),
                         "tolerance": "a, b, c' within 3 standard errors (System-GMM)"},
    }


def run(ctx, args) -> dict:
    cfg = ctx.cfg
    out = args.out or cfg.get("simulate.out") or cfg.get("inputs.simulated")
    return simulate(cfg, Path(out), records=args.records, years=_parse_years(args.years), seed=args.seed,
                    layouts=args.layouts)
