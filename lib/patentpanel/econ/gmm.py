"""Dynamic-panel GMM (Arellano-Bond difference GMM, Blundell-Bond system GMM) computed
the way Stata's ``xtabond2`` (Roodman 2009) computes it.

Public surface::

    SystemGMM(data, "n", lags=1, exog=["L(0/1).(w k)"], entity="firm", time="year",
              gmm=[GMMInstrument("L.(n w k)")], iv=[IVInstrument("yr*", equation="level")],
              time_dummies=True).fit(steps=2, robust=True)
    DifferenceGMM(...)        # same arguments, no levels equation
    GMMSpec.from_yaml(path)   # a model specification held as data (conf/models/*.yaml)

Fast path for repeated fits of one specification (placebo / permutation tests)::

    model = spec.model(panel)                       # or SystemGMM(...)
    base = model.fit(**spec.fit_options)
    for r in range(1000):
        ip = rng.permutation(panel["ip"].to_numpy())
        res = spec.refit(model, {"ip": ip})         # interactions of ip (ip_x_nc) rebuilt too
        # without a spec: model.refit({"ip": ip, "ip_x_nc": ...}, steps=2, ...)

``model.refit(columns, **fit_options)`` equals building the model on
``data.assign(**columns)`` and fitting it (same numbers), but reuses the validated panel
index and every unchanged column; ``model.with_columns(columns)`` returns that model.
Passing ``diff_hansen=False, ar_order=0`` skips diagnostics a placebo does not need.

Cost: Z is never formed densely.  It is held by its nonzero (row, column) cells (a
GMM-style column lives in one row per group), so Z'X, Z'e, the per-group sums Z_i'e_i and
sum_i Z_i'HZ_i are segmented sums over the cells; generalized inverses stay factored
(triangular solves, no explicit inverse).  benchmarks/bench_gmm.py times it against
pydynpd and the placebo workload of study 1.

Conventions that follow xtabond2 (and are tested against its published output):

* The panel is laid on a (group x period) grid; ``L.x`` is the value at ``t-1`` of the same
  group (a gap gives a missing value, as Stata's time-series operators do).
* GMM-style instruments: for lag ``l`` in the lag limits and every base period ``s`` a
  separate column, nonzero only in the transformed-equation row ``t = s + l``; missing
  values become 0.  ``collapse`` gives one column per lag.  In system GMM an equation
  ``both`` group adds, per base variable and period, the differenced variable at lag
  ``a - 1`` in the levels equation.  IV-style instruments enter transformed (or as is in
  the levels equation) as one column each.
* Two-step weighting, Windmeijer (2005) correction, AR(m) tests on the *stacked*
  residual in system GMM, Sargan (one-step residuals), Hansen J (two-step residuals
  and weight, also reported after one-step robust fits), difference-in-Hansen per
  instrument group, ``small`` (t/F with G-1 denominators), ``h(1/2/3)``.
* Generalized inverses.  Moment matrices are inverted with ``invsym`` semantics: the
  columns are swept in order and a column whose pivot (its variance left after the
  earlier kept columns, relative to its own variance) falls below ``rank_tol`` is
  dropped, i.e. its row and column of the inverse are zero.  When the singularity comes
  only from zero or exactly collinear instrument columns every generalized inverse gives
  the same estimates; when the two-step moment matrix is rank deficient (more
  instruments than groups) the choice changes the estimates, so ``fit(ginv="pinv")``
  offers the Moore-Penrose inverse instead, and a :class:`SingularMomentsWarning` is
  issued in either case.  The instrument count reported is the number of columns kept.
* Regressors that are all zero or collinear in the estimation sample are dropped in
  order (later columns first), with a log message, as ``_rmcoll`` does.
* Omitted regressors.  When X'Z A Z'X of the reported step is singular (typically a
  two-step weighting matrix from a rank-deficient moment matrix: more instruments than
  groups), invsym zeroes the rows of the regressors it cannot pivot on; xtabond2 then
  prints them as coefficient 0 with SE 0.  Here they are *omitted*: coefficient, SE,
  statistic and p-value NaN, listed in ``omitted`` (``to_frame``'s ``omitted`` column,
  ``to_dict``, ``model_info``) and named in a note; the internal solution (zeros) still
  drives the residuals and tests, so every other number stays xtabond2's.
* Degenerate covariance.  A fit with omitted regressors, or whose X'Z A Z'X has a
  reciprocal condition number (unit-diagonal scaling) below ``cond_tol`` (default 1e-10;
  the published EmplUK fits are above 1e-5, the blown-up fits of the study-1 panels
  below 1e-12), or a non-finite covariance, carries ``degenerate_cov = True`` with the
  reason in ``degenerate_cov_reason`` and a :class:`DegenerateCovarianceWarning`: its
  standard errors (often 1e5-1e7) are not meaningful.  Collapsing the instruments or
  limiting their lags (fewer instruments than groups) is the usual remedy.
"""
from __future__ import annotations

import fnmatch
import functools
import html
import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import special, stats
from scipy.linalg.lapack import dpotrf as _dpotrf, dpotri as _dpotri, dpotrs as _dpotrs, dtrtrs as _dtrtrs

log = logging.getLogger("patentpanel.econ.gmm")

__all__ = [
    "GMMInstrument", "IVInstrument", "SystemGMM", "DifferenceGMM", "DynamicPanelGMM",
    "GMMResults", "GMMSpec", "TestStat", "DiffHansen", "GMMDataError",
    "SingularMomentsWarning", "TooManyInstrumentsWarning", "DegenerateCovarianceWarning", "expand_terms",
]

EQUATIONS = ("both", "diff", "level")
CONVENTIONS = ("published", "xtabond2-3.7")


class GMMDataError(ValueError):
    """Input data or specification cannot be estimated (names the field and the problem)."""


class SingularMomentsWarning(RuntimeWarning):
    """The two-step moment covariance matrix is singular; a generalized inverse is used."""


class DegenerateCovarianceWarning(RuntimeWarning):
    """The coefficient covariance is numerically degenerate (regressors omitted by the
    generalized inverse, or X'Z A Z'X numerically singular): its SEs are not meaningful."""


class TooManyInstrumentsWarning(RuntimeWarning):
    """More instruments than groups (Roodman's rule of thumb for instrument proliferation)."""


# ---------------------------------------------------------------------------------------
# Term parsing: "n", "L.n", "L2.n", "L(0/2).k", "L(0/1).(w k)", "L.(n w k)", "yr*"
# ---------------------------------------------------------------------------------------
_TERM = re.compile(r"^\s*(?:L(?P<one>\d*)|L\((?P<a>\d+)/(?P<b>\d+)\))\.(?P<body>.+?)\s*$")


def _split_terms(spec: str | Sequence[str]) -> list[str]:
    if isinstance(spec, str):
        out, depth, cur = [], 0, ""
        for ch in spec:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if ch.isspace() and depth == 0:
                if cur:
                    out.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            out.append(cur)
        return out
    out = []
    for s in spec:
        out.extend(_split_terms(s))
    return out


def _lag_name(var: str, lag: int) -> str:
    return var if lag == 0 else f"L{lag}.{var}"


def expand_terms(spec: str | Sequence[str], columns: Sequence[str] = ()) -> list[tuple[str, int]]:
    """Expand Stata-style terms into (variable, lag) pairs, variable-major like Stata.

    ``columns`` resolves wildcards (``yr*``); a wildcard that matches nothing raises.
    """
    pairs: list[tuple[str, int]] = []
    for term in _split_terms(spec):
        m = _TERM.match(term)
        if m:
            if m.group("a") is not None:
                lags = list(range(int(m.group("a")), int(m.group("b")) + 1))
                if not lags:
                    raise GMMDataError(f"term {term!r}: empty lag range")
            else:
                lags = [int(m.group("one")) if m.group("one") else 1]
            body = m.group("body")
            if body.startswith("(") and body.endswith(")"):
                names = body[1:-1].split()
            else:
                names = [body]
        else:
            lags, names = [0], [term.strip()]
        for name in names:
            for var in _resolve(name, columns, term):
                pairs.extend((var, lag) for lag in lags)
    return pairs


def _resolve(name: str, columns: Sequence[str], term: str) -> list[str]:
    if any(c in name for c in "*?["):
        hits = [c for c in columns if fnmatch.fnmatchcase(str(c), name)]
        if not hits:
            raise GMMDataError(f"term {term!r}: pattern {name!r} matches no column")
        return hits
    return [name]


# ---------------------------------------------------------------------------------------
# Instrument declarations
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GMMInstrument:
    """A GMM-style instrument group, ``gmm(variables, lag(a b) eq(...) collapse)``.

    ``variables``: terms such as ``"L.(n w k)"`` or ``["ip", "L.ti"]``; ``lags``: lag
    limits ``(a, b)`` relative to each variable, ``b=None`` is open (all available);
    ``equation``: ``both`` (transformed equation, plus the differenced variable at lag
    ``a-1`` in the levels equation of system GMM), ``diff`` or ``level``.
    """

    variables: str | tuple[str, ...]
    lags: tuple[int, int | None] = (1, None)
    equation: str = "both"
    collapse: bool = False
    name: str | None = None

    def __post_init__(self):
        if not isinstance(self.variables, str):
            object.__setattr__(self, "variables", tuple(self.variables))
        lags = tuple(self.lags)
        if len(lags) != 2:
            raise GMMDataError(f"GMMInstrument {self.variables!r}: lags must be (a, b), got {self.lags!r}")
        a, b = lags
        if a is None:
            a = 1
        if b is not None and b < a:
            a, b = b, a
        if a < 0:
            raise GMMDataError(f"GMMInstrument {self.variables!r}: negative lag limit {a} (leads) not supported")
        object.__setattr__(self, "lags", (int(a), None if b is None else int(b)))
        if self.equation not in EQUATIONS:
            raise GMMDataError(f"GMMInstrument {self.variables!r}: equation must be one of {EQUATIONS}, got {self.equation!r}")

    def label(self, names: Sequence[str]) -> str:
        if self.name:
            return self.name
        b = "." if self.lags[1] is None else str(self.lags[1])
        opts = (" collapse" if self.collapse else "") + \
               ("" if self.equation == "both" else f" eq({self.equation})")
        return f"gmm({' '.join(names)},{opts} lag({self.lags[0]} {b}))"


@dataclass(frozen=True)
class IVInstrument:
    """An IV-style instrument group, ``iv(variables, eq(...) passthru mz)``.

    Each variable is one instrument column: transformed like the regressors in the
    transformed equation (unless ``passthru``) and as is in the levels equation.
    ``mz`` replaces missing values by zero instead of dropping the observation.
    """

    variables: str | tuple[str, ...]
    equation: str = "both"
    passthru: bool = False
    mz: bool = False
    name: str | None = None

    def __post_init__(self):
        if not isinstance(self.variables, str):
            object.__setattr__(self, "variables", tuple(self.variables))
        if self.equation not in EQUATIONS:
            raise GMMDataError(f"IVInstrument {self.variables!r}: equation must be one of {EQUATIONS}, got {self.equation!r}")

    def label(self, names: Sequence[str]) -> str:
        if self.name:
            return self.name
        opts = (" passthru" if self.passthru else "") + (" mz" if self.mz else "") + \
               ("" if self.equation == "both" else f" eq({self.equation})")
        return f"iv({' '.join(names)}{',' + opts if opts else ''})"


