"""Negative binomial regressions of counts (study 1, Table 6 and note 22).

``NegativeBinomialFE.fit(method="dummies")`` is NB2 (Var = mu + alpha mu²) with one dummy
per cluster, as Stata's ``nbreg y x i.cluster``. It is maximised here by Newton's method
with analytic derivatives in (b, ln alpha) -- alpha on the log scale stays positive and
the steps stay finite -- on a centred and scaled copy of the continuous regressors (an
exact linear reparametrisation, undone for the reported estimates and covariance). It
starts from a Poisson fit with the same dummies and the auxiliary-regression alpha
(Cameron & Trivedi 1990). statsmodels' ``NegativeBinomial`` path (BFGS in ln alpha, then
Newton in alpha) fails on the cluster panels of study 1: when the counts are not
overdispersed given the cluster effects the maximum is at alpha = 0, BFGS drives
ln alpha towards -inf and the Newton polish in alpha steps below zero to NaN while
reporting convergence. Here that case is recognised as the Kuhn-Tucker point on the
boundary (score of alpha at 0 <= 0): NB2 reduces to the Poisson, whose estimates are
reported with ``alpha_at_boundary`` and chibar2(01) = 0, as Stata's ``nbreg`` prints.
Clusters whose counts are all zero are dropped (their dummy has no finite MLE). A fit
that ends at a non-finite point is refused with :class:`NBConvergenceError`. The
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
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import digamma, gammaln, polygamma

from .fe import PanelDataError, SingularDesignError, build_terms, validate_panel
from .results import EstimationResult

__all__ = ["NegativeBinomialFE", "NBConvergenceError", "overdispersion", "lr_test_alpha",
           "hhg_loglike", "nb2_loglike", "run_nb_models"]

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

# ln(alpha) below which NB2 is numerically the Poisson (alpha*mu < 1e-5 for counts up to
# 1e3): the optimum is then taken to be on the boundary alpha = 0.
LN_ALPHA_FLOOR = float(np.log(1e-8))


@dataclass
class _Optimum:
    x: np.ndarray
    ll: float
    grad: np.ndarray
    hess: np.ndarray
    iterations: int
    converged: bool


def _newton(fun: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]], x0: np.ndarray,
            maxiter: int, what: str, stop: Callable[[np.ndarray], bool] | None = None) -> _Optimum:
    """Maximise ``fun`` (log-likelihood, gradient, Hessian) by Newton steps with a
    backtracking (Armijo) line search; an indefinite Hessian gets a ridge (Levenberg) so
    every step ascends.  Converged when the Newton decrement g'(-H)^-1 g is at rounding
    level.  ``stop(x)`` ends the iteration early (converged=False), e.g. at a boundary."""
    x = np.asarray(x0, dtype=float).copy()
    ll, g, H = fun(x)
    if not (np.isfinite(ll) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        raise NBConvergenceError(f"{what}: the log-likelihood is not finite at the start values")
    for it in range(1, maxiter + 1):
        if stop is not None and stop(x):
            return _Optimum(x, ll, g, H, it - 1, False)
        A = -H
        ridge = 0.0
        scale = float(np.max(np.abs(np.diag(A)))) or 1.0
        while True:
            try:
                c = np.linalg.cholesky(A + ridge * np.eye(len(x)))
                break
            except np.linalg.LinAlgError:
                ridge = max(ridge * 10.0, 1e-10 * scale)
                if ridge > 1e10 * scale:
                    raise NBConvergenceError(f"{what}: no ascent direction (Hessian not usable)") from None
        step = np.linalg.solve(c.T, np.linalg.solve(c, g))
        decrement = float(g @ step)
        if ridge == 0.0 and decrement <= 1e-15 * (1.0 + abs(ll)):
            return _Optimum(x, ll, g, H, it - 1, True)
        t = 1.0
        while t > 1e-12:
            xn = x + t * step
            lln, gn, Hn = fun(xn)
            if np.isfinite(lln) and np.all(np.isfinite(gn)) and np.all(np.isfinite(Hn)) \
                    and lln >= ll + 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            if ridge == 0.0 and decrement <= 1e-8 * (1.0 + abs(ll)):
                return _Optimum(x, ll, g, H, it - 1, True)  # at the rounding floor of ll
            raise NBConvergenceError(f"{what}: the line search found no ascent after {it} iterations "
                                     f"(Newton decrement {decrement:.3g}); check the scaling of the data")
        x, ll, g, H = xn, lln, gn, Hn
    raise NBConvergenceError(f"{what}: not converged after {maxiter} Newton iterations "
                             f"(max |gradient| {np.max(np.abs(g)):.3g})")


def _neg_inverse(H: np.ndarray, what: str) -> np.ndarray:
    """(-H)^-1, refusing a Hessian that is not negative definite."""
    try:
        c = np.linalg.cholesky(-H)
    except np.linalg.LinAlgError:
        raise NBConvergenceError(f"{what}: the Hessian is not negative definite at the optimum") from None
    ci = np.linalg.inv(c)
    return ci.T @ ci


def _poisson_loglike(b: np.ndarray, y: np.ndarray, X: np.ndarray):
    eta = X @ b
    mu = np.exp(eta)
    ll = float(np.sum(y * eta - mu - gammaln(y + 1)))
    return ll, X.T @ (y - mu), -(X * mu[:, None]).T @ X


def _lgamma_ratio(y: np.ndarray, r: float) -> np.ndarray:
    """ln Gamma(y + r) - ln Gamma(r) without the cancellation of the two large terms when
    r = 1/alpha is large (near the Poisson limit each is ~ r ln r while the difference is
    ~ y ln r; the naive difference then carries errors ~1e-7 per observation, enough to
    fake an interior optimum): Stirling's series for r >= 1e3 (truncation error below
    1e-24), the plain difference otherwise."""
    if r < 1e3:
        return gammaln(y + r) - gammaln(r)
    z = y + r

    def c(v):
        v2 = v * v
        return (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / (1260.0 * v2)) / v2) / v
    return (r - 0.5) * np.log1p(y / r) + y * np.log(z) - y + (c(z) - c(r))


def _polygamma_ratios(y: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """psi(y + r) - psi(r) and psi'(y + r) - psi'(r), with the asymptotic series for
    r >= 1e3 for the same reason as :func:`_lgamma_ratio` (the score and Hessian in
    ln alpha multiply them by r and r^2)."""
    if r < 1e3:
        return digamma(y + r) - digamma(r), polygamma(1, y + r) - polygamma(1, r)
    r = np.float64(r)
    z = y + r
    d1 = -y / (r * z)                            # 1/z - 1/r
    d2 = -y * (z + r) / (r * r * z * z)          # 1/z^2 - 1/r^2
    d3 = -y * (z * z + z * r + r * r) / (r ** 3 * z ** 3)
    d4, d5, d6, d7 = (np.power(z, -k) - np.power(r, -k) for k in (4.0, 5.0, 6.0, 7.0))
    psi = np.log1p(y / r) - 0.5 * d1 - d2 / 12.0 + d4 / 120.0 - d6 / 252.0
    tri = d1 + 0.5 * d2 + d3 / 6.0 - d5 / 30.0 + d7 / 42.0
    return psi, tri


def nb2_loglike(theta: np.ndarray, y: np.ndarray, X: np.ndarray):
    """NB2 log-likelihood in (b, ln alpha), Var(y) = mu + alpha mu^2, with its analytic
    gradient and Hessian (r = 1/alpha)."""
    b, s = theta[:-1], float(theta[-1])
    eta = X @ b
    mu = np.exp(eta)
    a = np.exp(s)
    r = 1.0 / a
    amu = a * mu
    l1 = np.log1p(amu)
    ll = float(np.sum(_lgamma_ratio(y, r) - gammaln(y + 1) - r * l1 + y * (s + eta - l1)))
    q = 1.0 + amu
    g_eta = (y - mu) / q
    h_eta = -mu * (1.0 + a * y) / q ** 2
    psi, tri = _polygamma_ratios(y, r)
    d_r = psi - l1 + (mu - y) / (r + mu)
    d_rr = tri + mu / (r * (r + mu)) - (mu - y) / (r + mu) ** 2
    h_s_eta = -a * mu * (y - mu) / q ** 2  # d2 ll / d ln(alpha) d eta
    k = X.shape[1]
    grad = np.empty(k + 1)
    grad[:k] = X.T @ g_eta
    grad[k] = -r * float(np.sum(d_r))
    H = np.empty((k + 1, k + 1))
    H[:k, :k] = (X * h_eta[:, None]).T @ X
    H[:k, k] = H[k, :k] = X.T @ h_s_eta
    H[k, k] = float(np.sum(r * r * d_rr + r * d_r))
    return ll, grad, H


def _scaling(X: np.ndarray, names: Sequence[str], constant: bool, exog: Sequence[str]) -> np.ndarray:
    """S with X @ S = the design with each continuous regressor centred (when there is a
    constant) and scaled to unit SD; dummies and the constant are left as they are."""
    S = np.eye(X.shape[1])
    for nme in exog:
        j = list(names).index(nme)
        col = X[:, j]
        sd = float(col.std())
        if sd > 0:
            S[j, j] = 1.0 / sd
            if constant:
                S[0, j] = -float(col.mean()) / sd
    return S


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
    def _design(self, data: pd.DataFrame) -> pd.DataFrame:
        x = data[self.exog].copy()
        if self.constant:
            x.insert(0, "const", 1.0)
        if self.entity is not None:
            dums = pd.get_dummies(data[self.entity], prefix=str(self.entity), drop_first=True,
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
        data = self.data
        self.dropped_clusters = 0
        if self.entity is not None:
            zero = data.groupby(self.entity)[self.dependent].transform("sum") <= 0
            if zero.any():
                self.dropped_clusters = int(data.loc[zero, self.entity].nunique())
                log.info("NB2: dropped %d cluster(s) whose counts are all zero", self.dropped_clusters)
                data = data.loc[~zero]
        x = self._design(data)
        y = data[self.dependent].to_numpy()
        names = list(x.columns)
        X = x.to_numpy()
        # Linear reparametrisation Xs = X S (continuous regressors centred and scaled,
        # dummies untouched): the MLE is invariant, b = S g and Cov(b) = S Cov(g) S', but
        # Newton works on a well-conditioned Hessian (raw log regressors like ed ~ 12 and
        # ie ~ 14 make the constant's column dominate: condition numbers ~1e3-1e6).
        S = _scaling(X, names, self.constant, self.exog)
        Xs = X @ S
        # 1. Poisson (globally concave): the start values, and alpha's boundary model.
        g0 = np.zeros(Xs.shape[1])
        if self.constant:
            g0[0] = np.log(max(float(y.mean()), 1e-3))
        pois = _newton(lambda g: _poisson_loglike(g, y, Xs), g0, maxiter, "Poisson start")
        mu = np.exp(Xs @ pois.x)
        # 2. NB2 in (g, ln alpha) from the Poisson fit and the auxiliary-regression alpha
        # (Cameron & Trivedi 1990: sum((y-mu)^2 - y) / sum(mu^2)).
        score0 = float(np.sum((y - mu) ** 2 - y))  # d lnL / d alpha at alpha = 0 (x2)
        a0 = score0 / float(np.sum(mu ** 2))
        a0 = a0 if np.isfinite(a0) and a0 > 1e-4 else 0.1
        boundary_reason = None
        try:
            nb = _newton(lambda th: nb2_loglike(th, y, Xs), np.append(pois.x, np.log(a0)), maxiter, "NB2",
                         stop=lambda th: th[-1] < LN_ALPHA_FLOOR)
            interior = nb.converged and nb.x[-1] >= LN_ALPHA_FLOOR and nb.ll > pois.ll
        except NBConvergenceError as exc:
            if score0 > 0:
                raise
            nb, interior, boundary_reason = None, False, str(exc)
        if not interior:
            if score0 > 0:
                # the likelihood rises from alpha = 0, so an interior maximum exists
                raise NBConvergenceError(
                    f"NB2: no interior optimum found although the score of alpha at 0 is positive "
                    f"({score0:.4g}); stopped at ln(alpha) = {nb.x[-1]:.3g} after {nb.iterations} iterations")
            log.info("NB2: alpha at its boundary 0 (%s)", boundary_reason or
                     f"ln(alpha) driven below {LN_ALPHA_FLOOR}")
        if interior:
            g, llf = nb.x[:-1], nb.ll
            cov_s = _neg_inverse(nb.hess, "NB2")
            lnalpha, lnalpha_se = float(nb.x[-1]), float(np.sqrt(cov_s[-1, -1]))
            alpha = float(np.exp(lnalpha))
            alpha_se = alpha * lnalpha_se  # delta method, as Stata's nbreg
            cov_g = cov_s[:-1, :-1]
        else:
            # Kuhn-Tucker point on the boundary: beta-score 0 and d lnL/d alpha <= 0 at
            # alpha = 0, so NB2 reduces to the Poisson (Stata's nbreg iterates ln(alpha)
            # towards -inf and prints the Poisson coefficients with chibar2(01) = 0).
            g, llf = pois.x, pois.ll
            cov_g = _neg_inverse(pois.hess, "Poisson")
            alpha, alpha_se, lnalpha, lnalpha_se = 0.0, np.nan, -np.inf, np.nan
        params = S @ g
        cov_all = S @ cov_g @ S.T
        _check_fit(params, llf, "NB2")
        if not np.all(np.isfinite(cov_all)) or np.any(np.diag(cov_all) <= 0):
            raise NBConvergenceError("NB2: the Hessian is not negative definite at the optimum")
        keep = [i for i, nme in enumerate(names) if self.entity is None or not nme.startswith(f"{self.entity}_")]
        p = pd.Series(params[keep], index=[names[i] for i in keep])
        cov = pd.DataFrame(cov_all[np.ix_(keep, keep)], index=p.index, columns=p.index)
        lr = lr_test_alpha(llf, pois.ll)
        info = {
            "estimator": "NB2" + (" with cluster dummies" if self.entity else ""),
            "dependent": self.dependent, "entity_effects": self.entity is not None,
            "time_effects": False, "cov_type": "inverse Hessian (OIM)",
            "loglik": float(llf), "loglik_poisson": float(pois.ll), "alpha": alpha,
            "alpha_se": float(alpha_se), "lnalpha": float(lnalpha), "lnalpha_se": float(lnalpha_se),
            "alpha_at_boundary": not interior, "alpha_score_at_zero": score0 / 2,
            "lr_alpha": lr["lr"], "lr_alpha_pvalue": lr["pvalue"],
            "iterations": int(nb.iterations if interior else pois.iterations),
            "n_clusters_dropped_all_zero": self.dropped_clusters,
            **{f"y_{k}": v for k, v in overdispersion(y).items()},
        }
        notes = list(self.notes) + [
            f"LR test of alpha=0: chibar2(01) = {lr['lr']:.3f}, p = {lr['pvalue']:.4g}; "
            f"mean of {self.dependent} {info['y_mean']:.3f} vs variance {info['y_variance']:.3f}."]
        if not interior:
            notes.append("alpha is at its boundary 0: conditional on the regressors and cluster effects the "
                         "counts are not overdispersed, NB2 reduces to the Poisson, and the coefficients "
                         "and standard errors reported are the Poisson's (inverse Hessian).")
        if self.entity is not None:
            notes.append("Cluster effects as dummies (nbreg y x i.cluster); the constant is the base cluster's.")
        if self.dropped_clusters:
            notes.append(f"{self.dropped_clusters} cluster(s) with all-zero counts dropped: their dummies have "
                         f"no finite maximum likelihood estimate.")
        full = pd.Series(np.append(params, alpha), index=names + ["alpha"])
        return EstimationResult(params=p, cov=cov, nobs=len(y), model_info=info, df=None,
                                notes=notes, extra={"full_params": full})

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
