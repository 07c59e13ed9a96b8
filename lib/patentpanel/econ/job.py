"""The ``estimate`` stage: every estimation of both studies, the placebo and the Monte Carlo.

extract: ``gold.cluster_year``, ``gold.firm_year``, ``gold.city120_year`` (city-year sized,
collected to pandas). transform: study 1 Table 4 (System GMM, Models 1-3), Table 5
(mediation, Models 4-6), Table 6 (NB); study 2 Tables 5, 6, 8 and robustness (two-way
FE), Table 7 (FE-2SLS); the placebo of Fig. 6; optionally the Monte Carlo. load:

===========================  ===================================================  =====================
table                        grain                                                replaced per run by
===========================  ===================================================  =====================
``gold.estimates``           model x term (coef, se, stat, stat_kind, p, stats)   (study, table, model)
``gold.placebo``             placebo replication                                  (model, scheme, term)
``gold.placebo_summary``     placebo run: real coef, mean, p-values, KDE grid     (model, scheme, term)
``gold.montecarlo``          replication x estimator x term                        whole table
``gold.montecarlo_summary``  estimator x term: bias, RMSE, coverage               whole table
===========================  ===================================================  =====================

``stats`` of ``gold.estimates`` is the model's fit statistics as JSON (nobs, n_groups,
n_instruments, AR/Sargan/Hansen p-values, R², first-stage F, alpha, log likelihood, SE
type, notes) with ``status`` ``ok``, the coefficient covariance ``cov`` (``{names, matrix}``,
for delta-method intervals of combinations such as Fig. 4's marginal effect) and, for 2SLS,
``first_stage`` per endogenous regressor (instrument coefficients and SEs, F, partial R²);
``omitted`` lists the terms the estimator could not
identify (their rows have null coef/se/stat/p) and ``degenerate_cov`` (with
``degenerate_cov_reason``) flags a fit whose standard errors are not meaningful. A model
whose fit fails gets one row with a null ``term``, null numbers, ``estimator`` "not
estimated" and ``stats`` ``{"status": "failed", "reason": ...}`` (replacing its rows of
earlier runs, so no stale estimate survives), and is listed in the summary's ``failed``
with the reason; a model whose input panel is missing is listed in ``skipped``. The
others go on.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

log = logging.getLogger("patentpanel.econ.job")

GROUPS = ("table4", "mediation", "nb", "fe", "iv", "placebo", "montecarlo")
ALIASES = {"study1": ("table4", "mediation", "nb"), "study2": ("fe", "iv"),
           "all": ("table4", "mediation", "nb", "fe", "iv", "placebo")}
PANELS = {"cluster": "gold.cluster_year", "firm": "gold.firm_year", "city120": "gold.city120_year"}
# Each panel is sorted by its keys after collection: the row order of a Spark read depends
# on files and partitions, and a numerically near-singular GMM system (more instruments
# than groups) resolves differently under a different summation order.
PANEL_KEYS = {"cluster": ["city_code", "year"], "firm": ["firm_id", "year"], "city120": ["city_code", "year"]}

ESTIMATE_COLUMNS = ["study", "table", "model", "term", "coef", "se", "stat", "stat_kind", "p",
                    "estimator", "stats"]


# ----------------------------------------------------------------------------- arguments
def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("estimate")
    g.add_argument("--only", action="append", default=[], metavar="GROUPS",
                   help="comma list of what to run: study1, study2, table4, mediation, nb, fe, iv, "
                        "placebo, montecarlo, all (default: all = both studies and the placebo)")
    g.add_argument("--montecarlo", type=int, default=None, metavar="R",
                   help="also run the Monte Carlo with R replications (0: off)")
    g.add_argument("--placebo-replications", type=int, default=None, metavar="R",
                   help="override estimate.placebo.replications")
    g.add_argument("--bootstrap", type=int, default=None, metavar="B",
                   help="override estimate.mediation.bootstrap (0: no bootstrap)")
    g.add_argument("--seed", type=int, default=None, help="root seed (default: run.seed)")
    g.add_argument("--backend", choices=("spark", "serial"), default=None,
                   help="where replications run (default: estimate.replications.backend)")


def selected_groups(only: list[str], montecarlo: int | None) -> list[str]:
    items = [s.strip() for o in only for s in o.split(",") if s.strip()] or ["all"]
    out: list[str] = []
    for it in items:
        names = ALIASES.get(it, (it,))
        for n in names:
            if n not in GROUPS:
                raise ValueError(f"--only: unknown group {it!r}; expected one of "
                                 f"{', '.join(list(ALIASES) + list(GROUPS))}")
            if n not in out:
                out.append(n)
    if montecarlo and "montecarlo" not in out:
        out.append("montecarlo")
    return [g for g in GROUPS if g in out]


# ----------------------------------------------------------------------------- rows
def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (pd.Series, pd.DataFrame)):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or isinstance(v, (str, int, bool)):
        return v
    return str(v)


def model_stats(res: Any) -> dict[str, Any]:
    """The fit statistics of a GMMResults or EstimationResult under common names (plus the
    estimator's own ``model_info``)."""
    info = dict(getattr(res, "model_info", {}) or {})
    s: dict[str, Any] = {"nobs": int(res.nobs)}
    s["n_groups"] = info.get("n_groups", info.get("n_clusters"))
    s["n_instruments"] = info.get("n_instruments")
    for k in ("ar1_p", "ar2_p", "sargan_p", "hansen_p"):
        s[k] = info.get(k)
    if s["sargan_p"] is None:
        s["sargan_p"] = info.get("sargan_pvalue")
    if s["hansen_p"] is None:
        s["hansen_p"] = info.get("hansen_j_pvalue")
    s["r2"] = info.get("rsquared")
    s["r2_within"] = info.get("rsquared_within")
    first = (getattr(res, "extra", {}) or {}).get("first_stage")
    if first:
        s["first_stage_f"] = {k: v.get("f_stat") for k, v in first.items()} if isinstance(first, Mapping) \
            and all(isinstance(v, Mapping) for v in first.values()) else None
        s["first_stage"] = first_stage_stats(first)
    s["kleibergen_paap_f"] = info.get("kleibergen_paap_f")
    s["alpha"] = info.get("alpha")
    s["loglik"] = info.get("loglik")
    if hasattr(res, "windmeijer") or info.get("estimator") in ("system", "difference"):
        s["se_type"] = ("Windmeijer-corrected two-step" if info.get("steps") == 2 and info.get("robust")
                        else "robust one-step" if info.get("robust") else "non-robust")
    else:
        s["se_type"] = info.get("cov_type")
    s["small_sample"] = info.get("small_sample")
    s["notes"] = list(getattr(res, "notes", []) or [])
    s["status"] = "ok"
    s["omitted"] = list(info.get("omitted") or getattr(res, "omitted", None) or [])
    s["degenerate_cov"] = bool(info.get("degenerate_cov", getattr(res, "degenerate_cov", False)))
    s["degenerate_cov_reason"] = info.get("degenerate_cov_reason", getattr(res, "degenerate_cov_reason", None))
    warn = getattr(res, "warnings", None)
    if warn:
        s["warnings"] = [str(w) for w in warn]
    s["model_info"] = info
    s["cov"] = cov_stats(res)
    return _jsonable(s)


def cov_stats(res: Any) -> dict[str, Any] | None:
    """The coefficient covariance as ``{"names": [...], "matrix": [[...]]}`` (rows and
    columns in ``names`` order; non-finite entries, e.g. of omitted terms, become null), so
    a figure or test can form any linear combination's variance (delta method) from
    ``gold.estimates`` alone."""
    cov = getattr(res, "cov", None)
    if callable(cov):
        cov = cov()
    if cov is None:
        return None
    if not isinstance(cov, pd.DataFrame):
        names = [str(t) for t in res.params.index]
        cov = pd.DataFrame(np.asarray(cov, float), index=names, columns=names)
    names = [str(c) for c in cov.columns]
    if [str(i) for i in cov.index] != names:
        cov = cov.loc[cov.columns]
    return {"names": names, "matrix": cov.to_numpy(float).tolist()}


def first_stage_stats(first: Mapping[str, Any]) -> dict[str, Any]:
    """First stage per endogenous regressor: coefficients and SEs of the excluded
    instruments (by name), F of the excluded instruments with its p-value, partial R²."""
    out: dict[str, Any] = {}
    for endog, fs in first.items():
        if not isinstance(fs, Mapping):
            continue
        par, se = fs.get("params"), fs.get("std_errors")
        out[str(endog)] = {
            "params": {str(k): float(v) for k, v in dict(par).items()} if par is not None else {},
            "std_errors": {str(k): float(v) for k, v in dict(se).items()} if se is not None else {},
            "f_stat": fs.get("f_stat"), "f_pvalue": fs.get("f_pvalue"), "partial_r2": fs.get("partial_r2")}
    return out


def canonical_order(panel: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``panel`` sorted by ``keys`` (those present) with a fresh index, so an estimate does
    not depend on how the rows arrived (Spark partitions, delta-rs file order)."""
    keys = [k for k in keys if k in panel.columns]
    return panel.sort_values(keys, kind="mergesort").reset_index(drop=True) if keys else panel


def failure_row(study: str, table: str, model: str, reason: str) -> dict:
    """The ``gold.estimates`` row of a model that could not be estimated (term null)."""
    return {"study": study, "table": table, "model": model, "term": None, "coef": None, "se": None,
            "stat": None, "stat_kind": None, "p": None, "estimator": "not estimated",
            "stats": json.dumps({"status": "failed", "reason": reason}, sort_keys=True)}


def result_rows(study: str, table: str, model: str, res: Any) -> list[dict]:
    if hasattr(res, "stat_label"):
        kind = res.stat_label
    else:
        kind = "t" if getattr(res, "small", False) else "z"
    info = getattr(res, "model_info", {}) or {}
    est = str(info.get("estimator", type(res).__name__))
    stats = json.dumps(model_stats(res), sort_keys=True)
    se, st, p = res.std_errors, res.tstats, res.pvalues
    return [{"study": study, "table": table, "model": model, "term": str(t),
             "coef": float(res.params[t]), "se": float(se[t]), "stat": float(st[t]),
             "stat_kind": kind, "p": float(p[t]), "estimator": est, "stats": stats}
            for t in res.params.index]


# ----------------------------------------------------------------------------- the stage
class _Run:
    def __init__(self, ctx, args):
        self.ctx, self.args, self.cfg = ctx, args, ctx.cfg
        self.est = ctx.cfg.section("estimate")
        self.seed = int(args.seed if args.seed is not None else ctx.seed)
        self.rows: list[dict] = []
        self.done: list[str] = []
        self.skipped: list[dict] = []
        self.failed: list[dict] = []
        self.tables: list[str] = []
        self._panels: dict[str, pd.DataFrame | None] = {}
        self._why: dict[str, str] = {}
        self._specs = None

    # -- extract
    def panel(self, key: str) -> pd.DataFrame | None:
        if key not in self._panels:
            from ..storage import TableNotFound
            name = PANELS[key]
            try:
                self._panels[key] = canonical_order(self.ctx.store.read(name).toPandas(), PANEL_KEYS[key])
                log.info("read %s: %d rows", name, len(self._panels[key]))
            except TableNotFound as exc:
                self._panels[key], self._why[key] = None, f"input panel {name} is missing ({exc})"
        return self._panels[key]

    @property
    def specs(self):
        if self._specs is None:
            from .gmm import GMMSpec
            self._specs = GMMSpec.from_yaml(self.cfg.path("estimate.gmm.models_file"))
        return self._specs

    def runner(self, partitions):
        from .distributed import make_runner
        rep = self.est.get("replications", {})
        backend = self.args.backend or rep.get("backend", "spark")
        return make_runner(backend, self.ctx.spark if backend == "spark" else None,
                           partitions=partitions, block_size=int(rep.get("block_size", 50)),
                           poll_seconds=float(rep.get("poll_seconds", 2.0)))

    def attempt(self, what: str, panel_key: str, fn: Callable[[pd.DataFrame], None],
                keys: list[tuple[str, str, str]] = ()) -> None:
        """Run ``fn`` on the panel; on failure drop its partial rows and write a failure
        row for each (study, table, model) of ``keys``."""
        data = self.panel(panel_key)
        if data is None:
            self.skipped.append({"model": what, "reason": self._why[panel_key]})
            log.warning("skipped %s: %s", what, self._why[panel_key])
            return
        n0 = len(self.rows)
        try:
            fn(data)
            self.done.append(what)
        except Exception as exc:  # one model failing must not stop the others
            reason = f"{type(exc).__name__}: {exc}"
            del self.rows[n0:]
            self.rows.extend(failure_row(*k, reason) for k in keys)
            self.failed.append({"model": what, "reason": reason,
                                "estimates": [{"study": k[0], "table": k[1], "model": k[2]} for k in keys]})
            log.error("%s failed: %s", what, reason)

    # -- transform
    def table4(self) -> None:
        for name in self.est["gmm"]["table4"]:
            spec = self.specs[name]
            self.attempt(name, "cluster", lambda d, spec=spec: self.rows.extend(
                result_rows("study1", "Table 4", spec.name, spec.fit(d))),
                keys=[("study1", "Table 4", spec.name)])

    def mediation(self) -> None:
        from .mediation import Mediation
        m = self.est["mediation"]

        def go(d):
            med = Mediation(d, self.specs[m["total"]], self.specs[m["mediator_model"]],
                            self.specs[m["outcome"]], treatment=m["treatment"], mediator=m["mediator"])
            b = int(self.args.bootstrap if self.args.bootstrap is not None else m["bootstrap"])
            seed = self.seed if m.get("seed") is None or self.args.seed is not None else int(m["seed"])
            res = med.fit(bootstrap=b, seed=seed, level=float(m["level"]),
                          runner=self.runner(m.get("partitions")) if b else None,
                          bootstrap_fit=m.get("fit"))
            for name, r in res.results.items():
                self.rows.extend(result_rows("study1", "Table 5", name, r))
            summ = json.dumps(_jsonable(res.summary()), sort_keys=True)
            for _, row in res.to_frame().iterrows():
                self.rows.append({"study": "study1", "table": "Table 5", "model": "mediation",
                                  "term": row["path"], "coef": float(row["coef"]), "se": float(row["se"]),
                                  "stat": float(row["z"]), "stat_kind": "z", "p": float(row["p"]),
                                  "estimator": "mediation (System GMM paths; Sobel first order)",
                                  "stats": summ})
            self.mediation_summary = res.summary()
        self.attempt("mediation", "firm", go,
                     keys=[("study1", "Table 5", m[k]) for k in ("total", "mediator_model", "outcome")]
                     + [("study1", "Table 5", "mediation")])

    def nb(self) -> None:
        from .nb import run_nb_models
        cfg = self.est["nb"]
        for spec in cfg["models"]:
            one = {**cfg, "models": [spec]}
            self.attempt(f"nb:{spec['name']}", "cluster", lambda d, one=one: [
                self.rows.extend(result_rows("study1", "Table 6", k, r))
                for k, r in run_nb_models(d, one).items()], keys=[("study1", "Table 6", spec["name"])])

    def fe(self) -> None:
        from .fe import expand_specs, run_models
        cfg = self.est["fe"]
        for raw in expand_specs(cfg["models"]):
            name = raw["name"]
            self.attempt(f"fe:{name}", "city120", lambda d, name=name: [
                self.rows.extend(result_rows("study2", r.model_info.get("table", ""), k, r))
                for k, r in run_models(d, cfg, entity=cfg["entity"], time=cfg["time"], only=[name]).items()],
                keys=[("study2", str(raw.get("table", "")), name)])

    def iv(self) -> None:
        from .iv import run_iv_models
        for spec in self.est["iv"]["models"]:
            one = {**self.est["iv"], "models": [spec]}
            self.attempt(f"iv:{spec['name']}", "city120", lambda d, one=one: [
                self.rows.extend(result_rows("study2", "Table 7", k, r))
                for k, r in run_iv_models(d, one, self.est["fe"]).items()],
                keys=[("study2", "Table 7", spec["name"])])

    def placebo(self) -> None:
        from .placebo import PlaceboTest
        p = self.est["placebo"]

        def go(d):
            r = int(self.args.placebo_replications if self.args.placebo_replications is not None
                    else p["replications"])
            seed = self.seed if p.get("seed") is None or self.args.seed is not None else int(p["seed"])
            test = PlaceboTest(d, self.specs[p["model"]], column=p["column"], term=p["term"],
                               scheme=p["scheme"], replications=r, seed=seed,
                               fit_options=p.get("fit"), grid_points=int(p["grid_points"]))
            res = test.run(self.runner(p.get("partitions")))
            self.write_placebo(res)
            self.placebo_summary = {k: v for k, v in res.summary().items() if k != "p_formula"}
        self.attempt("placebo", "cluster", go)

    def montecarlo(self) -> None:
        from .montecarlo import Eq3DGP, MonteCarlo
        m = self.est["montecarlo"]
        r = int(self.args.montecarlo if self.args.montecarlo else m["replications"])
        seed = self.seed if m.get("seed") is None or self.args.seed is not None else int(m["seed"])
        try:
            mc = MonteCarlo(Eq3DGP.from_config(self.cfg), self.specs[m["model"]], m["estimators"],
                            replications=r, seed=seed, level=float(m["level"]))
            res = mc.run(self.runner(m.get("partitions")))
            self.write_montecarlo(res)
            self.done.append("montecarlo")
            self.montecarlo_failed = int((res.draws["status"] != "ok").sum())
        except Exception as exc:
            self.failed.append({"model": "montecarlo", "reason": f"{type(exc).__name__}: {exc}"})
            log.error("montecarlo failed: %s", exc)

    # -- load
    def _replace(self, name: str, pdf: pd.DataFrame, keys: list[str] | None, schema) -> None:
        """Overwrite ``name`` with ``pdf`` plus the existing rows whose ``keys`` are not in
        ``pdf`` (so a partial run keeps the other models' rows and never duplicates)."""
        store, spark = self.ctx.store, self.ctx.spark
        if keys and store.exists(name):
            old = store.read(name).toPandas()
            if list(old.columns) == [f.name for f in schema.fields]:
                new_keys = set(map(tuple, pdf[keys].astype(str).to_numpy()))
                keep = ~pd.Series([tuple(k) in new_keys for k in old[keys].astype(str).to_numpy()],
                                  index=old.index, dtype=bool)
                pdf = pd.concat([old[keep], pdf], ignore_index=True)
        pdf = pdf.astype(object).where(pd.notna(pdf), None)
        df = spark.createDataFrame([tuple(r) for r in pdf.itertuples(index=False, name=None)],
                                   schema=schema)
        store.write(df, name, mode="overwrite",
                    metadata={"stage": "estimate", "config": self.cfg.fingerprint(), "seed": self.seed})
        self.tables.append(name)

    def write_estimates(self) -> None:
        from pyspark.sql import types as T
        schema = T.StructType([T.StructField(c, T.DoubleType() if c in ("coef", "se", "stat", "p")
                                             else T.StringType()) for c in ESTIMATE_COLUMNS])
        pdf = pd.DataFrame(self.rows, columns=ESTIMATE_COLUMNS)
        self._replace("gold.estimates", pdf, ["study", "table", "model"], schema)

    def write_placebo(self, res) -> None:
        from pyspark.sql import types as T
        key = {"model": res.model, "scheme": res.scheme, "term": res.term}
        d = res.draws
        draws = pd.DataFrame({**{k: v for k, v in key.items()}, "seed": str(res.seed),
                              "replication": d["replication"].astype("int64"),
                              "coef": d["coef"].astype(float), "se": d["se"].astype(float),
                              "nobs": d["nobs"].astype(float), "n_instruments": d["n_instruments"].astype(float),
                              "status": d["status"], "reason": d["reason"], "warnings": d["warnings"]})
        S, D, L = T.StringType(), T.DoubleType(), T.LongType()
        schema = T.StructType([T.StructField(n, t) for n, t in [
            ("model", S), ("scheme", S), ("term", S), ("seed", S), ("replication", L), ("coef", D),
            ("se", D), ("nobs", D), ("n_instruments", D), ("status", S), ("reason", S), ("warnings", S)]])
        self._replace("gold.placebo", draws, ["model", "scheme", "term"], schema)
        s = res.summary()
        try:
            dens = res.density()
            x, y = [float(v) for v in dens["x"]], [float(v) for v in dens["density"]]
        except ValueError as exc:
            x, y = [], []
            s["kde_note"] = str(exc)
        summ = pd.DataFrame([{**key, "seed": str(res.seed), "replications": s["replications"],
                              "succeeded": s["succeeded"], "failed": s["failed"],
                              "failure_reasons": json.dumps(_jsonable(s["failure_reasons"])),
                              "real_coef": s["real_coef"], "real_se": s["real_se"], "mean": s["mean"],
                              "sd": s["sd"], "p_two_sided": s["p_two_sided"], "p_greater": s["p_greater"],
                              "p_less": s["p_less"], "p_formula": s["p_formula"],
                              "kde_bandwidth": s.get("kde_bandwidth"), "density_x": x, "density": y}])
        schema = T.StructType([T.StructField(n, t) for n, t in [
            ("model", S), ("scheme", S), ("term", S), ("seed", S), ("replications", L), ("succeeded", L),
            ("failed", L), ("failure_reasons", S), ("real_coef", D), ("real_se", D), ("mean", D), ("sd", D),
            ("p_two_sided", D), ("p_greater", D), ("p_less", D), ("p_formula", S), ("kde_bandwidth", D),
            ("density_x", T.ArrayType(D)), ("density", T.ArrayType(D))]])
        self._replace("gold.placebo_summary", summ, ["model", "scheme", "term"], schema)

    def write_montecarlo(self, res) -> None:
        from pyspark.sql import types as T
        S, D, L = T.StringType(), T.DoubleType(), T.LongType()
        d = res.draws.copy()
        for c in ("estimator", "term"):
            if c not in d:
                d[c] = None
        draws = pd.DataFrame({"seed": str(res.seed), "replication": d["replication"].astype("int64"),
                              "estimator": d["estimator"], "term": d["term"],
                              "coef": d.get("coef", np.nan).astype(float), "se": d.get("se", np.nan).astype(float),
                              "crit": d.get("crit", np.nan).astype(float), "status": d["status"],
                              "reason": d["reason"], "warnings": d["warnings"]})
        schema = T.StructType([T.StructField(n, t) for n, t in [
            ("seed", S), ("replication", L), ("estimator", S), ("term", S), ("coef", D), ("se", D),
            ("crit", D), ("status", S), ("reason", S), ("warnings", S)]])
        self._replace("gold.montecarlo", draws, None, schema)
        summ = res.summary()
        summ.insert(0, "seed", str(res.seed))
        summ["level"] = res.level
        summ["replications"] = int(d["replication"].nunique())
        cols = list(summ.columns)
        types = {"seed": S, "estimator": S, "term": S, "n_ok": L, "n_failed": L, "replications": L}
        schema = T.StructType([T.StructField(c, types.get(c, D)) for c in cols])
        self._replace("gold.montecarlo_summary", summ, None, schema)
        self.montecarlo_table = summ


def run(ctx, args) -> dict:
    t0 = time.perf_counter()
    groups = selected_groups(getattr(args, "only", []) or [], getattr(args, "montecarlo", None))
    job = _Run(ctx, args)
    from threadpoolctl import threadpool_limits
    # The models are small (at most a few thousand rows): multi-threaded BLAS only contends
    # with the Spark executors for the cores (measured 10x slower FE fits on 2 busy cores).
    threads = job.est.get("driver_blas_threads", 1)
    with threadpool_limits(limits=int(threads) if threads else None):
        for g in groups:
            getattr(job, g)()
    if job.rows:
        job.write_estimates()
    summary: dict[str, Any] = {
        "groups": groups, "models_estimated": len(job.done), "estimate_rows": len(job.rows),
        "skipped": job.skipped, "failed": job.failed, "tables_written": sorted(set(job.tables)),
        "seed": job.seed, "seconds": round(time.perf_counter() - t0, 1)}
    if hasattr(job, "mediation_summary"):
        summary["mediation"] = _jsonable({k: job.mediation_summary[k] for k in
                                          ("indirect", "sobel_se", "sobel_p") if k in job.mediation_summary})
    if hasattr(job, "placebo_summary"):
        summary["placebo"] = _jsonable({k: job.placebo_summary[k] for k in
                                        ("real_coef", "mean", "p_two_sided", "replications", "failed")})
    if hasattr(job, "montecarlo_failed"):
        summary["montecarlo_failed_fits"] = job.montecarlo_failed
    return summary
