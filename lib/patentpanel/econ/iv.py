"""2SLS with city and year fixed effects, clustered errors and the weak-instrument and
over-identification diagnostics (study 2, Table 7).

Estimation: the city and year effects are partialled out of every variable (exact least
squares on the dummies, so unbalanced panels are right), then ``linearmodels.IV2SLS``
runs on the within data without a constant and gives the raw cluster sandwich. The
small-sample factor is that of :mod:`patentpanel.econ.fe`, with k = exogenous +
endogenous regressors; the absorbed effects count as in the chosen convention
(``xtreg``: T-1 year effects + constant; ``reghdfe``: T-1; ``lsdv``: all).

Diagnostics (ivreg2/xtivreg2 definitions, on the partialled data; L1 excluded
instruments, K1 endogenous regressors, K_fs = the first stage's regressor count under the
convention):

- first stage per endogenous regressor: cluster-robust Wald F of the excluded
  instruments (same small-sample factor), partial R²;
- Cragg-Donald Wald F: mineig((X'M_Z X)^-1 X'P_Z X) (N - K_lsdv)/L1 (homoskedastic, every
  effect counted, as xtivreg2 does);
- Kleibergen-Paap (2006) rk Wald statistic for rank K1-1, implemented here, and its F
  form chi2/(N-1) (N-K_fs) (G-1)/G / L1 (ivreg2's conversion with clusters). With one
  endogenous regressor and one instrument it equals the squared clustered first-stage t;
  with a homoskedastic covariance it equals the Cragg-Donald statistic;
- over-identified: Sargan N u'P_Z u / u'u, and Hansen's J at the two-step efficient GMM
  estimate with the cluster-robust weight from the 2SLS residuals (ivreg2's J).

Historical (time-invariant) instruments are absorbed by the city effects, so they enter
Nunn-Qian style, z_it = hist_i * s_(t-lag), see :func:`nunn_qian_instrument`.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from .fe import (PanelDataError, SingularDesignError, SMALL_SAMPLE_CONVENTIONS, _n_components,
                 _nested, absorb_two_way, build_terms, small_sample_factor, validate_panel)
from .results import EstimationResult

__all__ = ["FEIV2SLS", "kleibergen_paap_rk", "cragg_donald", "nunn_qian_instrument", "run_iv_models"]

log = logging.getLogger("patentpanel.econ.iv")


def _sym_sqrt(a: np.ndarray, inverse: bool = False) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    if np.any(w <= 0):
        raise SingularDesignError("a moment matrix of the instruments/endogenous regressors is singular")
    return (v * (w ** (-0.5 if inverse else 0.5))) @ v.T


def kleibergen_paap_rk(x: np.ndarray, z: np.ndarray, clusters: np.ndarray | None = None) -> float:
    """Kleibergen-Paap (2006) rk Wald statistic that rank(Pi) = K1-1 in x = z Pi + v.

    ``x`` (n x K1) and ``z`` (n x L1) must already be residualised on the included
    exogenous regressors and the fixed effects. ``clusters=None`` uses the homoskedastic
    covariance of vec(Pi_hat) (then the statistic is Cragg-Donald's N*mineig); otherwise
    the cluster-robust one (no small-sample factor). Returns the chi2(L1-K1+1) statistic.
    """
    x, z = np.atleast_2d(x.T).T, np.atleast_2d(z.T).T
    n, k1 = x.shape
    l1 = z.shape[1]
    if l1 < k1:
        raise SingularDesignError(f"under-identified: {l1} excluded instruments for {k1} endogenous")
    zz = z.T @ z
    pi = linalg.solve(zz, z.T @ x, assume_a="pos")
    v = x - z @ pi
    g_mat = _sym_sqrt(zz / n)
    f_mat = _sym_sqrt(v.T @ v / n, inverse=True)
    theta = g_mat @ pi @ f_mat.T
    # covariance of vec(Pi_hat) (column-major vec), then of vec(Theta)
    zzi = np.linalg.inv(zz)
    if clusters is None:
        var_pi = np.kron(v.T @ v / n, zzi)
    else:
        scores = np.einsum("ik,il->ikl", v, z).reshape(n, k1 * l1)  # row i: vec(z_i v_i') col-major
        # einsum gives [k, l] = v_k z_l; column-major vec of (L1 x K1) z v' is index k*l1 + l
        codes = pd.factorize(clusters)[0]
        sums = np.zeros((codes.max() + 1, k1 * l1))
        np.add.at(sums, codes, scores)
        meat = sums.T @ sums
        bread = np.kron(np.eye(k1), zzi)
        var_pi = bread @ meat @ bread
    fg = np.kron(f_mat, g_mat)
    var_theta = fg @ var_pi @ fg.T
    u, s, vt = np.linalg.svd(theta, full_matrices=True)
    vv = vt.T
    q = k1 - 1
    u12, u22 = u[:q, q:], u[q:, q:]
    v12, v22 = vv[:q, q:], vv[q:, q:]
    a_perp = np.vstack([u12, u22]) @ np.linalg.inv(u22) @ _psd_sqrt(u22 @ u22.T)
    b_perp = _psd_sqrt(v22 @ v22.T) @ np.linalg.inv(v22.T) @ np.hstack([v12.T, v22.T])
    lam = a_perp.T @ theta @ b_perp.T
    kron = np.kron(b_perp, a_perp.T)
    omega = kron @ var_theta @ kron.T
    vec_lam = lam.reshape(-1, order="F")
    return float(vec_lam @ np.linalg.solve(omega, vec_lam))


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def cragg_donald(x: np.ndarray, z: np.ndarray) -> float:
    """mineig((X'M_Z X)^-1 X'P_Z X) on partialled data (ivreg2's ``cd``; N*cd is the Wald chi2)."""
    x, z = np.atleast_2d(x.T).T, np.atleast_2d(z.T).T
    pz_x = z @ np.linalg.lstsq(z, x, rcond=None)[0]
    mz_x = x - pz_x
    eig = linalg.eigvals(x.T @ pz_x, mz_x.T @ mz_x)
    return float(np.min(eig.real))


def nunn_qian_instrument(panel: pd.DataFrame, historical: str, *, entity: str, time: str,
                         kind: str = "leave_one_out_mean", column: str = "", endog: str | None = None,
                         lag: int = 1) -> tuple[pd.Series, str]:
    """z_it = hist_i * s_(t-lag): a time-invariant historical variable times a national series.

    ``kind='column'``: s_t is a year-level column of the panel (one value per year);
    ``kind='leave_one_out_mean'``: s_it is the mean of ``endog`` over the other cities in
    year t. Returns the instrument (NaN where the lagged series is unavailable) and a note
    describing the construction.
    """
    for c in [historical] + ([column] if kind == "column" else [endog]):
        if not c or c not in panel.columns:
            raise PanelDataError(f"nunn_qian_instrument: column {c!r} not in the panel")
    hist = panel.groupby(entity)[historical].nunique(dropna=True)
    if (hist > 1).any():
        raise PanelDataError(f"nunn_qian_instrument: {historical!r} varies over time within "
                             f"{entity} {hist[hist > 1].index[0]!r}; expected a historical "
                             f"(time-invariant) value")
    h = panel.groupby(entity)[historical].transform("first")
    if kind == "column":
        per_year = panel.groupby(time)[column].nunique(dropna=True)
        if (per_year > 1).any():
            raise PanelDataError(f"nunn_qian_instrument: {column!r} differs across cities in "
                                 f"year {per_year[per_year > 1].index[0]}; expected a national series")
        series = panel.groupby(time)[column].first()
        s = panel[time].map(lambda t: series.get(t - lag, np.nan)).astype(float)
        what = f"national series {column!r} in year t-{lag}"
    elif kind == "leave_one_out_mean":
        tot = panel.groupby(time)[endog].transform("sum")
        cnt = panel.groupby(time)[endog].transform("count")
        loo = ((tot - panel[endog]) / (cnt - 1)).rename("_loo")
        tmp = panel[[entity, time]].assign(_loo=loo)
        s = build_terms(tmp, [f"L{lag}._loo"], entity=entity, time=time)[f"L{lag}._loo"] if lag \
            else loo
        what = f"mean of {endog!r} over the other cities in year t-{lag}"
    else:
        raise ValueError(f"nunn_qian_instrument: kind must be 'column' or 'leave_one_out_mean', got {kind!r}")
    note = (f"Instrument {historical} x s: the historical {historical!r} (time-invariant, so its "
            f"level is absorbed by the city effects) times s = {what} (Nunn-Qian).")
    return (h * s).rename(f"{historical}_x_s"), note


class FEIV2SLS:
    """y = X1 b1 + X2 b2 + mu_i + lambda_t + e with X2 endogenous, instruments Z (excluded)."""

    def __init__(self, data: pd.DataFrame, dependent: str, exog: Sequence[str],
                 endog: Sequence[str], instruments: Sequence[str], *, entity: str, time: str,
                 cluster: str | None = None):
        self.dependent = dependent
        self.exog, self.endog, self.instruments = list(exog), list(endog), list(instruments)
        if not self.endog:
            raise ValueError("FEIV2SLS: no endogenous regressor given")
        if len(self.instruments) < len(self.endog):
            raise SingularDesignError(f"FEIV2SLS: under-identified: {len(self.instruments)} "
                                      f"instruments for {len(self.endog)} endogenous regressors")
        overlap = set(self.instruments) & set(self.exog + self.endog + [dependent])
        if overlap:
            raise ValueError(f"FEIV2SLS: {sorted(overlap)} is both an excluded instrument and a regressor")
        self.entity, self.time, self.cluster = entity, time, cluster or entity
        cols = [dependent] + self.exog + self.endog + self.instruments
        self.data = validate_panel(data, cols, entity, time, what="FEIV2SLS")
        if self.cluster not in (entity, time):
            if self.cluster not in data.columns:
                raise PanelDataError(f"FEIV2SLS: cluster column {self.cluster!r} not in the panel")
            self.data[self.cluster] = data.loc[self.data.index, self.cluster]
        d = self.data
        self._ent, self._tim = d[entity].to_numpy(), d[time].to_numpy()
        w = absorb_two_way(d[cols].to_numpy(), self._ent, self._tim)
        self._w = pd.DataFrame(w, columns=cols, index=d.index)
        norms = np.sqrt((w ** 2).mean(axis=0))
        scale = np.maximum(np.abs(d[cols].to_numpy()).max(axis=0), 1e-300)
        for c, nrm, sc in zip(cols, norms, scale):
            if nrm <= 1e-9 * sc:
                raise SingularDesignError(f"FEIV2SLS: {c!r} is absorbed by the city/year fixed effects "
                                          f"(time-invariant?); a historical instrument must be "
                                          f"interacted with a time-varying series")
        full = w[:, 1:] / norms[1:]
        if np.linalg.matrix_rank(full[:, :len(self.exog) + len(self.endog)]) < len(self.exog) + len(self.endog):
            raise SingularDesignError("FEIV2SLS: the regressors are collinear after removing the effects")
        zfull = np.hstack([full[:, :len(self.exog)], full[:, len(self.exog) + len(self.endog):]])
        if np.linalg.matrix_rank(zfull) < zfull.shape[1]:
            raise SingularDesignError("FEIV2SLS: the instruments are collinear after removing the effects")

    def _denominator_k(self, convention: str, k: int) -> int:
        """N - (this) is the residual df of a regression with k within-regressors."""
        n_t = int(pd.unique(self._tim).size)
        n_e = int(pd.unique(self._ent).size)
        comps = _n_components(self._ent, self._tim)
        nested = _nested(self._ent, self.data[self.cluster].to_numpy())
        if convention == "xtreg":
            return k + n_t
        if convention == "reghdfe":
            df_a = (0 if nested else n_e) + (n_t - comps)
            return k + df_a + (1 if df_a == 0 else 0)
        return k + n_e + n_t - comps  # lsdv / homoskedastic

    def fit(self, small_sample: str = "xtreg") -> EstimationResult:
        from linearmodels.iv import IV2SLS

        if small_sample not in SMALL_SAMPLE_CONVENTIONS:
            raise ValueError(f"small_sample must be one of {SMALL_SAMPLE_CONVENTIONS}, got {small_sample!r}")
        w, d = self._w, self.data
        clusters = pd.factorize(d[self.cluster])[0]
        g = int(clusters.max() + 1)
        n = len(w)
        n_e, n_t = int(pd.unique(self._ent).size), int(pd.unique(self._tim).size)
        nested = _nested(self._ent, d[self.cluster].to_numpy())
        comps = _n_components(self._ent, self._tim)
        k = len(self.exog) + len(self.endog)
        factor = small_sample_factor(small_sample, nobs=n, n_clusters=g, k=k, n_entities=n_e,
                                     n_periods=n_t, entity_nested=nested, n_components=comps)
        exog = w[self.exog] if self.exog else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = IV2SLS(w[self.dependent], exog, w[self.endog], w[self.instruments]).fit(
                cov_type="clustered", clusters=clusters, debiased=False)
        params = res.params.rename(None)
        cov = res.cov * factor
        u = np.asarray(res.resids)

        # first stages and weak-identification statistics on data partialled on X1 too
        x2 = w[self.endog].to_numpy()
        zx = w[self.instruments].to_numpy()
        x1 = w[self.exog].to_numpy() if self.exog else np.zeros((n, 0))
        if x1.shape[1]:
            coef = np.linalg.lstsq(x1, np.hstack([x2, zx]), rcond=None)[0]
            part = np.hstack([x2, zx]) - x1 @ coef
        else:
            part = np.hstack([x2, zx])
        x2p, zp = part[:, :len(self.endog)], part[:, len(self.endog):]
        l1 = zp.shape[1]
        k_fs = self._denominator_k(small_sample, l1 + len(self.exog)) if small_sample != "none" else 0
        k_full = self._denominator_k("lsdv", l1 + len(self.exog))
        first = {}
        for j, name in enumerate(self.endog):
            first[name] = self._first_stage(x2p[:, j], zp, clusters, small_sample, g, n)
        cd = cragg_donald(x2p, zp)
        cd_f = cd * (n - k_full) / l1
        kp = kleibergen_paap_rk(x2p, zp, clusters)
        kp_f = kp / (n - 1) * (n - k_fs) * (g - 1) / g / l1 if small_sample != "none" else kp / l1
        overid: dict[str, Any] = {}
        if l1 > len(self.endog):
            zall = np.hstack([x1, zx])
            pu = zall @ np.linalg.lstsq(zall, u, rcond=None)[0]
            sargan = n * float(u @ pu) / float(u @ u)
            dfo = l1 - len(self.endog)
            j_stat = self._hansen_j(w, zall, u, clusters)
            overid = {"sargan": sargan, "sargan_pvalue": float(stats.chi2.sf(sargan, dfo)),
                      "hansen_j": j_stat, "hansen_j_pvalue": float(stats.chi2.sf(j_stat, dfo)),
                      "overid_df": dfo}
        y = d[self.dependent].to_numpy()
        rss = float(u @ u)
        yw = w[self.dependent].to_numpy()
        info = {
            "estimator": "2SLS with city and year fixed effects", "dependent": self.dependent,
            "entity_effects": True, "time_effects": True, "cov_type": f"clustered by {self.cluster}",
            "small_sample": small_sample, "small_sample_factor": factor, "n_clusters": g,
            "rsquared": 1 - rss / float(((y - y.mean()) ** 2).sum()),
            "rsquared_within": 1 - rss / float(yw @ yw),
            "endog": self.endog, "instruments": self.instruments,
            "cragg_donald_f": cd_f, "kleibergen_paap_rk_wald": kp,
            "kleibergen_paap_rk_wald_pvalue": float(stats.chi2.sf(kp, l1 - len(self.endog) + 1)),
            "kleibergen_paap_f": kp_f, **overid,
        }
        notes = [f"Standard errors clustered by {self.cluster} ({g} clusters), small-sample "
                 f"convention {small_sample!r}; first-stage F and Kleibergen-Paap rk Wald F use the "
                 f"same convention; Cragg-Donald F counts every fixed effect."]
        return EstimationResult(params=params, cov=cov, nobs=n, model_info=info, df=g - 1,
                                notes=notes, extra={"first_stage": first})

    def _first_stage(self, xj, zp, clusters, convention, g, n) -> dict[str, Any]:
        coef = np.linalg.lstsq(zp, xj, rcond=None)[0]
        e = xj - zp @ coef
        bread = np.linalg.inv(zp.T @ zp)
        sums = np.zeros((g, zp.shape[1]))
        np.add.at(sums, clusters, zp * e[:, None])
        raw = bread @ (sums.T @ sums) @ bread
        l1 = zp.shape[1]
        k_fs = self._denominator_k(convention, l1 + len(self.exog)) if convention != "none" else 0
        q = (g / (g - 1)) * ((n - 1) / (n - k_fs)) if convention != "none" else 1.0
        v = raw * q
        wald = float(coef @ np.linalg.solve(v, coef))
        f = wald / l1
        partial_r2 = 1 - float(e @ e) / float(xj @ xj)
        return {"params": pd.Series(coef, index=self.instruments),
                "std_errors": pd.Series(np.sqrt(np.diag(v)), index=self.instruments),
                "f_stat": f, "f_pvalue": float(stats.f.sf(f, l1, g - 1)), "partial_r2": partial_r2}

    def _hansen_j(self, w, zall, u, clusters) -> float:
        """ivreg2's J: two-step efficient GMM with the cluster weight from the 2SLS residuals."""
        n = len(u)
        g = clusters.max() + 1
        sums = np.zeros((g, zall.shape[1]))
        np.add.at(sums, clusters, zall * u[:, None])
        s = sums.T @ sums / n
        x = np.hstack([w[self.exog].to_numpy(), w[self.endog].to_numpy()]) if self.exog else \
            w[self.endog].to_numpy()
        y = w[self.dependent].to_numpy()
        sinv = np.linalg.pinv(s)
        zx, zy = zall.T @ x / n, zall.T @ y / n
        b = np.linalg.solve(zx.T @ sinv @ zx, zx.T @ sinv @ zy)
        gbar = zall.T @ (y - x @ b) / n
        return float(n * gbar @ sinv @ gbar)


def run_iv_models(panel: pd.DataFrame, iv_cfg: Mapping[str, Any], fe_cfg: Mapping[str, Any]
                  ) -> dict[str, EstimationResult]:
    """Estimate the ``estimate.iv`` models with the controls/keys of ``estimate.fe``."""
    entity, time = fe_cfg["entity"], fe_cfg["time"]
    ns = dict(iv_cfg.get("national_series") or {})
    out: dict[str, EstimationResult] = {}
    for spec in iv_cfg.get("models", []):
        data = panel.copy()
        instruments, notes = [], []
        for hist in spec["historical"]:
            z, note = nunn_qian_instrument(data, hist, entity=entity, time=time,
                                           kind=ns.get("kind", "leave_one_out_mean"),
                                           column=ns.get("column", ""), endog=spec["endog"][0],
                                           lag=int(ns.get("lag", 1)))
            data[z.name] = z
            instruments.append(z.name)
            notes.append(note)
        controls = list(spec.get("controls", fe_cfg.get("controls", [])))
        model = FEIV2SLS(data, spec.get("dependent", fe_cfg["dependent"]), controls,
                         spec["endog"], instruments, entity=entity, time=time,
                         cluster=fe_cfg.get("cluster") or entity)
        res = model.fit(small_sample=iv_cfg.get("small_sample", fe_cfg.get("small_sample", "xtreg")))
        res.notes.extend(notes)
        res.model_info.update({"name": spec["name"], "table": "Table 7"})
        out[spec["name"]] = res
    return out