# ---------------------------------------------------------------------------------------
# Linear algebra
# ---------------------------------------------------------------------------------------
def _sweep_factor(A: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sweep the symmetric PSD matrix ``A`` in column order, as Mata's invsym does.

    A column is dropped when its pivot -- its variance left after projecting on the
    earlier kept columns, relative to its own variance -- is <= ``tol`` (so the later of
    collinear columns goes).  Returns the kept column indices, their scales
    ``1/sqrt(A_cc)`` and the lower Cholesky factor of the scaled kept sub-matrix, built
    from the blocks of the sweep so no factorization is repeated."""
    d = np.diag(A)
    pos = np.flatnonzero(d > 0)  # original index of each column of B
    scale = np.zeros(A.shape[0])
    scale[pos] = 1.0 / np.sqrt(d[pos])
    B = A[np.ix_(pos, pos)] if pos.size < A.shape[0] else A
    B = B * scale[pos][:, None] * scale[pos][None, :]
    blocks = []  # (kept positions, their factor, trailing positions, trailing rows)
    while B.shape[0]:
        # B holds the variances left after the kept columns before it (relative to the
        # original ones); a column already at or below tol can only lose more to the
        # columns kept in between, so every such column goes at once
        small = np.diag(B) <= tol
        if small.any():
            pos, B = pos[~small], B[np.ix_(~small, ~small)]
            continue
        c, info = _dpotrf(B, lower=1, clean=1, overwrite_a=0)
        m = B.shape[0] if info == 0 else info - 1  # pivots [0, m) are positive
        bad = np.flatnonzero(np.diag(c)[:m] ** 2 <= tol)
        p = int(bad[0]) if bad.size else m
        if p == B.shape[0]:
            blocks.append((pos, c, None, None))
            break
        if p:
            # Schur complement of the trailing block on the p kept leading columns
            L11 = c[:p, :p]
            L21 = _dtrtrs(L11, B[:p, p + 1:], lower=1)[0].T
            blocks.append((pos[:p], L11, pos[p + 1:], L21))
            B = B[p + 1:, p + 1:] - L21 @ L21.T
        pos = pos[p + 1:]
    if len(blocks) == 1:
        return blocks[0][0], scale[blocks[0][0]], blocks[0][1]
    idx = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, np.intp)
    where = np.full(A.shape[0], -1)
    where[idx] = np.arange(idx.size)
    L = np.zeros((idx.size, idx.size))
    off = 0
    for kept, Lkk, trail, L21 in blocks:
        q = kept.size
        L[off:off + q, off:off + q] = np.tril(Lkk)
        if trail is not None:
            rows = where[trail]
            ok = rows >= 0
            L[rows[ok], off:off + q] = L21[ok]
        off += q
    return idx, scale[idx], L


def _sweep_keep(A: np.ndarray, tol: float) -> np.ndarray:
    """Columns of ``A`` kept by the invsym sweep (see :func:`_sweep_factor`)."""
    keep = np.zeros(A.shape[0], bool)
    keep[_sweep_factor(A, tol)[0]] = True
    return keep


class _GInverse:
    """A generalized inverse A^- = C C' of a symmetric PSD matrix, kept factored.

    ``invsym``: C holds the inverse Cholesky factor of the kept sub-matrix (zero rows for
    the dropped columns), so products with A^- are two triangular solves instead of an
    explicit inverse; ``pinv``: C = V diag(w^-1/2) over the eigenvalues above the cut."""

    def __init__(self, A: np.ndarray, tol: float, method: str = "invsym"):
        n = self.n = A.shape[0]
        self.method = method
        if method == "pinv":
            A = (A + A.T) / 2
            w, V = np.linalg.eigh(A)
            cut = tol * max(w.max(initial=0.0), 0.0)
            ok = w > cut
            self.half_t = (V[:, ok] / np.sqrt(w[ok])).T  # C'
            self.dropped = int(n - ok.sum())
            self.keep = np.abs(self.half_t).sum(axis=0) > 0
            return
        self.idx, self.s, self.L = _sweep_factor(A, tol)
        self.dropped = int(n - self.idx.size)
        self.keep = np.zeros(n, bool)
        self.keep[self.idx] = True

    def half(self, M: np.ndarray) -> np.ndarray:
        """C'M, so that M'A^-M = (C'M)'(C'M)."""
        if self.method == "pinv":
            return self.half_t @ M
        Ms = M[self.idx] * (self.s if M.ndim == 1 else self.s[:, None])
        return _dtrtrs(self.L, Ms, lower=1)[0] if self.idx.size else Ms

    def solve(self, M: np.ndarray) -> np.ndarray:
        """A^- M."""
        if self.method == "pinv":
            return self.half_t.T @ (self.half_t @ M)
        out = np.zeros((self.n,) + M.shape[1:])
        if self.idx.size:
            s = self.s if M.ndim == 1 else self.s[:, None]
            out[self.idx] = _dpotrs(self.L, M[self.idx] * s, lower=1)[0] * s
        return out

    def quad(self, M: np.ndarray) -> np.ndarray | float:
        """M'A^-M."""
        W = self.half(M)
        return float(W @ W) if W.ndim == 1 else W.T @ W

    def inverse(self) -> np.ndarray:
        if self.method == "pinv":
            return self.half_t.T @ self.half_t
        out = np.zeros((self.n, self.n))
        if self.idx.size:
            inv, _ = _dpotri(self.L, lower=1)
            inv = _sym_lower(np.tril(inv)) * self.s[:, None] * self.s[None, :]
            if self.idx.size == self.n:
                return inv
            out[np.ix_(self.idx, self.idx)] = inv
        return out


def _ginv(A: np.ndarray, tol: float, method: str = "invsym") -> tuple[np.ndarray, int]:
    """Generalized inverse of a symmetric PSD matrix and the number of dropped columns.

    ``invsym``: inverse of the kept sub-matrix (see :func:`_sweep_factor`), zeros for
    dropped rows/columns.  ``pinv``: Moore-Penrose (eigenvalue cut at ``tol`` x largest);
    the drop count is then ``n - rank``."""
    d = np.diag(A)
    if method == "invsym" and (d > 0).all():  # full rank in order: plain Cholesky inverse
        s = 1.0 / np.sqrt(d)
        c, info = _dpotrf(A * s[:, None] * s[None, :], lower=1, clean=1)
        if info == 0 and (np.diag(c) ** 2 > tol).all():
            inv, _ = _dpotri(c, lower=1)
            return _sym_lower(inv) * s[:, None] * s[None, :], 0
    g = _GInverse(A, tol, method)
    return g.inverse(), g.dropped


def _sym_lower(L: np.ndarray) -> np.ndarray:
    """Symmetric matrix from dpotri's lower triangle (the upper one is zero: clean=1)."""
    out = L + L.T
    out[np.diag_indices_from(out)] *= 0.5
    return out


def _xform_matrix(orthogonal: bool, T: int) -> np.ndarray:
    """T x T matrix M with M' x = transformed x (row t holds the value for period t; FOD
    of period t-1 is stored in row t to parallel differences)."""
    M = np.zeros((T, T))
    if not orthogonal:
        idx = np.arange(1, T)
        M[idx, idx] = 1.0
        M[idx - 1, idx] = -1.0
        return M
    for j in range(1, T):
        n = T - j  # future periods of period j-1
        M[j - 1, j] = 1.0
        M[j:, j] = -1.0 / n
        M[:, j] *= np.sqrt(n / (n + 1.0))
    return M


def _h_factor(h: int, orthogonal: bool, system: bool, T: int) -> np.ndarray:
    """F with H = F'F, H the first-step weighting of xtabond2's h() option."""
    if h == 1:
        return np.eye(2 * T if system else T)
    M = _xform_matrix(orthogonal, T)
    if not system:
        return M
    if h == 3:
        return np.hstack([M, np.eye(T)])
    return np.block([[M, np.zeros((T, T))], [np.zeros((T, T)), np.eye(T)]])


def _h_matrix(h: int, left_orth: bool, right_orth: bool, system: bool, T: int) -> np.ndarray:
    if h == 1:
        return np.eye(2 * T if system else T)
    Ml, Mr = _xform_matrix(left_orth, T), _xform_matrix(right_orth, T)
    if not system or h == 3:
        if system:
            Ml, Mr = np.hstack([Ml, np.eye(T)]), np.hstack([Mr, np.eye(T)])
        H = Ml.T @ Mr
    else:
        H = np.block([[Ml.T @ Mr, np.zeros((T, T))], [np.zeros((T, T)), np.eye(T)]])
    H[np.abs(H) < 1e-12] = 0.0
    return H


def _chi2_p(stat: float, df: int | None) -> float:
    return float(special.chdtrc(df, stat)) if df and df > 0 else float("nan")


def _difference(x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, np.nan, dtype=float)
    out[:, 1:] = x[:, 1:] - x[:, :-1]
    return out


def _fod(x: np.ndarray, complete: np.ndarray) -> np.ndarray:
    """Forward orthogonal deviations over ``complete`` future periods, stored one period
    later (row t holds the deviation of period t-1), as xtabond2 does."""
    shape = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
    c = complete.reshape(shape).astype(float)
    xc = np.where(c > 0, x, 0.0)
    # sums over s > t
    cnt = np.flip(np.cumsum(np.flip(c, 1), 1), 1)
    tot = np.flip(np.cumsum(np.flip(xc, 1), 1), 1)
    n_after = np.zeros_like(cnt)
    s_after = np.zeros_like(tot)
    n_after[:, :-1] = cnt[:, 1:]
    s_after[:, :-1] = tot[:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = np.sqrt(n_after / (n_after + 1.0)) * (x - s_after / n_after)
    dev = np.where(n_after > 0, dev, np.nan)
    out = np.full_like(dev, np.nan)
    out[:, 1:] = dev[:, :-1]
    return out


def _check_finite(name: str, x: np.ndarray) -> np.ndarray:
    inf = np.isinf(x)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise GMMDataError(f"column {name!r}: row {i} is {x[i]}, expected a finite number or missing (NaN)")
    return x


def _nan0(x: np.ndarray) -> np.ndarray:
    """Missing values as zeros (columns are checked finite on input)."""
    return np.where(np.isnan(x), 0.0, x)


@functools.lru_cache(maxsize=256)
def _gmm_layout(collapse: bool, level_only: bool, diffed: bool, a: int, b: int, T: int, t_first: int,
                row_off: int, bnames: tuple[str, ...], times: tuple[int, ...]):
    """Cells (row, column, base period, variable) and names of a GMM-style group's main
    block (lags a..b); depends only on the layout, so repeated builds share it."""
    nv = len(bnames)
    rr, cc, ss_, vv_, names = [], [], [], [], []
    ncol = 0
    eq = "Levels" if level_only else "Diff"
    for lag in range(a, b + 1):
        if collapse:
            for v in range(nv):
                ts = np.arange(max(t_first, lag), T)
                ts = ts[ts - lag >= (1 if diffed else 0)]
                rr.append(ts + row_off)
                cc.append(np.full(ts.size, ncol))
                ss_.append(ts - lag)
                vv_.append(np.full(ts.size, v))
                names.append(f"{eq} eq: {_lag_name(bnames[v], lag)}")
                ncol += 1
        else:
            s_lo = max(1 if diffed else 0, t_first - lag)
            ss = np.repeat(np.arange(s_lo, T - lag), nv)
            vv = np.tile(np.arange(nv), max(T - lag - s_lo, 0))
            rr.append(ss + lag + row_off)
            cc.append(ncol + np.arange(ss.size))
            ss_.append(ss)
            vv_.append(vv)
            names += [f"{eq} eq: {_lag_name(bnames[v], lag)}@{times[s]}" for s, v in zip(ss, vv)]
            ncol += ss.size
    out = [np.concatenate(x) if x else np.zeros(0, np.intp) for x in (rr, cc, ss_, vv_)]
    for x in out:
        x.flags.writeable = False  # shared between builds
    return (*out, tuple(names))


def _lag_rows(a: np.ndarray, m: int) -> np.ndarray:
    out = np.zeros_like(a)
    if m < a.shape[1]:
        out[:, m:] = a[:, :-m] if m else a
    return out


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestStat:
    """A test statistic with its degrees of freedom and p-value (``df`` None for z)."""

    stat: float
    pvalue: float
    df: int | None = None
    dist: str = "chi2"

    def __iter__(self):
        return iter((self.stat, self.df, self.pvalue))


@dataclass(frozen=True)
class DiffHansen:
    """Difference-in-Hansen (or -Sargan) test of one instrument group: ``excluding`` is
    the J statistic without the group, ``difference`` the increase when it is added."""

    group: str
    excluding: TestStat
    difference: TestStat


class GMMResults:
    """Estimates and diagnostics of a dynamic-panel GMM fit (attributes as in linearmodels).

    ``nobs`` follows xtabond2 (levels-equation observations in system GMM);
    ``nobs_stacked`` counts all rows of the stacked system. ``omitted`` lists the
    regressors the estimator could not identify (NaN in ``params``, ``std_errors``,
    ``cov``); ``degenerate_cov`` (with ``degenerate_cov_reason``) flags a covariance whose
    standard errors are not meaningful; ``bread_rcond`` is the reciprocal condition number
    of X'Z A Z'X behind it; ``moments_singular`` says the two-step moment matrix needed a
    generalized inverse (more instruments than groups), which makes the two-step estimates
    sensitive to rounding in the data.
    """

    omitted: list = []
    moments_singular: bool = False
    degenerate_cov: bool = False
    degenerate_cov_reason: str | None = None
    bread_rcond: float = float("nan")
    _omit = None
    _omit1 = None

    def __init__(self, **kw: Any):
        self.__dict__.update(kw)

    def _nan_omitted(self, v: np.ndarray, mask) -> np.ndarray:
        if mask is None or not mask.any():
            return v
        v = np.array(v, dtype=float)
        v[mask] = np.nan
        return v

    # pandas objects are built on first use: a placebo loop reads one coefficient
    @property
    def params(self) -> pd.Series:
        if "_params" not in self.__dict__:
            self._params = pd.Series(self._nan_omitted(self._b, self._omit), index=self._names, name="param")
        return self._params

    @property
    def cov(self) -> pd.DataFrame:
        if "_cov" not in self.__dict__:
            V = self._V
            if self._omit is not None and self._omit.any():
                V = np.array(V, dtype=float)
                V[self._omit, :] = np.nan
                V[:, self._omit] = np.nan
            self._cov = pd.DataFrame(V, index=self._names, columns=self._names)
        return self._cov

    @property
    def onestep_params(self) -> pd.Series:
        return pd.Series(self._nan_omitted(self._b1, self._omit1), index=self._names, name="param")

    # --- inference --------------------------------------------------------------------
    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(self._nan_omitted(np.sqrt(np.diag(self._V)), self._omit), index=self._names,
                         name="std_error")

    @property
    def tstats(self) -> pd.Series:
        """z statistics (t statistics with ``small``)."""
        return (self.params / self.std_errors).rename("tstat" if self.small else "zstat")

    zstats = tstats

    @property
    def pvalues(self) -> pd.Series:
        t = np.abs(self.tstats.values)
        p = 2 * (stats.t.sf(t, self.df_resid) if self.small else stats.norm.sf(t))
        return pd.Series(p, index=self.params.index, name="pvalue")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        q = (stats.t.ppf(0.5 + level / 2, self.df_resid) if self.small
             else stats.norm.ppf(0.5 + level / 2))
        se = self.std_errors
        return pd.DataFrame({"lower": self.params - q * se, "upper": self.params + q * se})

    @property
    def model_info(self) -> dict[str, Any]:
        """Flat fit statistics for table builders (``econ.results.compare``)."""
        info: dict[str, Any] = {
            "estimator": self.estimator, "steps": self.steps, "robust": self.robust,
            "small": self.small, "n_groups": self.n_groups, "n_instruments": self.n_instruments,
            "nobs_stacked": self.nobs_stacked, "entity_effects": True,
            "time_effects": self.time_dummies, "omitted": list(self.omitted),
            "degenerate_cov": bool(self.degenerate_cov), "degenerate_cov_reason": self.degenerate_cov_reason,
            "bread_rcond": self.bread_rcond, "moments_singular": bool(self.moments_singular),
        }
        for m, t in self.ar_tests.items():
            info[f"ar{m}_z"], info[f"ar{m}_p"] = t.stat, t.pvalue
        for name in ("sargan", "hansen"):
            t = getattr(self, name)
            if t is not None:
                info[f"{name}"], info[f"{name}_df"], info[f"{name}_p"] = t.stat, t.df, t.pvalue
        return info

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient: estimate, SE, statistic, p-value, interval, and
        whether the regressor was omitted (all NaN then)."""
        ci = self.conf_int()
        return pd.DataFrame({"param": self.params, "std_error": self.std_errors,
                             "stat": self.tstats, "pvalue": self.pvalues,
                             "lower": ci["lower"], "upper": ci["upper"],
                             "omitted": self.params.index.isin(self.omitted)})

    @property
    def notes(self) -> list[str]:
        """Table notes: omitted regressors and a degenerate covariance."""
        out = []
        if self.omitted:
            out.append(f"Omitted (not identified by the {'two' if self.steps == 2 else 'one'}-step weighting): "
                       f"{', '.join(self.omitted)}.")
        if self.degenerate_cov:
            out.append(f"Degenerate covariance: {self.degenerate_cov_reason}.")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record of the fit (coefficients and every diagnostic)."""
        def ts(t):
            return None if t is None else {"stat": t.stat, "df": t.df, "p": t.pvalue}
        return {
            "estimator": self.estimator, "dependent": self.dependent,
            "coef": self.params.to_dict(), "se": self.std_errors.to_dict(),
            "stat": self.tstats.to_dict(), "p": self.pvalues.to_dict(),
            "nobs": self.nobs, "nobs_stacked": self.nobs_stacked, "n_groups": self.n_groups,
            "n_instruments": self.n_instruments, "steps": self.steps, "robust": self.robust,
            "small": self.small, "h": self.h, "transform": self.transform,
            "ar": {m: {"z": t.stat, "p": t.pvalue} for m, t in self.ar_tests.items()},
            "sargan": ts(self.sargan), "hansen": ts(self.hansen),
            "diff_hansen": {d.group: {"excluding": ts(d.excluding), "difference": ts(d.difference)}
                            for d in self.diff_hansen},
            "wald": ts(self.wald), "dropped_regressors": list(self.dropped),
            "omitted": list(self.omitted), "degenerate_cov": bool(self.degenerate_cov),
            "degenerate_cov_reason": self.degenerate_cov_reason, "bread_rcond": self.bread_rcond,
        }

    # --- display ----------------------------------------------------------------------
    @property
    def summary(self) -> str:
        kind = f"{'two' if self.steps == 2 else 'one'}-step {self.estimator} GMM"
        se_kind = "Corrected" if (self.robust and self.steps == 2) else ("Robust" if self.robust else "")
        lines = [f"Dynamic panel-data estimation, {kind}",
                 f"Dependent variable: {self.dependent}   Transform: {self.transform}",
                 f"Group variable: {self.entity}   Number of obs = {self.nobs}  (stacked rows {self.nobs_stacked})",
                 f"Time variable: {self.time}   Number of groups = {self.n_groups}",
                 f"Number of instruments = {self.n_instruments}   Obs per group: min {self.g_min}, avg {self.nobs / max(self.n_groups, 1):.2f}, max {self.g_max}"]
        if self.wald is not None:
            w = self.wald
            lab = f"F({w.df}, {self.df_resid})" if self.small else f"Wald chi2({w.df})"
            lines.append(f"{lab} = {w.stat:.2f}   Prob > = {w.pvalue:.3f}")
        stat = "t" if self.small else "z"
        head = f"{'':>14} {'Coef.':>11} {(se_kind + ' SE').strip():>13} {stat:>8} {'P>|' + stat + '|':>7} {'[95% conf. interval]':>24}"
        lines += ["-" * len(head), head, "-" * len(head)]
        ci = self.conf_int()
        for name in self.params.index:
            if name in self.omitted:
                lines.append(f"{name[:14]:>14} {'(omitted)':>11}")
                continue
            lines.append(f"{name[:14]:>14} {self.params[name]:>11.7f} {self.std_errors[name]:>13.7f} "
                         f"{self.tstats[name]:>8.2f} {self.pvalues[name]:>7.3f} "
                         f"{ci.loc[name, 'lower']:>11.7f} {ci.loc[name, 'upper']:>12.7f}")
        lines.append("-" * len(head))
        lines.append("Instruments: " + "; ".join(self.instrument_groups))
        for m, t in self.ar_tests.items():
            lines.append(f"Arellano-Bond test for AR({m}) in first differences: z = {t.stat:6.2f}  Pr > z = {t.pvalue:.3f}")
        if self.sargan is not None:
            s = self.sargan
            lines.append(f"Sargan test of overid. restrictions: chi2({s.df}) = {s.stat:7.2f}  Prob > chi2 = {s.pvalue:.3f}")
        if self.hansen is not None:
            s = self.hansen
            lines.append(f"Hansen test of overid. restrictions: chi2({s.df}) = {s.stat:7.2f}  Prob > chi2 = {s.pvalue:.3f}")
        if self.diff_hansen:
            lines.append("Difference-in-Hansen tests of exogeneity of instrument subsets:")
            for d in self.diff_hansen:
                lines.append(f"  {d.group}")
                lines.append(f"    Hansen test excluding group: chi2({d.excluding.df}) = {d.excluding.stat:7.2f}  Prob > chi2 = {d.excluding.pvalue:.3f}")
                lines.append(f"    Difference (null H = exogenous): chi2({d.difference.df}) = {d.difference.stat:7.2f}  Prob > chi2 = {d.difference.pvalue:.3f}")
        for w in self.warnings:
            lines.append(f"Warning: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary

    def __repr__(self) -> str:
        return f"<GMMResults {self.estimator} steps={self.steps} nobs={self.nobs} groups={self.n_groups} instruments={self.n_instruments}>"

    def _repr_html_(self) -> str:
        frame = self.to_frame().to_html(float_format=lambda v: f"{v:.6f}")
        diag = [f"AR({m}) z={t.stat:.2f} p={t.pvalue:.3f}" for m, t in self.ar_tests.items()]
        for name in ("sargan", "hansen"):
            t = getattr(self, name)
            if t is not None:
                diag.append(f"{name.capitalize()} chi2({t.df})={t.stat:.2f} p={t.pvalue:.3f}")
        head = (f"<p><b>{html.escape(self.dependent)}</b>: {self.steps}-step {self.estimator} GMM, "
                f"N={self.nobs}, groups={self.n_groups}, instruments={self.n_instruments}</p>")
        return head + frame + "<p>" + html.escape("; ".join(diag)) + "</p>"


# ---------------------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def _blas_single_thread():
    """A context limiting BLAS/OpenMP pools to one thread (a cached controller: ~50 us)."""
    return _blas_controller().limit(limits=1)


def _order_free_mean(x: np.ndarray) -> float:
    """Mean of the non-missing values, correctly rounded (``math.fsum``), so it does not
    depend on the order of the rows: an ulp of difference in a centred interaction is
    amplified into visibly different estimates by a near-singular GMM system."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return math.fsum(x.tolist()) / x.size if x.size else float("nan")


@dataclass
class _Design:
    """Everything the fit needs, built once per model (arrays on the group x row grid)."""

    N: int
    T: int
    R: int
    X: np.ndarray       # (N*R, k) zeroed outside the sample
    Y: np.ndarray       # (N*R,)
    Z: "_Instruments"   # Z on the group x row grid, by nonzero cells
    ZX: np.ndarray      # (j, k)
    ZY: np.ndarray      # (j,)
    touse: np.ndarray   # (N, R) bool
    names: list[str]
    inst_names: list[str]
    groups: list[tuple[str, np.ndarray]]          # diff-Hansen complements (column masks)
    group_labels: list[str]
    X0: np.ndarray      # (N, T, k) levels regressors (NaN where missing)
    Y0: np.ndarray      # (N, T)
    complete: np.ndarray
    cluster: np.ndarray | None  # (N*R,) codes, -1 outside sample
    index: pd.Index
    has_const: bool
    dropped: list[str]
    times: np.ndarray


class DynamicPanelGMM:
    """Difference or system GMM for ``y_it = sum_l rho_l y_i,t-l + x_it b + eta_i + e_it``.

    Parameters
    ----------
    data : DataFrame with ``entity`` and ``time`` columns (or a two-level (entity, time)
        MultiIndex when they are omitted).
    dependent : the dependent variable's column.
    lags : number of lags of the dependent variable entered as regressors (``L1..Lp``).
    exog : further regressor terms (``"w"``, ``"L.w"``, ``"L(0/2).(k ys)"``, ``"yr*"``).
    gmm, iv : instrument groups (:class:`GMMInstrument`, :class:`IVInstrument`).
    system : include the levels equation (Blundell-Bond) or not (Arellano-Bond).
    transform : ``"fd"`` first differences or ``"fod"`` forward orthogonal deviations.
    constant : include ``_cons`` (system GMM only, as in xtabond2).
    time_dummies : add ``yr<period>`` dummies as regressors; unless an IV group already
        names one of them they are also IV-style instruments in the levels equation
        (system) or the transformed equation (difference GMM).
    cluster : column to cluster on (default: the groups).
    delta : the time unit (periods are ``(time - min) / delta``).
    """

    system = True

    def __init__(self, data: pd.DataFrame, dependent: str, lags: int = 1,
                 exog: str | Sequence[str] = (), *, entity: str | None = None,
                 time: str | None = None, gmm: Sequence[GMMInstrument] = (),
                 iv: Sequence[IVInstrument] = (), system: bool | None = None,
                 transform: str = "fd", constant: bool = True,
                 time_dummies: bool = False, dummy_prefix: str = "yr",
                 cluster: str | None = None, delta: int = 1):
        if system is not None:
            self.system = bool(system)
        if not isinstance(data, pd.DataFrame):
            raise GMMDataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if (entity is None) != (time is None):
            raise GMMDataError("give both entity and time columns, or neither (MultiIndex)")
        if entity is None:
            if not isinstance(data.index, pd.MultiIndex) or data.index.nlevels != 2:
                raise GMMDataError("data needs entity/time columns or a two-level (entity, time) MultiIndex")
            entity, time = [n or f"level_{i}" for i, n in enumerate(data.index.names)]
            data = data.reset_index()
            data.columns = [str(c) for c in data.columns]
        if transform not in ("fd", "fod"):
            raise GMMDataError(f"transform must be 'fd' or 'fod', got {transform!r}")
        if int(lags) < 0:
            raise GMMDataError(f"lags must be >= 0, got {lags}")
        if delta <= 0:
            raise GMMDataError(f"delta must be positive, got {delta}")
        for col in (entity, time, dependent) + ((cluster,) if cluster else ()):
            if col not in data.columns:
                raise GMMDataError(f"column {col!r} not found in data (columns: {list(data.columns)})")
        self.data, self.dependent, self.lags = data, dependent, int(lags)
        self.exog, self.entity, self.time = exog, entity, time
        self.gmm, self.iv = list(gmm), list(iv)
        self.transform, self.constant = transform, bool(constant) and self.system
        self.time_dummies, self.dummy_prefix = bool(time_dummies), dummy_prefix
        self.cluster, self.delta = cluster, int(delta)
        self._designs: dict[str, _Design] = {}
        self._panel: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # _grid() result
        self._columns: dict[str, np.ndarray] = {}  # float values of data columns (and replacements)

    @property
    def estimator(self) -> str:
        return "system" if self.system else "difference"

    # --- data ---------------------------------------------------------------------------
    def _grid(self):
        if self._panel is None:
            self._panel = self._make_grid()
        return self._panel

    def _make_grid(self):
        df = self.data
        ent_col = df[self.entity]
        if ent_col.dtype.kind in "iub":  # integer ids: no missing values, numpy factorization
            ent_vals = ent_col.to_numpy()
            uniques, codes = np.unique(ent_vals, return_inverse=True)
        else:
            if ent_col.isna().any():
                raise GMMDataError(f"entity column {self.entity!r} has missing values (row {int(np.flatnonzero(ent_col.isna().to_numpy())[0])})")
            codes, uniques = pd.factorize(ent_col, sort=True)
        tcol = df[self.time]
        if tcol.dtype.kind not in "iuf":
            tcol = pd.to_numeric(tcol, errors="coerce")
        tv = tcol.to_numpy(dtype=float)
        if np.isnan(tv).any():
            bad = int(np.flatnonzero(np.isnan(tv))[0])
            raise GMMDataError(f"time column {self.time!r}: row {bad} has {df[self.time].iloc[bad]!r}, expected an integer period")
        if np.any(tv != np.round(tv)):
            bad = int(np.flatnonzero(tv != np.round(tv))[0])
            raise GMMDataError(f"time column {self.time!r}: row {bad} has non-integer value {tv[bad]!r}")
        tv = tv.astype(np.int64)
        key = codes.astype(np.int64) * (int(tv.max() - tv.min()) + 1) + (tv - tv.min())
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        if (counts > 1).any():
            i = int(first[np.flatnonzero(counts > 1)[0]])
            ent = df[self.entity].iloc[i]
            ent = ent.item() if hasattr(ent, "item") else ent
            raise GMMDataError(f"duplicate ({self.entity}, {self.time}) = ({ent!r}, {tv[i]}): "
                               f"{int((counts[counts > 1]).sum())} rows share an (entity, time) pair; expected one row per pair")
        if (tv - tv.min()) .size and np.any((tv - tv.min()) % self.delta):
            raise GMMDataError(f"time column {self.time!r}: values are not multiples of delta={self.delta}")
        return codes, uniques, tv

    def _column(self, name: str) -> np.ndarray:
        if name in self._columns:
            return self._columns[name]
        if name not in self.data.columns:
            raise GMMDataError(f"column {name!r} not found in data (columns: {list(self.data.columns)})")
        s = self.data[name]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            raise GMMDataError(f"column {name!r} has dtype {s.dtype}, expected numeric")
        out = self._columns[name] = _check_finite(name, s.to_numpy(dtype=float))
        return out

    # --- fast re-estimation ---------------------------------------------------------------
    def with_columns(self, columns: Mapping[str, Any]) -> "DynamicPanelGMM":
        """The same model on ``data`` with the named columns replaced.

        ``columns`` maps a column of ``data`` (or a new one) to values aligned with the rows
        of ``data`` (same length and order).  The copy shares the panel index and the other
        columns with this model, so building it skips the data checks already done; its
        estimates equal those of a model built on ``data.assign(**columns)``.
        """
        self._grid()  # validate and cache the panel index once, shared with the copy
        fixed = {self.entity, self.time} | ({self.cluster} if self.cluster else set())
        new: dict[str, np.ndarray] = {}
        for name, values in columns.items():
            if name in fixed:
                raise GMMDataError(f"column {name!r} defines the panel (entity/time/cluster) and cannot be replaced")
            arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
            if arr.ndim != 1 or arr.shape[0] != len(self.data):
                raise GMMDataError(f"replacement for column {name!r} has shape {arr.shape}, expected ({len(self.data)},) "
                                   "values aligned with the rows of data")
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise GMMDataError(f"replacement for column {name!r} has dtype {arr.dtype}, expected numeric")
            new[str(name)] = _check_finite(f"replacement for {name}", arr.astype(float))
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._designs = {}
        clone._columns = {**{k: v for k, v in self._columns.items() if k not in new}, **new}
        if any(n not in self.data.columns for n in new):  # keep wildcard resolution and checks honest
            clone.data = self.data.assign(**{n: v for n, v in new.items() if n not in self.data.columns})
        return clone

    def refit(self, columns: Mapping[str, Any], **fit_options: Any) -> GMMResults:
        """``self.with_columns(columns).fit(**fit_options)``: the fast path for repeated fits
        of one specification with a few columns changed (permutation/placebo tests)."""
        return self.with_columns(columns).fit(**fit_options)

    def _build(self, convention: str) -> _Design:
        codes, uniques, tv = self._grid()
        t0 = tv.min()
        tidx = (tv - t0) // self.delta
        Nall, Tall = len(uniques), int(tidx.max()) + 1
        present = np.zeros((Nall, Tall), bool)
        present[codes, tidx] = True
        cache: dict[tuple[str, int], np.ndarray] = {}
        dummy_names: list[str] = []
        if self.time_dummies:
            periods = np.arange(Tall) * self.delta + t0
            dummy_names = [f"{self.dummy_prefix}{p}" for p in periods]
            clash = [d for d in dummy_names if d in self.data.columns]
            if clash:
                raise GMMDataError(f"time_dummies: columns {clash[:3]} already exist in data; drop them or set time_dummies=False")
            for j, d in enumerate(dummy_names):
                g = np.where(present, 0.0, np.nan)
                g[:, j] = np.where(present[:, j], 1.0, np.nan)
                cache[(d, 0)] = g
        columns = [str(c) for c in self.data.columns] + dummy_names

        def grid(var: str, lag: int) -> np.ndarray:
            key = (var, lag)
            if key not in cache:
                if (var, 0) not in cache:
                    g = np.full((Nall, Tall), np.nan)
                    g[codes, tidx] = self._column(var)
                    cache[(var, 0)] = g
                base = cache[(var, 0)]
                out = np.full_like(base, np.nan)
                if lag < Tall:
                    out[:, lag:] = base[:, :Tall - lag]
                cache[key] = out
            return cache[key]

        dep = self.dependent
        self._column(dep)
        reg_pairs = [(dep, l) for l in range(1, self.lags + 1)] + expand_terms(self.exog, columns)
        if self.time_dummies:
            reg_pairs += [(d, 0) for d in dummy_names if (d, 0) not in reg_pairs]
        if len(set(reg_pairs)) != len(reg_pairs):
            dup = [p for p in reg_pairs if reg_pairs.count(p) > 1][0]
            raise GMMDataError(f"regressor {_lag_name(*dup)!r} listed twice")
        if (dep, 0) in reg_pairs:
            raise GMMDataError(f"the dependent variable {dep!r} cannot also be a regressor")
        names = [_lag_name(v, l) for v, l in reg_pairs]
        Y0 = grid(dep, 0)
        X0 = np.stack([grid(v, l) for v, l in reg_pairs], axis=2) if reg_pairs else np.zeros((Nall, Tall, 0))
        if self.constant:
            X0 = np.concatenate([X0, np.ones((Nall, Tall, 1))], axis=2)
            names.append("_cons")
        if X0.shape[2] == 0:
            raise GMMDataError("no regressors: give lags >= 1 or exog terms")
        touse0 = present & ~np.isnan(Y0) & ~np.isnan(X0).any(axis=2)
        if self.cluster:
            cl = np.full((Nall, Tall), np.nan)
            cl_codes, _ = pd.factorize(self.data[self.cluster])
            cl[codes, tidx] = np.where(cl_codes < 0, np.nan, cl_codes)
            touse0 &= ~np.isnan(cl)
        # groups with at least one usable observation define N and the period range
        gkeep = touse0.any(axis=1)
        if not gkeep.any():
            raise GMMDataError(self._why_empty(reg_pairs, present, Y0, X0))
        tcols = np.flatnonzero(present[gkeep].any(axis=0))
        tlo, thi = tcols.min(), tcols.max() + 1
        sl = (gkeep, slice(tlo, thi))
        present, touse0 = present[sl], touse0[sl]
        Y0, X0 = Y0[sl], X0[sl]
        N, T = present.shape
        times = (np.arange(tlo, thi) * self.delta + t0)
        if self.cluster:
            cl = cl[sl]
        sub = {key: g[sl] for key, g in cache.items()}

        def g2(var, lag):
            if (var, lag) not in sub:
                sub[(var, lag)] = grid(var, lag)[sl]
            return sub[(var, lag)]

        fod = self.transform == "fod"
        system = self.system
        R = 2 * T if system else T

        # --- IV-style instruments (xtabond2 order: last option first, constant last) ----
        iv_groups = list(self.iv)
        if self.time_dummies and not any(
                any(v in dummy_names for v, _ in expand_terms(g.variables, columns)) for g in iv_groups):
            iv_groups.append(IVInstrument(f"{self.dummy_prefix}*", equation="level" if system else "both",
                                          name=f"iv({self.dummy_prefix}*{', eq(level)' if system else ''})"))
        iv_specs = []
        complete = ~np.isnan(Y0) & ~np.isnan(X0).any(axis=2)
        for g in iv_groups:
            pairs = expand_terms(g.variables, columns)
            if g.equation == "level" and not system:
                log.info("%s: levels-equation instruments ignored in difference GMM", g.label([_lag_name(*p) for p in pairs]))
                continue
            base = np.stack([g2(v, l) for v, l in pairs], axis=2)
            if not g.mz:
                complete &= ~np.isnan(base).any(axis=2)
            iv_specs.append((g, pairs, base))
        iv_cols_t, iv_cols_l, iv_names, iv_owner = [], [], [], []
        for gi, (g, pairs, base) in enumerate(reversed(iv_specs)):
            gid = len(iv_specs) - 1 - gi
            if g.equation != "level":
                tr = base if g.passthru else (_fod(base, complete) if fod else _difference(base))
            else:
                tr = np.zeros_like(base)
            lv = base if (system and g.equation != "diff") else np.zeros_like(base)
            if g.mz:
                tr, lv = np.nan_to_num(tr), np.nan_to_num(lv)
            for c in range(base.shape[2]):
                iv_cols_t.append(tr[:, :, c])
                iv_cols_l.append(lv[:, :, c])
                iv_names.append(_lag_name(*pairs[c]))
                iv_owner.append(gid)
        if self.constant:
            at = 0 if convention == "published" else len(iv_cols_t)
            iv_cols_t.insert(at, np.zeros((N, T)))
            iv_cols_l.insert(at, np.ones((N, T)))
            iv_names.insert(at, "_cons")
            iv_owner.insert(at, -1)

        # --- transformed equation + levels equation ------------------------------------
        if fod:
            Xt, Yt = _fod(X0, complete), _fod(Y0, complete)
            touse_t = np.zeros_like(touse0)
            touse_t[:, 1:] = touse0[:, :-1]
        else:
            Xt, Yt = _difference(X0), _difference(Y0)
            touse_t = touse0.copy()
        if self.constant:
            Xt[:, :, -1] = np.where(np.isnan(Xt[:, :, -1]), np.nan, 0.0)
        ZIVt = np.stack(iv_cols_t, axis=2) if iv_cols_t else np.zeros((N, T, 0))
        ZIVl = np.stack(iv_cols_l, axis=2) if iv_cols_l else np.zeros((N, T, 0))
        touse_t &= ~np.isnan(Xt).any(axis=2) & ~np.isnan(Yt) & ~np.isnan(ZIVt).any(axis=2)
        if system:
            touse_l = touse0 & ~np.isnan(ZIVl).any(axis=2)
            touse = np.concatenate([touse_t, touse_l], axis=1)
            X3 = np.concatenate([Xt, X0], axis=1)
            Y3 = np.concatenate([Yt, Y0], axis=1)
            ZIV3 = np.concatenate([ZIVt, ZIVl], axis=1)
        else:
            touse, X3, Y3, ZIV3 = touse_t, Xt, Yt, ZIVt
        main = touse[:, T:] if system else touse
        if not main.any():
            raise GMMDataError(
                f"no observations left after transforming: each group needs enough consecutive periods "
                f"for the lags asked (max regressor lag {max([l for _, l in reg_pairs] + [0])}, periods {T})")

        # --- GMM-style instruments --------------------------------------------------------
        gmm_cells, gmm_names, gmm_owner, gmm_is_level_extra = [], [], [], []
        j_iv = ZIV3.shape[2]
        n_cols = j_iv
        gspecs = []
        for g in self.gmm:
            pairs = expand_terms(g.variables, columns)
            if g.equation == "level" and not system:
                log.info("%s: levels-equation instruments ignored in difference GMM", g.label([_lag_name(*p) for p in pairs]))
                continue
            gspecs.append((g, pairs))
        for gi, (g, pairs) in enumerate(reversed(gspecs)):
            gid = len(gspecs) - 1 - gi
            base = np.stack([g2(v, l) for v, l in pairs], axis=2)  # (N, T, nv)
            bnames = [_lag_name(v, l) for v, l in pairs]
            nv = base.shape[2]
            level_only = g.equation == "level"
            diffed = level_only  # eq(level): instruments are differences, as xtabond2
            src = _difference(base) if diffed else base
            src = _nan0(src)
            a, b = g.lags
            lag_max = T - 1 - (1 if diffed else 0)
            b = lag_max if b is None else min(b, lag_max)
            row_off = T if (level_only and system) else 0
            t_first = 0 if level_only else 1  # transformed row 0 never exists
            main_r, main_c, main_s, main_v, main_names = _gmm_layout(
                bool(g.collapse), level_only, diffed, a, b, T, t_first, row_off, tuple(bnames), tuple(times.tolist()))
            entries_r, entries_c, entries_s, entries_v = [main_r], [main_c], [main_s], [main_v]
            cnames = list(main_names)
            ncol = n_main = len(main_names)
            if system and g.equation == "both":
                dsrc = _nan0(_difference(base))
                extra_lag = max(a - 1, 0)
                # hit[s, v, t]: D.variable v of period s is nonzero in levels row t of some group
                hit = np.einsum("nsv,nt->svt", (dsrc != 0).astype(float), touse[:, T:].astype(float)) > 0
                # column c: cells (row t, base period s, variable v), t = s + lag; a column
                # that is zero in the sample moves one period later, up to lag b-1
                # (xtabond2 searches deeper lags the same way)
                cols = []
                for v in range(nv):
                    for sp in ([None] if g.collapse else range(0, T - extra_lag)):
                        lag_here = extra_lag
                        while lag_here < b - 1 and lag_here < T - (sp or 0) and not (
                                np.diagonal(hit[:, v, :], lag_here).any() if sp is None else hit[sp, v, sp + lag_here]):
                            lag_here += 1
                        if sp is None:
                            sr = np.arange(0, max(T - lag_here, 0))
                        else:
                            sr = np.array([sp] if sp + lag_here < T else [], dtype=np.intp)
                        cols.append((sp, v, lag_here, sr))
                if not g.collapse:  # period-major like the main block
                    cols.sort(key=lambda col: (col[0], col[1]))
                xr, xc, xs, xv = [], [], [], []
                for _, v, lag_here, sr in cols:
                    xr.append(sr + lag_here + T)
                    xc.append(np.full(sr.size, ncol))
                    xs.append(sr)
                    xv.append(np.full(sr.size, v))
                    tag = "" if g.collapse else f"@{times[sr[0]] if sr.size else '?'}"
                    cnames.append(f"Levels eq: {_lag_name('D.' + bnames[v], lag_here)}{tag}")
                    ncol += 1
                if xr:
                    entries_r.append(np.concatenate(xr))
                    entries_c.append(np.concatenate(xc))
                    entries_s.append(np.concatenate(xs))
                    entries_v.append(np.concatenate(xv))
            if ncol:
                r = np.concatenate(entries_r)
                c = np.concatenate(entries_c)
                s = np.concatenate(entries_s)
                v = np.concatenate(entries_v)
                vals = src[:, s, v]
                is_extra = c >= n_main
                if is_extra.any():
                    vals[:, is_extra] = dsrc[:, s[is_extra], v[is_extra]]
                gmm_cells.append((r, c + n_cols, vals))
            n_cols += ncol
            gmm_names += cnames
            gmm_owner += [gid] * ncol
            gmm_is_level_extra += [False] * n_main + [True] * (ncol - n_main)

        # --- assemble and zero out unused rows --------------------------------------------
        # Z is held by its (row, column) cells: IV columns in every row, GMM columns in the
        # rows their lags reach; cells outside the sample or zero for every group go
        ZIV3 = _nan0(ZIV3)
        cell_r = [np.repeat(np.arange(R), j_iv)] + [g[0] for g in gmm_cells]
        cell_c = [np.tile(np.arange(j_iv), R)] + [g[1] for g in gmm_cells]
        cell_v = [ZIV3.reshape(N, R * j_iv)] + [g[2] for g in gmm_cells]
        cell_r, cell_c = np.concatenate(cell_r), np.concatenate(cell_c)
        cell_v = np.concatenate(cell_v, axis=1) * touse[:, cell_r]
        X3 = np.where(touse[:, :, None], X3, 0.0)  # complete where touse
        Y3 = np.where(touse, Y3, 0.0)
        inst_names = iv_names + gmm_names
        owner_iv = np.array(iv_owner + [-2] * len(gmm_names))
        owner_gmm = np.array([-2] * j_iv + gmm_owner)
        level_extra = np.array([False] * j_iv + gmm_is_level_extra)
        level_only_gmm = np.array([False] * j_iv + [gspecs[o][0].equation == "level" for o in gmm_owner], bool)
        # drop instrument columns that are zero in the sample (invsym would drop them too)
        live = (cell_v != 0).any(axis=0)
        nz = np.zeros(len(inst_names), bool)
        nz[cell_c[live]] = True
        if not nz.any():
            raise GMMDataError("no instruments left: every instrument column is zero in the estimation sample "
                               "(check the lag limits against the number of periods)")
        Zc = _Instruments(cell_r[live], (np.cumsum(nz) - 1)[cell_c[live]], cell_v[:, live], N, R, int(nz.sum()))
        inst_names = [n for n, k in zip(inst_names, nz) if k]
        owner_iv, owner_gmm = owner_iv[nz], owner_gmm[nz]
        level_extra, level_only_gmm = level_extra[nz], level_only_gmm[nz]

        # --- diff-Hansen groups: (label, mask of the *complement*) ------------------------
        groups, labels = [], []
        is_iv = owner_iv >= -1
        for gid, (g, pairs, _) in enumerate(iv_specs):
            lab = g.label([_lag_name(*p) for p in pairs])
            groups.append((lab, ~(owner_iv == gid)))
            labels.append(lab)
        for gid, (g, pairs) in enumerate(gspecs):
            lab = g.label([_lag_name(*p) for p in pairs])
            groups.append((lab, ~(owner_gmm == gid)))
            labels.append(lab)
        if system and (owner_gmm >= 0).any():
            comp = is_iv | ((owner_gmm >= 0) & ~level_extra & ~level_only_gmm)
            groups.append(("GMM instruments for levels", comp))
        # xtabond2 lists groups in its own order: levels first, then GMM, then IV (reversed)
        n_iv = len(iv_specs)
        order = ([len(groups) - 1] if system and (owner_gmm >= 0).any() else []) + \
            list(range(n_iv, n_iv + len(gspecs))) + list(range(n_iv))
        groups = [groups[i] for i in order]

        # --- regressor collinearity (xtabond2's _rmcoll, constant partialled out) ---------
        X = X3.reshape(N * R, -1)
        keep = self._rmcoll(X, names)
        dropped = [n for n, k in zip(names, keep) if not k]
        for n in dropped:
            log.info("%s dropped due to collinearity", n)
        X = X[:, keep]
        names = [n for n, k in zip(names, keep) if k]
        X0 = X0[:, :, keep]
        clus = None
        if self.cluster:
            c2 = np.concatenate([cl, cl], axis=1) if system else cl
            clus = np.where(touse, np.nan_to_num(c2, nan=-1), -1).reshape(-1).astype(np.int64)
        return _Design(N=N, T=T, R=R, X=X, Y=Y3.reshape(-1), Z=Zc, touse=touse, names=names,
                       ZX=Zc.cross_matrix(X.reshape(N, R, -1)), ZY=Zc.cross(Y3), index=pd.Index(names, dtype=object),
                       inst_names=inst_names, groups=groups, group_labels=labels, X0=X0, Y0=Y0,
                       complete=complete, cluster=clus, has_const=self.constant, dropped=dropped,
                       times=times)

    def _why_empty(self, reg_pairs, present, Y0, X0) -> str:
        n_max = int(present.sum(axis=1).max()) if present.size else 0
        need = max([l for _, l in reg_pairs] + [0]) + 1
        if n_max < need:
            return (f"too few periods: groups have at most {n_max} periods but the lags asked need "
                    f"{need} consecutive periods (plus one more for the transformed equation)")
        missing = [n for n, (v, l) in zip([_lag_name(*p) for p in reg_pairs], reg_pairs)
                   if np.isnan(X0[:, :, reg_pairs.index((v, l))]).all()]
        if missing:
            return f"no observations: regressor(s) {missing} are missing everywhere"
        if np.isnan(Y0).all():
            return f"no observations: dependent variable {self.dependent!r} is missing everywhere"
        return "no observations with the dependent variable and all regressors present"

    def _rmcoll(self, X: np.ndarray, names: list[str], tol: float = 1e-9) -> np.ndarray:
        k = X.shape[1]
        if k <= 1:
            return np.ones(k, bool)
        G = X.T @ X
        if self.constant:  # sweep the constant out first: Schur complement on it
            xt, st = G[:-1, -1], G[-1, -1]
            Gp = G[:-1, :-1] - np.outer(xt, xt / st) if st > 0 else G[:-1, :-1]
            return np.append(_sweep_keep(Gp, tol), True)
        return _sweep_keep(G, tol)

    # --- estimation ---------------------------------------------------------------------
    def fit(self, steps: int = 2, robust: bool = True, small: bool = False, h: int = 3,
            ar_order: int = 2, diff_hansen: bool = True, ginv: str = "invsym",
            rank_tol: float = 1e-12, convention: str = "published",
            cond_tol: float = 1e-10) -> GMMResults:
        """Estimate.

        ``steps``: 1 or 2; ``robust``: cluster-robust one-step SEs, Windmeijer-corrected
        two-step SEs; ``small``: t and F statistics with xtabond2's small-sample factor
        ``(N-1)/(N-K) * G/(G-1)``; ``h``: first-step weighting (1, 2, 3 as xtabond2's
        ``h()``, default 3); ``ar_order``: AR(1..m) tests; ``diff_hansen``: the
        difference-in-Hansen tests per instrument group; ``ginv``: generalized inverse
        for moment matrices, ``invsym`` (xtabond2) or ``pinv`` (Moore-Penrose);
        ``rank_tol``: relative pivot below which a column counts as collinear;
        ``cond_tol``: reciprocal condition number of X'Z A Z'X below which the
        covariance is flagged as degenerate (``degenerate_cov``);
        ``convention``: ``"published"`` reproduces the xtabond2 output printed in Roodman
        (2009) (and ``../shared/reference/gmm``); ``"xtabond2-3.7"`` follows the 2020
        Mata source.  They differ in three details only: (1) in system GMM with h>1 the
        error variance sig2 (used by the Sargan test, non-robust one-step SEs and the
        non-robust AR variance) divides the transformed-equation sum of squares by the
        number of levels observations (published) or of transformed observations
        (3.7); (2) the ``small`` factor is ``N/(N-DFm) * G/(G-1)`` with DFm the model
        degrees of freedom (published) or ``(N-1)/(N-K) * G/(G-1)`` (3.7); (3) the
        constant instrument is swept first (published) or last (3.7), which only
        decides which of several exactly collinear instruments a difference-in-Hansen
        group is charged with.
        """
        kw = dict(steps=steps, robust=robust, small=small, h=h, ar_order=ar_order,
                  diff_hansen=diff_hansen, ginv=ginv, rank_tol=rank_tol,
                  convention=convention, cond_tol=cond_tol)
        # One BLAS thread: the matrices are small (threads cost more than they save), and a
        # multi-threaded BLAS sums in an order that depends on the thread count, which on a
        # rank-deficient two-step weight matrix decides which regressors invsym can pivot
        # on, so the same data gave different estimates on machines with different cores.
        with _blas_single_thread():
            return self._fit(**kw)

    def _fit(self, steps, robust, small, h, ar_order, diff_hansen, ginv, rank_tol,
             convention, cond_tol) -> GMMResults:
        if steps not in (1, 2):
            raise ValueError(f"steps must be 1 or 2, got {steps!r}")
        if h not in (1, 2, 3):
            raise ValueError(f"h must be 1, 2 or 3, got {h!r}")
        if ginv not in ("invsym", "pinv"):
            raise ValueError(f"ginv must be 'invsym' or 'pinv', got {ginv!r}")
        if ar_order < 0:
            raise ValueError(f"ar_order must be >= 0, got {ar_order}")
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        if convention not in self._designs:
            self._designs[convention] = self._build(convention)
        d = self._designs[convention]
        robust = bool(robust) or d.cluster is not None
        if not cond_tol >= 0:
            raise ValueError(f"cond_tol must be >= 0, got {cond_tol!r}")
        return _estimate(self, d, steps=steps, robust=robust, small=bool(small), h=h,
                         ar_order=ar_order, want_diff=diff_hansen, ginv=ginv, tol=rank_tol,
                         convention=convention, cond_tol=float(cond_tol))


class SystemGMM(DynamicPanelGMM):
    """Blundell-Bond system GMM (transformed and levels equations stacked)."""

    system = True


class DifferenceGMM(DynamicPanelGMM):
    """Arellano-Bond difference GMM (transformed equation only, no constant)."""

    system = False


def _estimate(model: DynamicPanelGMM, d: _Design, *, steps, robust, small, h, ar_order,
              want_diff, ginv, tol, convention, cond_tol=1e-10) -> GMMResults:
    N, T, R = d.N, d.T, d.R
    X, Y, Z = d.X, d.Y, d.Z
    k, j = X.shape[1], Z.j
    system, fod = model.system, model.transform == "fod"
    warn_list: list[str] = []
    if k == 0:
        raise GMMDataError("no regressors left after dropping collinear ones")

    # group (or cluster) sums of Z'e: per-group blocks are contiguous rows of length R
    if d.cluster is None:
        def gsum(M):
            return M.reshape(N, R, -1).sum(axis=1)

        def usum(e):  # per-group Z_i'e_i
            return Z.group_sums(e.reshape(N, R))
        n_clusters = None
    else:
        codes = d.cluster
        valid = codes >= 0
        uniq, inv = np.unique(codes[valid], return_inverse=True)
        n_clusters = uniq.size

        def gsum(M):
            out = np.zeros((n_clusters, M.shape[1]))
            np.add.at(out, inv, M[valid])
            return out

        cl3 = np.full(N * R, n_clusters)
        cl3[valid] = inv
        cl3 = cl3.reshape(N, R)

        def usum(e):  # per-cluster sums of Z_ir'e_ir
            return Z.cluster_sums(e.reshape(N, R), cl3, n_clusters)

    # sample counts
    main = d.touse[:, T:] if system else d.touse
    per_group = main.sum(axis=1)
    nobs = int(per_group.sum())
    n_groups = int((per_group > 0).sum())
    nobs_stacked = int(d.touse.sum())
    wttot = int(d.touse[:, :T].sum()) if (system and h > 1 and convention != "published") else nobs

    # first step
    F = _h_factor(h, fod, system, T)
    S1 = Z.first_step(F.T @ F)
    ZX, ZY = d.ZX, d.ZY
    G1 = _GInverse(S1, tol, ginv)  # A1 = S1^- / sig2
    drop1 = G1.dropped
    W1 = G1.half(ZX)
    bread1 = W1.T @ W1
    V1 = _inv_k(bread1, tol, ginv)
    b1 = V1 @ (W1.T @ G1.half(ZY))
    e1 = Y - X @ b1
    err_rows = np.zeros((N, R), bool)
    if system:
        err_rows[:, :T] = h != 1
        err_rows[:, T:] = h == 1
    else:
        err_rows[:] = True
    we = e1.reshape(N, R)[err_rows]
    div = 2.0 - (fod or h == 1)
    sig2 = float(we @ we) / div / wttot
    a1 = 1.0 / sig2
    V1 = V1 * sig2
    j0 = j - drop1
    if j0 > n_groups:
        msg = f"{j0} instruments exceed the {n_groups} groups: instrument proliferation can weaken the Hansen test"
        warnings.warn(msg, TooManyInstrumentsWarning, stacklevel=3)
        warn_list.append(msg)
    if j0 < k:
        raise GMMDataError(f"equation not identified: {k} regressors but only {j0} instruments left")
    Ze1 = Z.cross(e1.reshape(N, R))
    sargan_df = j0 - k
    sargan_stat = a1 * G1.quad(Ze1)
    onestep_nonrobust = steps == 1 and not robust
    hansen = None
    V2 = V2r = V1r = b2 = e2 = S = XZA2 = None
    small_c = 1.0
    moments_singular = False
    if onestep_nonrobust:
        S = S1 * sig2
    else:
        U1 = usum(e1)
        if d.cluster is not None and small:
            small_c = n_clusters / (n_clusters - 1.0)
        S = small_c * (U1.T @ U1)
        VXZA1 = a1 * V1 @ G1.solve(ZX).T
        V1r = VXZA1 @ S @ VXZA1.T
        G2 = _GInverse(S, tol, ginv)  # A2
        drop2 = G2.dropped
        moments_singular = drop2 > drop1
        if drop2 > drop1 or (ginv == "pinv" and drop2):
            msg = ("two-step estimated covariance matrix of moments is singular; using a generalized inverse "
                   f"({ginv}) for the {'optimal weighting matrix' if steps == 2 else 'Hansen test'}; "
                   "difference-in-Hansen statistics may be negative")
            warnings.warn(msg, SingularMomentsWarning, stacklevel=3)
            warn_list.append(msg)
        XZA2 = G2.solve(ZX).T
        W2 = G2.half(ZX)
        bread2 = W2.T @ W2
        V2 = _inv_k(bread2, tol, ginv)
        b2 = V2 @ (XZA2 @ ZY)
        e2 = Y - X @ b2
        if steps == 2:
            we = e2.reshape(N, R)[err_rows]
            sig2 = float(we @ we) / div / wttot
        Ze2 = Z.cross(e2.reshape(N, R))
        A2Ze = G2.solve(Ze2)
        if steps == 2 and robust:
            # Windmeijer (2005): column q of D is sum_i [(u_i'a) Z_i'x_q,i + u_i a'Z_i'x_q,i]
            w_rows = (U1 @ A2Ze)
            za = Z.times(A2Ze).reshape(-1)
            if d.cluster is None:
                C = (X * za[:, None]).reshape(N, R, k).sum(axis=1)
                ZXw = Z.weighted_cross(X.reshape(N, R, k), np.broadcast_to(w_rows[:, None], (N, R)))
            else:
                wr = np.zeros(len(Y))
                wr[valid] = w_rows[inv]
                C = gsum(X * za[:, None])
                ZXw = Z.weighted_cross(X.reshape(N, R, k), wr.reshape(N, R))
            Draw = small_c * (ZXw + U1.T @ C)
            D = V2 @ XZA2 @ Draw
            V2r = V2 + D @ V1r @ D.T + 2 * D @ V2
        hansen_stat = float(Ze2 @ A2Ze)
        hansen = TestStat(hansen_stat, _chi2_p(hansen_stat, sargan_df), sargan_df)
    if steps == 1:
        b, Vn, e, bread = b1, V1, e1, bread1
        Vr = V1r if robust else None
        m2VZXA = (-2.0 * a1) * V1 @ G1.solve(ZX).T
    else:
        b, Vn, e, bread = b2, V2, e2, bread2
        Vr = V2r if robust else None
        m2VZXA = -2.0 * V2 @ XZA2
    Vuse = Vr if robust else Vn
    V = (Vuse + Vuse.T) / 2
    df_resid = None
    # model degrees of freedom: rank of the (levels) regressors less the constant, or
    # less one when a constant lies in their column space anyway (xtabond2)
    Xl = X.reshape(N, R, k)[:, T:, :].reshape(-1, k) if system else X
    dfm = int(np.linalg.matrix_rank(Xl)) - int(d.has_const)
    if not d.has_const:
        iota = (d.touse[:, T:] if system else d.touse).reshape(-1).astype(float)
        xi = Xl.T @ iota
        fit_ss = _GInverse(Xl.T @ Xl, tol).quad(xi)
        if abs(fit_ss - iota.sum()) <= 1e-9 * iota.sum():
            dfm -= 1
    if small:
        sig2 *= wttot / (wttot - k)
        if onestep_nonrobust:
            V = V * (wttot / (wttot - k))
        elif convention == "published":
            V = V * (nobs / (nobs - dfm)) * (1.0 if d.cluster is not None else n_groups / (n_groups - 1.0))
        elif d.cluster is not None:
            V = V * ((nobs - 1.0) / (nobs - k))
        else:
            V = V * ((nobs - 1.0) / (nobs - k) * n_groups / (n_groups - 1.0))
    # Wald test of all coefficients (xtabond2: df excludes the constant)
    wald = None
    g_den = n_clusters if n_clusters is not None else n_groups
    if small:
        df_resid = (nobs - dfm if onestep_nonrobust else g_den) - int(d.has_const)
    if dfm > 0:
        q = _GInverse(V, tol, ginv).quad(b)
        if small:
            wald = TestStat(q / dfm, float(special.fdtrc(dfm, df_resid, q / dfm)), dfm, "F")
        else:
            wald = TestStat(q, _chi2_p(q, dfm), dfm)

    # omitted regressors and a degenerate covariance (see the module notes)
    omit = np.diag(Vn) == 0
    omitted = [str(n) for n in np.asarray(d.index)[omit]]
    rcond = _scaled_rcond(bread)
    reasons: list[str] = []
    which = "two-step" if steps == 2 else "one-step"
    if omitted:
        reasons.append(f"{', '.join(omitted)} omitted: X'Z A Z'X of the {which} fit is singular and the "
                       f"generalized inverse ({ginv}) drops them (xtabond2 prints them as 0 with SE 0)")
    if not rcond >= cond_tol:
        reasons.append(f"X'Z A Z'X of the {which} fit is numerically singular (reciprocal condition "
                       f"number {rcond:.2g} < {cond_tol:g})")
    if not np.all(np.isfinite(V)) or np.any(np.diag(V) < 0):
        reasons.append("the covariance matrix has non-finite or negative variances")
    degenerate_reason = None
    if reasons:
        g_n = n_clusters if n_clusters is not None else n_groups
        context = ""
        if steps == 2 and moments_singular:
            context = (f"; the two-step weighting matrix inverts a singular moment matrix ({j0} instruments, "
                       f"{g_n} {'clusters' if n_clusters is not None else 'groups'})")
        degenerate_reason = "; ".join(reasons) + context + \
            ": the standard errors are not meaningful (collapse the instruments or limit their lags)"
        warnings.warn(degenerate_reason, DegenerateCovarianceWarning, stacklevel=3)
        warn_list.append(degenerate_reason)

    # difference-in-Hansen/Sargan
    diffs: list[DiffHansen] = []
    if want_diff and d.groups:
        kept1 = G1.keep
        base_stat = hansen.stat if hansen is not None else sargan_stat
        nzV2 = int((np.diag(V2) == 0).sum()) if V2 is not None else 0
        nzV = int((np.diag(Vuse) == 0).sum())
        for label, comp in d.groups:
            n_other = int(kept1[comp].sum())
            if not (n_other >= k and n_other < j0):
                continue
            p = np.flatnonzero(comp)
            Gp = _GInverse(S[np.ix_(p, p)], tol, ginv)
            ZXp = ZX[p]
            Wp = Gp.half(ZXp)
            Vp = _inv_k(Wp.T @ Wp, tol, ginv)
            if int((np.diag(Vp) == 0).sum()) != nzV:
                continue
            bp = Vp @ (Wp.T @ Gp.half(ZY[p]))
            ep = Y - X @ bp
            Zep = Z.cross(ep.reshape(N, R))[p]
            excl = Gp.quad(Zep)
            diff = base_stat - excl
            g_df = j0 - n_other - nzV2
            ex_df = sargan_df - g_df
            diffs.append(DiffHansen(
                label,
                TestStat(excl, _chi2_p(excl, ex_df), ex_df),
                TestStat(diff, _chi2_p(diff, g_df), g_df)))

    # Arellano-Bond AR(m) tests
    ar = _ar_tests(model, d, ar_order, b, e, Vuse, m2VZXA, sig2, h, robust, onestep_nonrobust, gsum=None)

    names = d.index
    gmin = int(per_group[per_group > 0].min()) if n_groups else 0
    gmax = int(per_group.max()) if n_groups else 0
    return GMMResults(
        _b=b, _V=V, _names=names, nobs=nobs, nobs_stacked=nobs_stacked, n_groups=n_groups,
        n_instruments=j0, instrument_names=d.inst_names, ar_tests=ar,
        sargan=TestStat(sargan_stat, _chi2_p(sargan_stat, sargan_df), sargan_df),
        hansen=hansen, diff_hansen=diffs, wald=wald, small=small, df_resid=df_resid,
        steps=steps, robust=robust, h=h, estimator=model.estimator, dependent=model.dependent,
        entity=model.entity, time=model.time, transform="orthogonal deviations" if fod else "first differences",
        sigma2=sig2, g_min=gmin, g_max=gmax, dropped=d.dropped, warnings=warn_list,
        instrument_groups=d.group_labels, time_dummies=model.time_dummies, n_clusters=n_clusters,
        resid=e, _b1=b1, _omit1=np.diag(V1) == 0, _omit=omit, omitted=omitted,
        degenerate_cov=degenerate_reason is not None, degenerate_cov_reason=degenerate_reason,
        bread_rcond=rcond, moments_singular=moments_singular,
    )


class _Instruments:
    """The instrument matrix on the (group x row) grid, held by its cells: cell ``e``
    sits in row ``r[e]`` and column ``c[e]`` and has value ``val[i, e]`` for group ``i``.
    GMM-style columns fill one row (one lag of one period) or a few (collapsed), so the
    cells are a small fraction of the dense N x R x j array and every product with Z
    is a gather plus a segmented sum."""

    def __init__(self, r: np.ndarray, c: np.ndarray, val: np.ndarray, N: int, R: int, j: int):
        order = np.lexsort((c, r))  # row-major: each row's cells are a slice
        self.r, self.c, self.val = r[order], c[order], val[:, order]
        self.N, self.R, self.j = N, R, j
        bounds = np.searchsorted(self.r, np.arange(R + 1))
        self.rows = [(t, slice(bounds[t], bounds[t + 1])) for t in range(R) if bounds[t + 1] > bounds[t]]
        self.row_ids = np.array([t for t, _ in self.rows], dtype=np.intp)
        self.row_starts = np.array([sl.start for _, sl in self.rows], dtype=np.intp)
        self.bycol = bycol = np.argsort(self.c, kind="stable")  # column-major copy for per-column sums
        self.r_c, self.val_c = self.r[bycol], self.val[:, bycol]
        self.col_starts = np.searchsorted(self.c[bycol], np.arange(j))

    def group_sums(self, v: np.ndarray) -> np.ndarray:
        """(N, j): Z_i'v_i for a (N, R) array ``v``."""
        return np.add.reduceat(self.val_c * v[:, self.r_c], self.col_starts, axis=1)

    def cross(self, v: np.ndarray) -> np.ndarray:
        """(j,): Z'v summed over groups."""
        return np.add.reduceat(np.einsum("ne,ne->e", self.val_c, v[:, self.r_c]), self.col_starts)

    def cluster_sums(self, v: np.ndarray, cl: np.ndarray, n: int) -> np.ndarray:
        """(n, j): sums of Z_ir'v_ir by the cluster code ``cl[i, r]`` (n = outside)."""
        idx = cl[:, self.r] * self.j + self.c
        out = np.bincount(idx.ravel(), weights=(self.val * v[:, self.r]).ravel(), minlength=(n + 1) * self.j)
        return out.reshape(n + 1, self.j)[:n]

    def times(self, a: np.ndarray) -> np.ndarray:
        """(N, R): Z_i a."""
        out = np.zeros((self.N, self.R))
        if self.rows:
            out[:, self.row_ids] = np.add.reduceat(self.val * a[self.c], self.row_starts, axis=1)
        return out

    def cross_matrix(self, X3: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        """(j, k): Z'X for a (N, R, k) array, or sum_i sum_r w_ir Z_ir'X_ir with weights."""
        val = self.val if w is None else self.val * w[:, self.r]
        P = np.concatenate([val[:, sl].T @ X3[:, t, :] for t, sl in self.rows], axis=0)
        return np.add.reduceat(P[self.bycol], self.col_starts, axis=0)

    def weighted_cross(self, X3: np.ndarray, w: np.ndarray) -> np.ndarray:
        """(j, k): sum_i sum_r w_ir Z_ir'X_ir."""
        return self.cross_matrix(X3, w)

    def first_step(self, H: np.ndarray) -> np.ndarray:
        """sum_i Z_i'H Z_i: the cells' Gram matrix weighted by H between their rows,
        summed into columns."""
        M = self.val_c.T @ self.val_c
        M *= H[np.ix_(self.r_c, self.r_c)]
        return np.add.reduceat(np.add.reduceat(M, self.col_starts, axis=0), self.col_starts, axis=1)


def _inv_k(M: np.ndarray, tol: float, method: str) -> np.ndarray:
    return _ginv(M, tol, method)[0]


def _scaled_rcond(M: np.ndarray) -> float:
    """Reciprocal 2-norm condition number of the symmetric PSD ``M`` scaled to unit
    diagonal (0 when a diagonal entry is not positive or M is not finite)."""
    if M.size == 0:
        return 1.0
    d = np.diag(M)
    if not np.all(np.isfinite(M)) or np.any(d <= 0):
        return 0.0
    s = 1.0 / np.sqrt(d)
    w = np.linalg.eigvalsh(M * s[:, None] * s[None, :])
    return float(max(w[0], 0.0) / w[-1]) if w[-1] > 0 else 0.0


def _ar_tests(model, d: _Design, order, b, e, V, m2VZXA, sig2, h, robust, onestep_nonrobust, gsum):
    """Arellano-Bond AR(m) tests on the transformed-equation residuals; the variance uses
    the full (stacked) residual of each group, as xtabond2."""
    N, T, R = d.N, d.T, d.R
    system, fod = model.system, model.transform == "fod"
    k = d.X.shape[1]
    touse_t = d.touse[:, :T]
    if fod:
        res0 = d.Y0 - np.einsum("ntk,k->nt", np.nan_to_num(d.X0), b)
        res0 = np.where(np.isnan(d.Y0) | np.isnan(d.X0).any(axis=2), np.nan, res0)
        w = np.nan_to_num(_difference(res0))
        pX = np.nan_to_num(_difference(d.X0)).reshape(N * T, k)
    else:
        e3 = e.reshape(N, R)
        w = e3[:, :T].copy()
        pX = d.X.reshape(N, R, k)[:, :T, :].reshape(N * T, k)
    Ue = d.Z.group_sums(e.reshape(N, R)) if not onestep_nonrobust else None
    if onestep_nonrobust:
        H = _h_matrix(h, False, False, False, T) * sig2
        psit = _h_matrix(h, False, fod, False, T) * sig2
        if system:
            psit = np.hstack([psit, np.zeros((T, T))])
    out: dict[int, TestStat] = {}
    wl = w
    for m in range(1, order + 1):
        wl = _lag_rows(wl, 1)
        sww = (w * wl).sum(axis=1)
        if not np.any(sww):
            out[m] = TestStat(np.nan, np.nan, None, "z")
            continue
        if onestep_nonrobust:
            wli = wl * touse_t
            wHw = float(np.einsum("nt,ts,ns->", wli, H, wli))
            psiw = wli @ psit  # (N, R)
            ZHw = d.Z.cross(psiw)
        else:
            wHw = float(sww @ sww)
            ZHw = Ue.T @ sww
        tmp = pX.T @ wl.reshape(-1)
        var = wHw + float(tmp @ (m2VZXA @ ZHw + V @ tmp))
        z = float(sww.sum() / np.sqrt(var)) if var > 0 else np.nan
        out[m] = TestStat(z, float(2 * special.ndtr(-abs(z))) if np.isfinite(z) else np.nan, None, "z")
    return out


# ---------------------------------------------------------------------------------------
# Specifications as data
# ---------------------------------------------------------------------------------------
@dataclass
class GMMSpec:
    """One GMM model held as data (see conf/models/study1.yaml for the fields).

    ``interactions`` adds product columns before estimation: each entry is
    ``{name, of: [a, b], centre: bool}``; with ``centre`` the two factors are
    mean-centred over the estimation data before multiplying (the study's
    "centralised" interaction).
    """

    name: str
    dependent: str
    lags: int = 1
    exog: list[str] = field(default_factory=list)
    gmm: list[GMMInstrument] = field(default_factory=list)
    iv: list[IVInstrument] = field(default_factory=list)
    estimator: str = "system"
    transform: str = "fd"
    constant: bool = True
    time_dummies: bool = False
    entity: str | None = None
    time: str | None = None
    panel: str | None = None
    cluster: str | None = None
    interactions: list[dict[str, Any]] = field(default_factory=list)
    fit_options: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    _FIT_KEYS = ("steps", "robust", "small", "h", "ar_order", "diff_hansen", "ginv", "rank_tol", "convention",
                 "cond_tol")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str | None = None) -> "GMMSpec":
        d = dict(d)
        known = {"name", "dependent", "lags", "exog", "gmm", "iv", "estimator", "transform",
                 "constant", "time_dummies", "entity", "time", "panel", "cluster",
                 "interactions", "fit", "description"}
        unknown = set(d) - known
        label = name or d.get("name", "?")
        if unknown:
            raise GMMDataError(f"model {label!r}: unknown key(s) {sorted(unknown)}; expected {sorted(known)}")
        if "dependent" not in d:
            raise GMMDataError(f"model {label!r}: 'dependent' is required")
        if d.get("estimator", "system") not in ("system", "difference"):
            raise GMMDataError(f"model {label!r}: estimator must be system or difference, got {d['estimator']!r}")

        def as_list(v):
            return [] if v is None else ([v] if isinstance(v, str) else list(v))

        gmm = []
        for g in as_list(d.get("gmm")):
            g = {"variables": g} if isinstance(g, str) else dict(g)
            if "lags" in g and g["lags"] is not None:
                g["lags"] = tuple(g["lags"])
            gmm.append(GMMInstrument(**g))
        iv = []
        for g in as_list(d.get("iv")):
            g = {"variables": g} if isinstance(g, str) else dict(g)
            iv.append(IVInstrument(**g))
        fit = dict(d.get("fit") or {})
        bad = set(fit) - set(cls._FIT_KEYS)
        if bad:
            raise GMMDataError(f"model {label!r}: unknown fit option(s) {sorted(bad)}; expected {list(cls._FIT_KEYS)}")
        for it in as_list(d.get("interactions")):
            if not isinstance(it, Mapping) or "name" not in it or len(it.get("of", ())) != 2:
                raise GMMDataError(f"model {label!r}: interaction {it!r} needs name and of: [a, b]")
        return cls(name=name or d.get("name") or d["dependent"], dependent=d["dependent"],
                   lags=int(d.get("lags", 1)), exog=as_list(d.get("exog")), gmm=gmm, iv=iv,
                   estimator=d.get("estimator", "system"), transform=d.get("transform", "fd"),
                   constant=bool(d.get("constant", True)), time_dummies=bool(d.get("time_dummies", False)),
                   entity=d.get("entity"), time=d.get("time"), panel=d.get("panel"),
                   cluster=d.get("cluster"), interactions=[dict(i) for i in as_list(d.get("interactions"))],
                   fit_options=fit, description=str(d.get("description", "")))

    @classmethod
    def from_yaml(cls, path: str | Path, model: str | None = None) -> "GMMSpec | dict[str, GMMSpec]":
        """Load ``models:`` from a YAML file: all of them (dict by name) or the one named."""
        import yaml
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        models = doc.get("models", doc)
        defaults = doc.get("defaults", {}) if "models" in doc else {}
        specs = {}
        for key, body in models.items():
            merged = {**defaults, **(body or {})}
            if defaults.get("fit") or (body or {}).get("fit"):
                merged["fit"] = {**defaults.get("fit", {}), **(body or {}).get("fit", {})}
            specs[key] = cls.from_dict(merged, name=key)
        if model is not None:
            if model not in specs:
                raise KeyError(f"{path}: no model {model!r} (have {sorted(specs)})")
            return specs[model]
        return specs

    def prepare(self, data: pd.DataFrame) -> pd.DataFrame:
        """Add the interaction columns to a copy of ``data``."""
        if not self.interactions:
            return data
        out = data.copy()
        for it in self.interactions:
            a, b = it["of"]
            for c in (a, b):
                if c not in out.columns:
                    raise GMMDataError(f"model {self.name!r}: interaction {it['name']!r} needs column {c!r}")
            xa, xb = out[a].astype(float), out[b].astype(float)
            if it.get("centre", False):
                xa, xb = xa - _order_free_mean(xa.to_numpy()), xb - _order_free_mean(xb.to_numpy())
            out[it["name"]] = xa * xb
        return out

    def model(self, data: pd.DataFrame, **overrides: Any) -> DynamicPanelGMM:
        cls = SystemGMM if self.estimator == "system" else DifferenceGMM
        kw = dict(lags=self.lags, exog=self.exog, entity=self.entity, time=self.time,
                  gmm=self.gmm, iv=self.iv, transform=self.transform, constant=self.constant,
                  time_dummies=self.time_dummies, cluster=self.cluster)
        kw.update(overrides)
        return cls(self.prepare(data), self.dependent, **kw)

    def fit(self, data: pd.DataFrame, **fit_overrides: Any) -> GMMResults:
        return self.model(data).fit(**{**self.fit_options, **fit_overrides})

    def replacement(self, model: DynamicPanelGMM, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """``columns`` plus the interaction columns that depend on them, recomputed as
        :meth:`prepare` would on the data with ``columns`` replaced (``model`` is one
        built by :meth:`model`; its data supplies the other factors)."""
        out = {str(k): (v.to_numpy() if isinstance(v, (pd.Series, pd.Index)) else np.asarray(v)).astype(float)
               for k, v in columns.items()}
        for it in self.interactions:
            a, b = it["of"]
            if a not in out and b not in out:
                continue
            xa = out[a] if a in out else model.data[a].to_numpy(dtype=float)
            xb = out[b] if b in out else model.data[b].to_numpy(dtype=float)
            if it.get("centre", False):
                xa, xb = xa - _order_free_mean(xa), xb - _order_free_mean(xb)
            out[it["name"]] = xa * xb
        return out

    def refit(self, model: DynamicPanelGMM, columns: Mapping[str, Any], **fit_overrides: Any) -> GMMResults:
        """Re-estimate this specification with ``columns`` replaced, reusing ``model``
        (from :meth:`model`): equals ``self.fit(data.assign(**columns))``, interactions
        included, at a fraction of the cost."""
        return model.refit(self.replacement(model, columns), **{**self.fit_options, **fit_overrides})
