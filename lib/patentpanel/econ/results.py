"""Light result container shared by the estimators, and a side-by-side comparison table.

``EstimationResult`` holds what every estimator reports (parameters, covariance, test
statistics, sample size and a ``model_info`` dict with the fit statistics and fixed-effect
flags); ``compare`` lays several results out as columns the way papers (and
``linearmodels.compare``) do: coefficients with significance stars, standard errors or
t/z statistics in parentheses, then N, R² and "City FE  Yes" rows. ``compare`` is
duck-typed: anything with ``params``, ``std_errors``, ``pvalues``, ``nobs`` and a
``model_info`` dict (e.g. the GMM results) can be a column.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["EstimationResult", "ComparisonTable", "compare", "stars"]


@dataclass
class EstimationResult:
    """Estimates of one model.

    ``df`` is the degrees of freedom of the reference t distribution (e.g. G-1 with
    clustered errors, as Stata uses); ``None`` means normal (z) inference.
    """

    params: pd.Series
    cov: pd.DataFrame
    nobs: int
    model_info: dict[str, Any] = field(default_factory=dict)
    df: int | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov.values)), index=self.params.index, name="std_error")

    @property
    def tstats(self) -> pd.Series:
        return (self.params / self.std_errors).rename("tstat")

    @property
    def stat_label(self) -> str:
        return "z" if self.df is None else "t"

    @property
    def pvalues(self) -> pd.Series:
        t = np.abs(self.tstats.values)
        p = 2 * (stats.norm.sf(t) if self.df is None else stats.t.sf(t, self.df))
        return pd.Series(p, index=self.params.index, name="pvalue")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        q = stats.norm.ppf(0.5 + level / 2) if self.df is None else stats.t.ppf(0.5 + level / 2, self.df)
        se = self.std_errors
        return pd.DataFrame({"lower": self.params - q * se, "upper": self.params + q * se})

    @property
    def summary(self) -> str:
        """A plain-text coefficient table with the fit statistics and notes."""
        table = pd.DataFrame({
            "param": self.params, "std_error": self.std_errors,
            self.stat_label: self.tstats, "pvalue": self.pvalues,
        })
        ci = self.conf_int()
        table["lower 95%"], table["upper 95%"] = ci["lower"], ci["upper"]
        head = [f"{self.model_info.get('estimator', 'Estimator')}: "
                f"{self.model_info.get('dependent', '')}", f"No. observations: {self.nobs}"]
        for key in ("n_clusters", "rsquared", "rsquared_within", "small_sample", "cov_type",
                    "loglik", "alpha"):
            if key in self.model_info and self.model_info[key] is not None:
                head.append(f"{key}: {self.model_info[key]}")
        body = table.to_string(float_format=lambda v: f"{v:.6g}")
        tail = [f"Note: {n}" for n in self.notes]
        return "\n".join(head + ["", body] + ([""] + tail if tail else []))

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary


def stars(p: float, levels: Sequence[float] = (0.1, 0.05, 0.01)) -> str:
    """'*' per significance level that ``p`` is below (10/5/1% by default)."""
    if p is None or not np.isfinite(p):
        return ""
    return "*" * sum(p < lv for lv in levels)


@dataclass
class ComparisonTable:
    """The comparison as a DataFrame (rows: terms then statistics; columns: models)."""

    table: pd.DataFrame
    note: str

    def __str__(self) -> str:
        return self.table.to_string() + "\n" + self.note

    @property
    def summary(self) -> str:
        return str(self)


def _get(result: Any, name: str):
    value = getattr(result, name)
    return value() if callable(value) else value


def compare(results: Mapping[str, Any] | Sequence[Any], *, stat: str = "tstats",
            precision: int = 3, star_levels: Sequence[float] = (0.1, 0.05, 0.01),
            order: Sequence[str] | None = None,
            stat_rows: Sequence[tuple[str, str]] = (("nobs", "Observations"),
                                                   ("rsquared", "R-squared")),
            effect_rows: Sequence[tuple[str, str]] = (("entity_effects", "City FE"),
                                                     ("time_effects", "Year FE"))) -> ComparisonTable:
    """Lay results out side by side.

    ``stat`` is what goes in parentheses under each coefficient: ``"tstats"`` (the
    studies' choice), ``"std_errors"`` or ``"pvalues"``. ``stat_rows`` are keys looked up
    on the result or in its ``model_info``; ``effect_rows`` are boolean ``model_info``
    keys rendered Yes/No.
    """
    if stat not in ("tstats", "std_errors", "pvalues"):
        raise ValueError(f"compare: stat must be tstats, std_errors or pvalues, got {stat!r}")
    if not isinstance(results, Mapping):
        results = {f"({i + 1})": r for i, r in enumerate(results)}
    if not results:
        raise ValueError("compare: no results given")
    for name, r in results.items():
        for attr in ("params", "std_errors", "pvalues", "nobs", "model_info"):
            if not hasattr(r, attr):
                raise TypeError(f"compare: result {name!r} has no attribute {attr!r}")
    terms: list[str] = list(order) if order else []
    for r in results.values():
        for t in _get(r, "params").index:
            if t not in terms:
                terms.append(t)
    fmt = f"{{:.{precision}f}}"
    rows: dict[str, dict[str, str]] = {}
    for name, r in results.items():
        params, pvals = _get(r, "params"), _get(r, "pvalues")
        if stat == "tstats":
            second = _get(r, "tstats") if hasattr(r, "tstats") else params / _get(r, "std_errors")
        else:
            second = _get(r, stat)
        col: dict[str, str] = {}
        for t in terms:
            if t in params.index:
                col[t] = fmt.format(params[t]) + stars(pvals[t], star_levels)
                col[f"{t} "] = "(" + fmt.format(second[t]) + ")"
            else:
                col[t], col[f"{t} "] = "", ""
        info = _get(r, "model_info") or {}
        for key, label in stat_rows:
            value = getattr(r, key, None) if key == "nobs" else info.get(key, getattr(r, key, None))
            if value is None:
                col[label] = ""
            elif isinstance(value, (int, np.integer)):
                col[label] = f"{int(value):,}"
            else:
                col[label] = fmt.format(float(value))
        for key, label in effect_rows:
            col[label] = "Yes" if info.get(key) else "No"
        rows[name] = col
    index = [k for t in terms for k in (t, f"{t} ")] + [lab for _, lab in stat_rows] + \
        [lab for _, lab in effect_rows]
    table = pd.DataFrame(rows, index=index)
    levels = ", ".join(f"{'*' * (i + 1)} p<{lv:g}" for i, lv in
                       enumerate(sorted(star_levels, reverse=True)))
    what = {"tstats": "t/z statistics", "std_errors": "standard errors",
            "pvalues": "p-values"}[stat]
    return ComparisonTable(table=table, note=f"{what} in parentheses; {levels}")
