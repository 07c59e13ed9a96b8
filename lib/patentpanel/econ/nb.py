"""Negative binomial regressions of counts (study 1, Table 6 and note 22).

``NegativeBinomialFE.fit(method="dummies")`` is NB2 (Var = mu + alpha mu²) with one dummy
per cluster, as Stata's ``nbreg y x i.cluster``, by ``statsmodels``. It starts from a
Poisson fit (statsmodels' default start can run alpha to NaN while still reporting
convergence; such a fit is refused with :class:`NBConvergenceError`), and reports the
overdispersion evidence: mean vs variance of y and the LR test of alpha = 0 against the
Poisson, whose p-value is the boundary-corrected chi-bar-square 0.5*P(chi2(1) >= LR)
(Stata's ``chibar2(01)``).

``method="conditional"`` is the conditional fixed-effects NB of Hausman, Hall and
Griliches (1984), Stata's ``xtnbreg, fe``: y_it ~ NB with lambda_it = exp(x_it'b) and a
cluster dispersion delta_i; conditioning on sum_t y_it removes delta_i, leaving

  ln L_i = lnG(sum lambda) + lnG(sum y + 1) - lnG(sum lambda + sum y)
           + sum_t [lnG(lambda_t + y_t) - lnG(lambda_t) - lnG(y_t + 1)],

maximised here with scipy (analytic gradient and Hessian; SEs from the inverse Hessian).
As in Stata, clusters whose counts are all zero or that have one observation carry no
information and are dropped, and a constant (and other time-invariant regressors) stays
identified — the known caveat (Allison & Waterman 2002) that this is not a true
fixed-effects model. Non-integer counts (fractional counting) enter both likelihoods
through the gamma function; the result notes it.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import digamma, gammaln, polygamma

from .fe import PanelDataError, SingularDesignError, build_terms, validate_panel
from .results import EstimationResult

__all__ = ["NegativeBinomialFE", "NBConvergenceError", "overdispersion", "lr_test_alpha",
           "hhg_loglike", "run_nb_models"]

log = logging.getLogger("patentpanel.econ.nb")


class NBConvergenceError(RuntimeError):
    """The likelihood maximisation did not reach a finite optimum."""


def overdispersion(y: np.ndarray) -> dict[str, float]:
    """Mean, variance (n-1) and their ratio: variance > mean is the overdispersion of note 22."""
    y = np.asarray(y, dtype=float)
    m, v = float(y.mean()), float(y.var(ddof=1))
    return {"mean": m, "variance": v, "variance_to_mean": v / m if m else np.nan}


def lr_test_alpha(llf_nb: float, llf_poisson: float) -> dict[str, float]:
    """LR test of alpha = 0; alpha is on the boundary under H0, so the statistic is
    chi-bar-square: p = 0.5*P(chi2(1) >= LR) for LR > 0, 1 otherwise."""
    lr = max(2.0 * (llf_nb - llf_poisson), 0.0)
    p = 0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0
    return {"lr": lr, "pvalue": p}


def _check_fit(params: np.ndarray, llf: float, what: str) -> None:
    if not np.all(np.isfinite(params)) or not np.isfinite(llf):
        raise NBConvergenceError(f"{what}: the optimiser stopped at a non-finite point "
                                 f"(log-likelihood {llf}, parameters {np.round(params, 6)}) even if it "
                                 f"reported convergence; check the start values and scaling")


def hhg_loglike(beta: np.ndarray, y: np.ndarray, x: np.ndarray, groups: np.ndarray,
                derivs: bool = False):
    """HHG conditional log-likelihood (and optionally its gradient and Hessian)."""
    lam = np.exp(x @ beta)
    codes = groups
    ng = codes.max() + 1
    slam = np.bincount(codes, lam, ng)
    sy = np.bincount(codes, y, ng)
    ll = float(np.sum(gammaln(slam) + gammaln(sy + 1) - gammaln(slam + sy))
               + np.sum(gammaln(lam + y) - gammaln(lam) - gammaln(y + 1)))
    if not derivs:
        return ll
    a = (digamma(slam) - digamma(slam + sy))[codes] + digamma(lam + y) - digamma(lam)
    grad = x.T @ (lam * a)
    # d a_t / d beta = c_g * sum_s lam_s x_s + d_t * lam_t x_t
    c = (polygamma(1, slam) - polygamma(1, slam + sy))
    dt = polygamma(1, lam + y) - polygamma(1, lam)
    lx = x * lam[:, None]
    sum_lx = np.zeros((ng, x.shape[1]))
    np.add.at(sum_lx, codes, lx)
    hess = (x * (lam * a + lam * lam * dt)[:, None]).T @ x
    hess += np.einsum("gi,gj,g->ij", sum_lx, sum_lx, c)
    return ll, grad, hess


class NegativeBinomialFE:
    """NB regression of a count on ``exog`` with cluster fixed effects.

    ``entity=None`` fits a plain NB2 with a constant (no effects).
    ``noninteger``: ``allow`` (quasi-likelihood, noted), ``round`` or ``error``.
    """

    def __init__(self, data: pd.DataFrame, dependent: str, exog: Sequence[str], *,
                 entity: str | None = None, time: str | None = None, constant: bool = True,
                 noninteger: str = "allow"):
        if isinstance(exog, str):
            exog = [exog]
        self.dependent, self.exog, self.entity, self.time = dependent, list(exog), entity, time
        self.constant = constant
        cols = [dependent] + self.exog
        if entity is not None:
            if time is None:
                raise ValueError("NegativeBinomialFE: give `time` with `entity` (one row per entity-period)")
            d = validate_panel(data, cols, entity, time, what="NegativeBinomialFE")
        else:
            missing = [c for c in cols if c not in data.columns]
            if missing:
                raise PanelDataError(f"NegativeBinomialFE: column(s) {missing} not in the data")
            for c in cols:
                if not pd.api.types.is_numeric_dtype(data[c]):
                    raise PanelDataError(f"NegativeBinomialFE: column {c!r} must be numeric, has {data[c].dtype}")
            d = data[cols].astype(float).dropna()
        y = d[dependent].to_numpy()
        if np.any(y < 0):
            row = d.index[np.argmax(y < 0)]
            raise PanelDataError(f"NegativeBinomialFE: {dependent!r} must be a non-negative count; "
                                 f"row {row!r} has {y[y < 0][0]}")
        frac = np.abs(y - np.round(y)) > 1e-9
        self.notes: list[str] = []
        if frac.any():
            if noninteger == "error":
                row = d.index[np.argmax(frac)]
                raise PanelDataError(f"NegativeBinomialFE: {dependent!r} must be integer counts; "
                                     f"row {row!r} has {y[frac][0]} (set noninteger: allow or round)")
            if noninteger == "round":
                d[dependent] = np.round(y)
                self.notes.append(f"{int(frac.sum())} non-integer counts rounded to integers.")
            elif noninteger == "allow":
                self.notes.append(f"{int(frac.sum())} of {len(y)} counts are non-integer (fractional "
                                  f"counting); the likelihood is used as a quasi-likelihood.")
            else:
                raise ValueError(f"noninteger must be allow, round or error, got {noninteger!r}")
        self.data = d

    # ------------------------------------------------------------------ NB2 with dummies
    def _design(self) -> pd.DataFrame:
        x = self.data[self.exog].copy()
        if self.constant:
            x.insert(0, "const", 1.0)
        if self.entity is not None:
            dums = pd.get_dummies(self.data[self.entity], prefix=str(self.entity), drop_first=True,
                                  dtype=float)
            x = pd.concat([x, dums], axis=1)
        rank = np.linalg.matrix_rank(x.to_numpy())
        if rank < x.shape[1]:
            raise SingularDesignError(f"NegativeBinomialFE: the design ({list(self.exog)}, constant"
                                      f"{', cluster dummies' if self.entity else ''}) is collinear: "
                                      f"rank {rank} < {x.shape[1]} (a regressor constant within clusters?)")
        return x

    def fit(self, method: str = "dummies", maxiter: int = 500) -> EstimationResult:
        if method == "dummies":
            return self._fit_dummies(maxiter)
        if method == "conditional":
            return self._fit_conditional(maxiter)
        raise ValueError(f"method must be 'dummies' or 'conditional', got {method!r}")

    def _fit_dummies(self, maxiter: int) -> EstimationResult:
        import statsmodels.api as sm

        x = self._design()
        y = self.data[self.dependent]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pois = sm.Poisson(y, x).fit(method="newton", maxiter=maxiter, disp=False)
        _check_fit(np.asarray(pois.params), float(pois.llf), "Poisson start")
        mu = np.asarray(pois.predict())
        alpha0 = float(np.mean(((y - mu) ** 2 - mu) / mu ** 2))
        alpha0 = alpha0 if np.isfinite(alpha0) and alpha0 > 1e-3 else 0.1
        start = np.append(np.asarray(pois.params), alpha0)
        model = sm.NegativeBinomial(y, x, loglike_method="nb2")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(start_params=start, method="bfgs", maxiter=maxiter, disp=False)
            res = model.fit(start_params=np.asarray(res.params), method="newton", maxiter=100, disp=False)
        params = np.asarray(res.params)
        _check_fit(params, float(res.llf), "NB2")
        if not res.mle_retvals.get("converged", False):
            raise NBConvergenceError("NB2: Newton iterations did not converge")
        alpha = float(params[-1])
        if not alpha > 0:
            raise NBConvergenceError(f"NB2: alpha = {alpha} is not positive")
        cov_all = np.asarray(res.cov_params())
        if not np.all(np.isfinite(cov_all)):
            raise NBConvergenceError("NB2: the Hessian is not invertible at the optimum")
        names = list(x.columns)
        keep = [i for i, nme in enumerate(names) if self.entity is None or not nme.startswith(f"{self.entity}_")]
        p = pd.Series(params[keep], index=[names[i] for i in keep])
        cov = pd.DataFrame(cov_all[np.ix_(keep, keep)], index=p.index, columns=p.index)
        lr = lr_test_alpha(float(res.llf), float(pois.llf))
        info = {
            "estimator": "NB2" + (" with cluster dummies" if self.entity else ""),
            "dependent": self.dependent, "entity_effects": self.entity is not None,
            "time_effects": False, "cov_type": "inverse Hessian (OIM)",
            "loglik": float(res.llf), "loglik_poisson": float(pois.llf), "alpha": alpha,
            "alpha_se": float(np.sqrt(cov_all[-1, -1])),
            "lnalpha": float(np.log(alpha)), "lnalpha_se": float(np.sqrt(cov_all[-1, -1]) / alpha),
            "lr_alpha": lr["lr"], "lr_alpha_pvalue": lr["pvalue"],
            **{f"y_{k}": v for k, v in overdispersion(self.data[self.dependent]).items()},
        }
        notes = list(self.notes) + [
            f"LR test of alpha=0: chibar2(01) = {lr['lr']:.3f}, p = {lr['pvalue']:.4g}; "
            f"mean of {self.dependent} {info['y_mean']:.3f} vs variance {info['y_variance']:.3f}."]
        if self.entity is not None:
            notes.append("Cluster effects as dummies (nbreg y x i.cluster); the constant is the base cluster's.")
        return EstimationResult(params=p, cov=cov, nobs=int(res.nobs), model_info=info, df=None,
                                notes=notes, extra={"full_params": pd.Series(params, index=names + ["alpha"])})

    # ------------------------------------------------------------------ HHG conditional FE
    def _fit_conditional(self, maxiter: int) -> EstimationResult:
        if self.entity is None:
            raise ValueError("method='conditional' needs an entity (cluster) column")
        d = self.data
        y_all = d[self.dependent].to_numpy()
        grp = d[self.entity]
        sums = pd.Series(y_all, index=d.index).groupby(grp).transform("sum")
        sizes = grp.groupby(grp).transform("size")
        keep = (sums > 0) & (sizes > 1)
        dropped_groups = int(grp[~keep].nunique())
        if dropped_groups:
            log.info("conditional NB: dropped %d clusters (all-zero counts or one observation)", dropped_groups)
        d = d.loc[keep]
        if d.empty:
            raise PanelDataError("conditional NB: no cluster has a positive count and two observations")
        x = d[self.exog].copy()
        if self.constant:
            x.insert(0, "const", 1.0)
        xv, y = x.to_numpy(), d[self.dependent].to_numpy()
        codes = pd.factorize(d[self.entity])[0]
        if np.linalg.matrix_rank(xv) < xv.shape[1]:
            raise SingularDesignError(f"conditional NB: regressors {list(x.columns)} are collinear")
        b0 = np.zeros(xv.shape[1])
        if self.constant:
            b0[0] = np.log(max(y.mean(), 1e-3))

        def fun(b):
            ll, g, h = hhg_loglike(b, y, xv, codes, derivs=True)
            return -ll, -g, -h

        cache: dict[str, Any] = {}

        def f(b):
            cache["v"] = fun(b)
            cache["b"] = b.copy()
            return cache["v"][0]

        def jac(b):
            return fun(b)[1] if cache.get("b") is None or not np.array_equal(cache["b"], b) else cache["v"][1]

        def hess(b):
            return fun(b)[2]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize.minimize(f, b0, jac=jac, hess=hess, method="trust-exact",
                                    options={"maxiter": maxiter, "gtol": 1e-9})
        ll, grad, h = hhg_loglike(opt.x, y, xv, codes, derivs=True)
        _check_fit(opt.x, ll, "conditional NB")
        if np.max(np.abs(grad)) > 1e-4 * max(1.0, abs(ll)):
            raise NBConvergenceError(f"conditional NB: not converged (max |gradient| {np.max(np.abs(grad)):.3g}); "
                                     f"{opt.message}")
        try:
            cov = np.linalg.inv(-h)
        except np.linalg.LinAlgError:
            raise SingularDesignError("conditional NB: singular Hessian at the optimum") from None
        if np.any(np.diag(cov) <= 0):
            raise NBConvergenceError("conditional NB: the Hessian is not negative definite at the optimum")
        names = list(x.columns)
        info = {
            "estimator": "Conditional FE negative binomial (Hausman-Hall-Griliches; xtnbreg, fe)",
            "dependent": self.dependent, "entity_effects": True, "time_effects": False,
            "cov_type": "inverse Hessian (OIM)", "loglik": ll, "n_groups": int(codes.max() + 1),
            "groups_dropped": dropped_groups, "iterations": int(opt.nit),
        }
        notes = list(self.notes) + [
            "Conditional FE NB (HHG 1984): the constant is identified, so it is not a true "
            "fixed-effects model (Allison & Waterman 2002)."]
        if dropped_groups:
            notes.append(f"{dropped_groups} clusters with all-zero counts or one observation dropped.")
        return EstimationResult(params=pd.Series(opt.x, index=names),
                                cov=pd.DataFrame(cov, index=names, columns=names), nobs=len(y),
                                model_info=info, df=None, notes=notes)


def run_nb_models(panel: pd.DataFrame, nb_cfg: Mapping[str, Any]) -> dict[str, EstimationResult]:
    """Estimate the ``estimate.nb`` models (study 1, Table 6)."""
    entity, time = nb_cfg["entity"], nb_cfg["time"]
    out: dict[str, EstimationResult] = {}
    for spec in nb_cfg.get("models", []):
        terms = list(spec["terms"])
        base = sorted({f.split(".")[-1] for t in terms for f in t.split(":")})
        sub = validate_panel(panel, [nb_cfg["dependent"]] + base, entity, time, what=spec["name"])
        src = sub.copy()
        if nb_cfg.get("center_interactions", False):
            for v in {f for t in terms if ":" in t for f in t.split(":")}:
                src[v] = src[v] - src[v].mean()
        cols = build_terms(src, terms, entity=entity, time=time)
        for t in terms:
            if ":" not in t:
                cols[t] = sub[t]
        data = pd.concat([sub[[entity, time, nb_cfg["dependent"]]], cols], axis=1)
        model = NegativeBinomialFE(data, nb_cfg["dependent"], terms, entity=entity, time=time,
                                   noninteger=nb_cfg.get("noninteger", "allow"))
        res = model.fit(method=nb_cfg.get("method", "dummies"), maxiter=int(nb_cfg.get("max_iter", 500)))
        res.model_info.update({"name": spec["name"], "table": "Table 6 (study 1)"})
        if nb_cfg.get("center_interactions", False) and any(":" in t for t in terms):
            res.notes.append("Interaction factors centred on their sample means before multiplying.")
        out[spec["name"]] = res
    return out
