"""Monte Carlo of study 1's dynamic model: does the paper's System GMM recover the truth on
panels of its shape (29 clusters x 10 years)?

Each replication simulates a cluster-year panel from the latent DGP of Eq. 3 (Table 4,
Model 3) and estimates it with pooled OLS, within (FE), difference GMM and system GMM
(the paper's specification plus variants: collapsed instruments, lag limits), on a
:mod:`~patentpanel.econ.distributed` runner. The summary gives, per estimator and
coefficient, the mean estimate, bias, RMSE, the standard deviation of the estimates
against the mean reported SE, and the coverage of the nominal confidence interval.

The DGP (:class:`Eq3DGP`) is the simulator's Eq. 3 with its planted coefficients, error
SD, cluster count, window, policy means and cluster-volume spread read from the
``simulate.study1`` section; ``simulate/dgp.py`` exposes no stand-alone latent-panel
generator (it builds the whole patent world, network included), so the regressor
processes are generated here: ``log ED/IC/IE`` follow the simulator's yearbook processes
(level + size loading + trend + city level + AR(1), parameters in
``estimate.montecarlo.dgp``); NC, which the simulator computes from the co-application
network, is a latent AR(1) log-closeness process; IP is log(1 + Poisson policy counts)
with the simulator's yearly means. Cluster effects are set so that each cluster's steady
state sits at its planned volume, and the first year starts at the steady state given
that year's regressors plus a stationary shock: the start is mean-stationary only as far
as the trending regressors allow, as in the simulator.

Metrics over the S successful fits of an estimator (failed fits are counted, not used):
bias = mean(b_s) - beta; RMSE = sqrt(mean((b_s - beta)^2)); coverage = share of fits with
|b_s - beta| <= crit_s * se_s, where crit_s is the estimator's own critical value (normal
for GMM's z statistics; t with G-1 degrees of freedom for OLS/FE with clustered SEs, as
Stata).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .distributed import ReplicationRunner, SerialRunner, replication_rng
from .gmm import GMMDataError, GMMSpec

log = logging.getLogger("patentpanel.econ.montecarlo")

__all__ = ["Eq3DGP", "EstimatorSpec", "MonteCarlo", "MonteCarloResults", "summarize",
           "pooled_ols", "within_fe", "TRUTH_NAMES"]

PURPOSE = "montecarlo"
# DGP coefficient key -> parameter name in the estimates
TRUTH_NAMES = {"ti_lag": "L1.ti", "ip": "ip", "nc": "nc", "ip_x_nc": "ip_x_nc", "ed": "ed",
               "ic": "ic", "ie": "ie"}


# ----------------------------------------------------------------------------- the DGP
@dataclass(frozen=True)
class Eq3DGP:
    """Latent cluster-year panel of Eq. 3: ``ti_it = rho ti_i,t-1 + x_it b + eta_i + e_it``."""
    coef: Mapping[str, float]
    sigma_eps: float
    volumes: tuple[float, ...]
    years: tuple[int, int]
    invention_share: float
    policy_city_mean: tuple[float, ...]
    policy_province_mean: tuple[float, ...]
    policy_scale_sd: float
    processes: Mapping[str, Mapping[str, float]]   # ed, ic, ie, nc: level/size/trend/sd_level/sd_shock/rho

    @classmethod
    def from_config(cls, cfg) -> "Eq3DGP":
        s1 = cfg.section("simulate.study1")
        mc = cfg.section("estimate.montecarlo.dgp")
        sim_years = np.arange(int(cfg.get("simulate.years.start")), int(cfg.get("simulate.years.end")) + 1)
        w0, w1 = int(s1["window"]["start"]), int(s1["window"]["end"])

        def aligned(name):
            m = np.asarray(s1[name], float)
            if len(m) != len(sim_years):  # same alignment rule as simulate/dgp.py
                m = np.interp(np.linspace(0, 1, len(sim_years)), np.linspace(0, 1, len(m)), m)
            return tuple(m[(sim_years >= w0) & (sim_years <= w1)])
        vols = tuple(float(v) for v in s1["table1_volume"])
        if len(vols) != len(s1["clusters"]):
            raise ValueError(f"simulate.study1.table1_volume has {len(vols)} values for "
                             f"{len(s1['clusters'])} clusters")
        return cls(coef=dict(s1["coef"]), sigma_eps=float(s1["sigma_eps"]), volumes=vols,
                   years=(w0, w1), invention_share=float(s1["ti_invention_share"]),
                   policy_city_mean=aligned("policy_city_mean_big"),
                   policy_province_mean=aligned("policy_province_mean"),
                   policy_scale_sd=float(mc["policy_scale_sd"]),
                   processes={k: dict(v) for k, v in mc["processes"].items()})

    @property
    def truth(self) -> dict[str, float]:
        return {TRUTH_NAMES[k]: float(self.coef[k]) for k in TRUTH_NAMES}

    def simulate(self, rng: np.random.Generator) -> pd.DataFrame:
        """One panel: ``city_code, year, ti, ip, nc, ed, ic, ie`` (logs) and ``ip_count``."""
        n = len(self.volumes)
        years = np.arange(self.years[0], self.years[1] + 1)
        T = len(years)
        logv = np.log(np.asarray(self.volumes))
        sz = (logv - logv.mean()) / logv.std()
        tt = np.arange(T)[None, :]

        def process(name: str) -> np.ndarray:
            p = self.processes[name]
            rho = float(p.get("rho", 0.7))
            e = rng.normal(0.0, p["sd_shock"], (n, T))
            x = np.empty((n, T))
            x[:, 0] = e[:, 0] / np.sqrt(1 - rho ** 2)
            for t in range(1, T):
                x[:, t] = rho * x[:, t - 1] + e[:, t]
            return (p["level"] + p["size"] * sz[:, None] + p.get("trend", 0.0) * tt
                    + rng.normal(0.0, p["sd_level"], (n, 1)) + x)
        ed, ic, ie, nc = (process(k) for k in ("ed", "ic", "ie", "nc"))
        mu = (np.asarray(self.policy_city_mean) + np.asarray(self.policy_province_mean))[None, :]
        counts = rng.poisson(mu * rng.lognormal(0.0, self.policy_scale_sd, (n, 1)))
        ip = np.log1p(counts) if (counts == 0).any() else np.log(counts)
        co = self.coef
        ipxnc = (ip - ip.mean()) * (nc - nc.mean())     # centred over the panel, as estimated
        xb = (co["ip"] * ip + co["nc"] * nc + co["ip_x_nc"] * ipxnc + co["ed"] * ed
              + co["ic"] * ic + co["ie"] * ie + co["const"])
        rho = float(co["ti_lag"])
        level = np.log(np.asarray(self.volumes) * self.invention_share / T)
        eta = (1 - rho) * level - xb.mean(axis=1)
        eps = rng.normal(0.0, self.sigma_eps, (n, T))
        y = np.empty((n, T))
        y[:, 0] = (eta + xb[:, 0]) / (1 - rho) + eps[:, 0] / np.sqrt(1 - rho ** 2)
        for t in range(1, T):
            y[:, t] = rho * y[:, t - 1] + xb[:, t] + eta + eps[:, t]
        return pd.DataFrame({
            "city_code": np.repeat([f"C{i:03d}" for i in range(n)], T),
            "year": np.tile(years, n), "ti": y.ravel(), "ip": ip.ravel(), "nc": nc.ravel(),
            "ed": ed.ravel(), "ic": ic.ravel(), "ie": ie.ravel(), "ip_count": counts.ravel()})


# ----------------------------------------------------------------------------- OLS / FE
def _lagged(data: pd.DataFrame, var: str, k: int, entity: str, time: str) -> np.ndarray:
    prev = data[[entity, time, var]].copy()
    prev[time] = prev[time] + k
    m = data[[entity, time]].merge(prev, on=[entity, time], how="left")
    return m[var].to_numpy(dtype=float)


def _regressors(spec: GMMSpec, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    from .gmm import expand_terms
    data = spec.prepare(data).reset_index(drop=True)
    e, t = spec.entity, spec.time
    cols, names = [], []
    for lag in range(1, spec.lags + 1):
        cols.append(_lagged(data, spec.dependent, lag, e, t))
        names.append(f"L{lag}.{spec.dependent}")
    for var, lag in expand_terms(spec.exog, list(data.columns)):
        cols.append(data[var].to_numpy(float) if lag == 0 else _lagged(data, var, lag, e, t))
        names.append(var if lag == 0 else f"L{lag}.{var}")
    X = np.column_stack(cols)
    y = data[spec.dependent].to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(X).all(axis=1)
    return y[ok], X[ok], names, data[spec.cluster or e].to_numpy()[ok]


def _cluster_fit(y, X, groups, k_counted: int) -> tuple[np.ndarray, np.ndarray, int]:
    """OLS with the Stata cluster sandwich: G/(G-1) * (N-1)/(N-K)."""
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    u = y - X @ b
    XtXi = np.linalg.inv(X.T @ X)
    codes, G = pd.factorize(groups)[0], len(pd.unique(groups))
    S = np.zeros((G, X.shape[1]))
    np.add.at(S, codes, X * u[:, None])
    n = len(y)
    V = XtXi @ (S.T @ S) @ XtXi * (G / (G - 1)) * ((n - 1) / (n - k_counted))
    return b, V, G


def pooled_ols(spec: GMMSpec, data: pd.DataFrame) -> tuple[pd.Series, pd.Series, float]:
    """Pooled OLS of the dynamic equation with a constant (``regress ..., vce(cluster)``).
    Returns (params, SEs, critical value of the 95% interval's t(G-1))."""
    y, X, names, g = _regressors(spec, data)
    X = np.column_stack([X, np.ones(len(y))])
    b, V, G = _cluster_fit(y, X, g, X.shape[1])
    idx = names + ["_cons"]
    return pd.Series(b, idx), pd.Series(np.sqrt(np.diag(V)), idx), G - 1


def within_fe(spec: GMMSpec, data: pd.DataFrame) -> tuple[pd.Series, pd.Series, float]:
    """Within (entity FE) estimator of the dynamic equation (``xtreg ..., fe vce(cluster)``:
    K = k + 1, the absorbed effects nested in the clusters are not counted)."""
    y, X, names, g = _regressors(spec, data)
    codes = pd.factorize(g)[0]
    cnt = np.bincount(codes).astype(float)

    def demean(a):
        s = np.zeros((len(cnt),) + a.shape[1:])
        np.add.at(s, codes, a)
        return a - (s / (cnt if a.ndim == 1 else cnt[:, None]))[codes]
    b, V, G = _cluster_fit(demean(y), demean(X), g, X.shape[1] + 1)
    return pd.Series(b, names), pd.Series(np.sqrt(np.diag(V)), names), G - 1


# ----------------------------------------------------------------------------- estimators
@dataclass(frozen=True)
class EstimatorSpec:
    """One estimator of the comparison: ``kind`` ols | fe | gmm; for gmm, ``estimator``
    (system | difference), ``collapse`` and ``lags`` ({instrument variables: [a, b]})
    override the base specification's instrument groups."""
    name: str
    kind: str
    estimator: str = "system"
    collapse: bool | None = None
    lags: Mapping[str, Sequence[int | None]] | None = None
    fit: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EstimatorSpec":
        d = dict(d)
        if d.get("kind") not in ("ols", "fe", "gmm"):
            raise ValueError(f"montecarlo estimator {d.get('name')!r}: kind must be ols, fe or gmm, got {d.get('kind')!r}")
        return cls(name=str(d["name"]), kind=d["kind"], estimator=d.get("estimator", "system"),
                   collapse=d.get("collapse"), lags=d.get("lags"), fit=d.get("fit"))

    def gmm_spec(self, base: GMMSpec) -> GMMSpec:
        groups = []
        lags = {str(k): v for k, v in (self.lags or {}).items()}
        for g in base.gmm:
            key = g.variables if isinstance(g.variables, str) else " ".join(g.variables)
            kw = {}
            if self.collapse is not None:
                kw["collapse"] = bool(self.collapse)
            if key in lags:
                kw["lags"] = tuple(lags.pop(key))
            groups.append(dataclasses.replace(g, **kw))
        if lags:
            raise ValueError(f"montecarlo estimator {self.name!r}: lag limits for {sorted(lags)} "
                             f"match no GMM instrument group of {base.name} "
                             f"({[g.variables for g in base.gmm]})")
        return dataclasses.replace(base, name=self.name, estimator=self.estimator, gmm=groups,
                                   fit_options={**base.fit_options, **(self.fit or {})})


def _estimate(est: EstimatorSpec, spec: GMMSpec, data: pd.DataFrame, level: float
              ) -> tuple[pd.Series, pd.Series, float]:
    if est.kind == "ols":
        b, se, df = pooled_ols(spec, data)
        return b, se, float(stats.t.ppf(0.5 + level / 2, df))
    if est.kind == "fe":
        b, se, df = within_fe(spec, data)
        return b, se, float(stats.t.ppf(0.5 + level / 2, df))
    res = spec.fit(data, **spec.fit_options)
    crit = (stats.t.ppf(0.5 + level / 2, res.df_resid) if res.small
            else stats.norm.ppf(0.5 + level / 2))
    return res.params, res.std_errors, float(crit)


@dataclass(frozen=True)
class _Payload:
    dgp: Eq3DGP
    base: GMMSpec
    estimators: tuple[tuple[EstimatorSpec, GMMSpec], ...]
    terms: tuple[str, ...]
    seed: int
    level: float


def mc_replication(r: int, p: _Payload) -> list[dict]:
    """Simulate panel ``r`` and estimate it with every estimator (one row per term)."""
    try:
        data = p.dgp.simulate(replication_rng(p.seed, PURPOSE, r))
        sim_error = None
    except Exception as exc:  # counted against every estimator, never dropped
        data, sim_error = None, f"simulation failed: {type(exc).__name__}: {exc}"
    rows = []
    for est, spec in p.estimators:
        try:
            if sim_error:
                raise RuntimeError(sim_error)
            b, se, crit = _estimate(est, spec, data, p.level)
            for term in p.terms:
                ok = term in b.index and np.isfinite(b[term]) and np.isfinite(se[term])
                rows.append({"estimator": est.name, "term": term,
                             "coef": float(b[term]) if term in b.index else np.nan,
                             "se": float(se[term]) if term in se.index else np.nan, "crit": crit,
                             "status": "ok" if ok else "failed",
                             "reason": None if ok else f"{term} not estimated or not finite"})
        except Exception as exc:  # one estimator failing must not lose the others
            for term in p.terms:
                rows.append({"estimator": est.name, "term": term, "coef": np.nan, "se": np.nan,
                             "crit": np.nan, "status": "failed",
                             "reason": f"{type(exc).__name__}: {exc}"})
    return rows


# ----------------------------------------------------------------------------- summary
def summarize(draws: pd.DataFrame, truth: Mapping[str, float]) -> pd.DataFrame:
    """Bias, RMSE, coverage per (estimator, term) from rows ``estimator, term, coef, se,
    crit, status`` (formulas in the module docstring)."""
    out = []
    for (est, term), g in draws.groupby(["estimator", "term"], sort=False):
        ok = g[g["status"] == "ok"]
        beta = float(truth[term])
        b, se, crit = (ok[c].to_numpy(float) for c in ("coef", "se", "crit"))
        s = len(b)
        err = b - beta
        out.append({
            "estimator": est, "term": term, "true": beta, "n_ok": s, "n_failed": len(g) - s,
            "mean": float(b.mean()) if s else np.nan,
            "bias": float(err.mean()) if s else np.nan,
            "rmse": float(np.sqrt(np.mean(err ** 2))) if s else np.nan,
            "sd": float(b.std(ddof=1)) if s > 1 else np.nan,
            "mean_se": float(se.mean()) if s else np.nan,
            "coverage": float(np.mean(np.abs(err) <= crit * se)) if s else np.nan})
    return pd.DataFrame(out)


@dataclass
class MonteCarloResults:
    draws: pd.DataFrame
    truth: dict[str, float]
    seed: int
    level: float

    def summary(self) -> pd.DataFrame:
        return summarize(self.draws, self.truth)

    def table(self, terms: Sequence[str] | None = None) -> str:
        s = self.summary()
        if terms:
            s = s[s["term"].isin(terms)]
        return s.to_string(index=False, float_format=lambda v: f"{v:.4f}")


class MonteCarlo:
    """R simulated panels x the configured estimators on a replication runner."""

    def __init__(self, dgp: Eq3DGP, base: GMMSpec, estimators: Sequence[EstimatorSpec | Mapping],
                 *, replications: int, seed: int, level: float = 0.95,
                 terms: Sequence[str] | None = None):
        if seed is None:
            raise ValueError("montecarlo: seed is required (run.seed or --seed)")
        if int(replications) < 1:
            raise ValueError(f"montecarlo replications must be >= 1, got {replications}")
        self.dgp, self.base, self.level = dgp, base, float(level)
        self.estimators = [e if isinstance(e, EstimatorSpec) else EstimatorSpec.from_dict(e)
                           for e in estimators]
        names = [e.name for e in self.estimators]
        if len(set(names)) != len(names):
            raise ValueError(f"montecarlo estimator names repeat: {names}")
        self.replications, self.seed = int(replications), int(seed)
        truth = dgp.truth
        expected = [f"L{l}.{base.dependent}" for l in range(1, base.lags + 1)] + \
            [v for v in base.exog]
        self.terms = tuple(terms) if terms else tuple(t for t in expected if t in truth)
        missing = [t for t in self.terms if t not in truth]
        if missing:
            raise GMMDataError(f"montecarlo: no true value for {missing}; the DGP plants {sorted(truth)}")

    def payload(self) -> _Payload:
        pairs = tuple((e, e.gmm_spec(self.base) if e.kind == "gmm" else self.base)
                      for e in self.estimators)
        return _Payload(self.dgp, self.base, pairs, self.terms, self.seed, self.level)

    def run(self, runner: ReplicationRunner | None = None) -> MonteCarloResults:
        runner = runner or SerialRunner()
        draws = runner.run(mc_replication, self.replications, self.payload(), label="montecarlo")
        n_failed = int((draws["status"] != "ok").sum()) if len(draws) else 0
        if n_failed:
            log.warning("montecarlo: %d failed (estimator, term) fits", n_failed)
        return MonteCarloResults(draws, {t: self.dgp.truth[t] for t in self.terms}, self.seed, self.level)
