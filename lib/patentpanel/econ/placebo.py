"""Permutation placebo of a System-GMM coefficient (study 1, Fig. 6).

The real coefficient of ``term`` (IP in Model 2 by default) is compared with its
distribution when the IP column is randomly reassigned and the same specification is
re-estimated ``R`` times. Schemes (what each permutation keeps):

``within_year``  IP values shuffled across clusters within each year: the multiset of IP
                 of every year (so the national time profile) is kept, the link to the
                 cluster is broken.
``all``          shuffled across all cluster-years: only the overall multiset is kept.
``series``       whole IP series swapped between clusters (a random permutation of the
                 clusters; cluster i gets the series of cluster pi(i), year by year): every
                 series stays intact, including its own dynamics. In an unbalanced panel a
                 year the donor lacks becomes missing.

Replication ``r`` permutes with :func:`patentpanel.econ.distributed.replication_rng`
``(seed, "placebo", r)``, so the draws are the same on any runner and partitioning. It
re-estimates through the GMM engine's fast path (``GMMSpec.refit``: the model built once
on the driver and broadcast, only the permuted column replaced), which gives the numbers
of a full fit on the permuted data; interaction columns built from IP (Model 3's centred
IP*NC) are rebuilt from the permuted column.

Empirical p-values over the S successful replications (failed fits are excluded from
the count and reported):

* two-sided ``(1 + #{|b_r| >= |b|}) / (S + 1)``
* greater   ``(1 + #{b_r >= b}) / (S + 1)``
* less      ``(1 + #{b_r <= b}) / (S + 1)``

(the "+1" counts the real assignment as one of the permutations, which keeps the test
exact, Phipson & Smyth 2010). The density is ``scipy.stats.gaussian_kde`` with Scott's
bandwidth on a regular grid covering the draws and the real coefficient.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .distributed import ReplicationRunner, SerialRunner, replication_rng
from .gmm import DynamicPanelGMM, GMMDataError, GMMResults, GMMSpec

log = logging.getLogger("patentpanel.econ.placebo")

__all__ = ["SCHEMES", "PlaceboTest", "PlaceboResults", "permute_column", "empirical_pvalues",
           "kde_grid"]

SCHEMES = ("within_year", "all", "series")
PURPOSE = "placebo"


# ----------------------------------------------------------------------------- permutations
@dataclass(frozen=True)
class _Layout:
    """Row positions prepared once: per-year row groups and the (entity x year) grid."""
    year_groups: tuple[np.ndarray, ...]
    grid: np.ndarray  # (n_entities, n_years) row position or -1

    @classmethod
    def of(cls, panel: pd.DataFrame, entity: str, time: str) -> "_Layout":
        e_codes, _ = pd.factorize(panel[entity], sort=True)
        t_codes, t_uni = pd.factorize(panel[time], sort=True)
        groups = tuple(np.flatnonzero(t_codes == k) for k in range(len(t_uni)))
        grid = np.full((e_codes.max() + 1, len(t_uni)), -1, dtype=np.int64)
        grid[e_codes, t_codes] = np.arange(len(panel))
        return cls(groups, grid)


def permute_column(values: np.ndarray, layout: _Layout, scheme: str,
                   rng: np.random.Generator) -> np.ndarray:
    """One permutation of ``values`` (aligned with the panel's rows) under ``scheme``."""
    values = np.asarray(values, dtype=float)
    out = values.copy()
    if scheme == "within_year":
        for idx in layout.year_groups:
            out[idx] = values[idx[rng.permutation(len(idx))]]
    elif scheme == "all":
        out = values[rng.permutation(len(values))]
    elif scheme == "series":
        g = layout.grid
        donor = g[rng.permutation(g.shape[0])]
        have = g >= 0
        src = np.where(donor >= 0, values[np.maximum(donor, 0)], np.nan)
        out[g[have]] = src[have]
    else:
        raise ValueError(f"unknown placebo scheme {scheme!r}; expected one of {SCHEMES}")
    return out


# ----------------------------------------------------------------------------- inference
def empirical_pvalues(draws: np.ndarray, real: float) -> dict[str, float]:
    """Permutation p-values of ``real`` against the finite ``draws`` (formulas above)."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    s = len(d)
    if s == 0 or not np.isfinite(real):
        return {"two_sided": float("nan"), "greater": float("nan"), "less": float("nan"), "n": s}
    return {"two_sided": (1 + int(np.sum(np.abs(d) >= abs(real)))) / (s + 1),
            "greater": (1 + int(np.sum(d >= real))) / (s + 1),
            "less": (1 + int(np.sum(d <= real))) / (s + 1), "n": s}


def kde_grid(draws: np.ndarray, real: float | None = None, points: int = 512,
             pad: float = 3.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Gaussian KDE (Scott's rule) of ``draws`` on ``points`` equally spaced values from
    ``min - pad*h`` to ``max + pad*h`` (``h`` the bandwidth; the range also covers
    ``real``). Returns ``(x, density, h)``."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2 or np.ptp(d) == 0:
        raise ValueError(f"kernel density needs at least two distinct finite draws, got {len(d)}")
    kde = stats.gaussian_kde(d, bw_method="scott")
    h = float(np.sqrt(kde.covariance[0, 0]))
    lo, hi = d.min(), d.max()
    if real is not None and np.isfinite(real):
        lo, hi = min(lo, real), max(hi, real)
    x = np.linspace(lo - pad * h, hi + pad * h, int(points))
    return x, kde(x), h


# ----------------------------------------------------------------------------- replications
@dataclass(frozen=True)
class _Payload:
    panel: pd.DataFrame
    spec: GMMSpec
    model: DynamicPanelGMM
    column: str
    term: str
    scheme: str
    seed: int
    layout: _Layout
    fit_options: Mapping[str, Any]


def _term_row(res: GMMResults, term: str) -> dict:
    if term not in res.params.index:
        raise GMMDataError(f"term {term!r} was dropped from the fit (collinear or all zero); "
                           f"estimated terms: {list(res.params.index)}")
    if term in getattr(res, "omitted", ()):
        raise GMMDataError(f"term {term!r} omitted: not identified by the "
                           f"{'two' if res.steps == 2 else 'one'}-step weighting (singular X'Z A Z'X)")
    coef, se = float(res.params[term]), float(res.std_errors[term])
    if not (np.isfinite(coef) and np.isfinite(se)):
        raise FloatingPointError(f"non-finite estimate of {term!r}: coef={coef}, se={se}")
    return {"coef": coef, "se": se, "nobs": int(res.nobs), "n_instruments": int(res.n_instruments)}


def placebo_replication(r: int, p: _Payload) -> dict:
    """Replication ``r``: permute ``p.column`` and re-estimate (the task the runners call)."""
    rng = replication_rng(p.seed, PURPOSE, r)
    permuted = permute_column(p.panel[p.column].to_numpy(), p.layout, p.scheme, rng)
    return _term_row(p.spec.refit(p.model, {p.column: permuted}, **p.fit_options), p.term)


@dataclass
class PlaceboResults:
    """The real estimate, every replication's row and the summary statistics."""
    model: str
    term: str
    scheme: str
    seed: int
    real: float
    real_se: float
    draws: pd.DataFrame  # replication, coef, se, nobs, n_instruments, status, reason, warnings
    grid_points: int = 512
    _kde: tuple | None = field(default=None, repr=False)

    @property
    def replications(self) -> int:
        return len(self.draws)

    @property
    def ok(self) -> pd.DataFrame:
        return self.draws[self.draws["status"] == "ok"]

    @property
    def coefs(self) -> np.ndarray:
        return self.ok["coef"].to_numpy(dtype=float)

    @property
    def n_failed(self) -> int:
        return int((self.draws["status"] != "ok").sum())

    @property
    def failures(self) -> dict[str, int]:
        """Failure reasons (exception type and message) with their counts."""
        return dict(Counter(self.draws.loc[self.draws["status"] != "ok", "reason"]))

    @property
    def pvalues(self) -> dict[str, float]:
        return empirical_pvalues(self.coefs, self.real)

    def density(self) -> pd.DataFrame:
        """The kernel density of the placebo coefficients on a grid (Fig. 6)."""
        if self._kde is None:
            self._kde = kde_grid(self.coefs, self.real, self.grid_points)
        x, y, _ = self._kde
        return pd.DataFrame({"x": x, "density": y})

    @property
    def bandwidth(self) -> float:
        self.density()
        return float(self._kde[2])

    def summary(self) -> dict[str, Any]:
        c = self.coefs
        p = self.pvalues
        out = {"model": self.model, "term": self.term, "scheme": self.scheme, "seed": self.seed,
               "replications": self.replications, "succeeded": int(len(c)), "failed": self.n_failed,
               "failure_reasons": self.failures, "real_coef": self.real, "real_se": self.real_se,
               "mean": float(c.mean()) if len(c) else float("nan"),
               "sd": float(c.std(ddof=1)) if len(c) > 1 else float("nan"),
               "p_two_sided": p["two_sided"], "p_greater": p["greater"], "p_less": p["less"],
               "p_formula": "(1 + #{|b_r| >= |b|}) / (S + 1); one-sided (1 + #{b_r >= b}) / (S + 1), "
                            "(1 + #{b_r <= b}) / (S + 1); S = successful replications"}
        if len(c) >= 2 and np.ptp(c) > 0:
            out["kde_bandwidth"] = self.bandwidth
        return out

    def __str__(self) -> str:
        s = self.summary()
        return (f"Placebo ({s['scheme']}) of {s['term']} in {s['model']}: real {s['real_coef']:.4f}, "
                f"placebo mean {s['mean']:.4f} (sd {s['sd']:.4f}) over {s['succeeded']}/"
                f"{s['replications']} replications; p two-sided {s['p_two_sided']:.4f}, "
                f"greater {s['p_greater']:.4f}, less {s['p_less']:.4f}")


class PlaceboTest:
    """Permutation placebo of ``term`` in a GMM specification.

    >>> spec = GMMSpec.from_yaml("conf/models/study1.yaml", "model2")
    >>> res = PlaceboTest(panel, spec, replications=1000, seed=1).run(SparkRunner(spark))
    >>> res.summary()["p_two_sided"]
    """

    def __init__(self, panel: pd.DataFrame, spec: GMMSpec, *, column: str = "ip",
                 term: str | None = None, scheme: str = "within_year", replications: int = 1000,
                 seed: int, fit_options: Mapping[str, Any] | None = None, grid_points: int = 512):
        if scheme not in SCHEMES:
            raise ValueError(f"placebo scheme {scheme!r}: expected one of {SCHEMES}")
        if int(replications) < 1:
            raise ValueError(f"placebo replications must be >= 1, got {replications}")
        if seed is None:
            raise ValueError("placebo: seed is required (run.seed or --seed)")
        entity, time = spec.entity, spec.time
        for col in (entity, time, column):
            if col not in panel.columns:
                raise GMMDataError(f"placebo of {spec.name}: panel has no column {col!r} "
                                   f"(columns: {list(panel.columns)})")
        self.panel = panel.reset_index(drop=True)
        self.spec, self.column, self.term = spec, column, term or column
        self.scheme, self.replications, self.seed = scheme, int(replications), int(seed)
        self.fit_options = {**spec.fit_options, **(fit_options or {})}
        self.grid_points = int(grid_points)
        self.layout = _Layout.of(self.panel, entity, time)
        self.model = spec.model(self.panel)

    def payload(self) -> _Payload:
        return _Payload(self.panel, self.spec, self.model, self.column, self.term, self.scheme,
                        self.seed, self.layout, self.fit_options)

    def permuted(self, r: int) -> np.ndarray:
        """The permuted column of replication ``r`` (what the replication estimates with)."""
        return permute_column(self.panel[self.column].to_numpy(), self.layout, self.scheme,
                              replication_rng(self.seed, PURPOSE, r))

    def run(self, runner: ReplicationRunner | None = None) -> PlaceboResults:
        real = _term_row(self.model.fit(**self.fit_options), self.term)
        runner = runner or SerialRunner()
        draws = runner.run(placebo_replication, self.replications, self.payload(),
                           label=f"placebo {self.spec.name} {self.scheme}")
        for col in ("coef", "se", "nobs", "n_instruments"):
            if col not in draws:
                draws[col] = np.nan
        res = PlaceboResults(self.spec.name, self.term, self.scheme, self.seed, real["coef"],
                             real["se"], draws, self.grid_points)
        if res.n_failed:
            log.warning("placebo %s: %d of %d replications failed: %s", self.spec.name,
                        res.n_failed, res.replications, res.failures)
        return res
