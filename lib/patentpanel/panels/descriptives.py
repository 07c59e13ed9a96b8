"""Descriptive statistics as data (gold.descriptives), formatted by the report stage:
study 1's Table 2 (mean, SD, min, max) and Table 3 (Pearson correlations with their
p-values; the stars are the report's), the VIFs of the study-1 regressors, and study 2's
Table 4 (obs, mean, SD, min, max).

Conventions (Stata's): SD with n - 1; correlations two-sided t-test p-values,
t = r sqrt((n-2)/(1-r^2)) with n - 2 degrees of freedom (pwcorr, sig); pairwise-complete
rows by default (pwcorr) or listwise (corr); VIF_j = 1/(1 - R_j^2) from the OLS of
regressor j on the others with a constant, on the rows where all regressors exist
(estat vif).

Long format: table, panel, variable, label, other (second variable of a correlation,
'' otherwise), statistic (obs, mean, sd, min, max, r, p_value, vif, r2), value, n,
position (display order of `variable`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .transforms import PanelInputError

__all__ = ["summary_stats", "correlations", "vif", "pearson_p", "DescriptiveTables"]


def _check(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise PanelInputError(f"{what}: variables {miss} are not columns of the panel")


def summary_stats(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Per variable over its non-missing rows: obs, mean, sd (n - 1), min, max."""
    _check(df, cols, "summary statistics")
    rows = []
    for c in cols:
        x = df[c].dropna().astype(float)
        n = len(x)
        rows.append({"variable": c, "obs": n, "mean": x.mean() if n else np.nan,
                     "sd": x.std(ddof=1) if n > 1 else np.nan, "min": x.min() if n else np.nan,
                     "max": x.max() if n else np.nan})
    return pd.DataFrame(rows)


def pearson_p(r: float, n: int) -> float:
    """Two-sided p-value of a Pearson correlation r on n pairs (t-test, n - 2 df)."""
    if n < 3 or not np.isfinite(r):
        return np.nan
    if abs(r) >= 1.0:
        return 0.0
    t = r * np.sqrt((n - 2) / (1.0 - r * r))
    return float(2.0 * stats.t.sf(abs(t), n - 2))


def correlations(df: pd.DataFrame, cols: Sequence[str], missing: str = "pairwise") -> pd.DataFrame:
    """Lower triangle incl. the diagonal: variable, other, r, p_value, n."""
    _check(df, cols, "correlations")
    if missing not in ("pairwise", "listwise"):
        raise PanelInputError(f"panels.descriptives.correlation_missing: {missing!r} not in ['pairwise', 'listwise']")
    d = df[list(cols)].astype(float)
    if missing == "listwise":
        d = d.dropna()
    rows = []
    for i, a in enumerate(cols):
        for b in cols[: i + 1]:
            m = d[a].notna() & d[b].notna()
            x, y = d.loc[m, a].to_numpy(), d.loc[m, b].to_numpy()
            n = int(m.sum())
            if a == b:
                r = 1.0 if n > 1 and np.std(x) > 0 else np.nan
                p = np.nan
            else:
                xc, yc = x - x.mean(), y - y.mean()
                den = np.sqrt((xc @ xc) * (yc @ yc))
                r = float((xc @ yc) / den) if n > 1 and den > 0 else np.nan
                p = pearson_p(r, n)
            rows.append({"variable": a, "other": b, "r": r, "p_value": p, "n": n})
    return pd.DataFrame(rows)


def vif(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """variable, vif, r2, n: each regressor on the others plus a constant (listwise)."""
    _check(df, cols, "VIF")
    if len(cols) < 2:
        raise PanelInputError("VIF needs at least two regressors")
    d = df[list(cols)].astype(float).dropna()
    n = len(d)
    if n <= len(cols):
        raise PanelInputError(f"VIF: {n} complete rows for {len(cols)} regressors")
    rows = []
    for c in cols:
        y = d[c].to_numpy()
        X = np.column_stack([np.ones(n), d[[o for o in cols if o != c]].to_numpy()])
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        tss = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else np.nan
        rows.append({"variable": c, "vif": 1.0 / (1.0 - r2) if r2 < 1 else np.inf, "r2": r2, "n": n})
    return pd.DataFrame(rows)


class DescriptiveTables:
    """Collects tables into the long gold.descriptives frame.

    >>> t = DescriptiveTables()
    >>> t.add_summary("study1_table2", "gold.cluster_year", panel, ["ti", "ip"], ["TI", "IP"])
    >>> t.frame()
    """

    def __init__(self):
        self._parts: list[pd.DataFrame] = []

    @staticmethod
    def _labels(cols: Sequence[str], labels: Sequence[str] | None) -> dict:
        labels = list(labels) if labels else list(cols)
        if len(labels) != len(cols):
            raise PanelInputError(f"descriptives: {len(labels)} labels for {len(cols)} variables")
        return dict(zip(cols, labels))

    def _add(self, table: str, panel: str, long: pd.DataFrame, cols, labels) -> None:
        lab = self._labels(cols, labels)
        long = long.assign(table=table, panel=panel, label=long["variable"].map(lab),
                           position=long["variable"].map({c: i for i, c in enumerate(cols)}))
        self._parts.append(long)

    def add_summary(self, table: str, panel: str, df: pd.DataFrame, cols, labels=None) -> pd.DataFrame:
        s = summary_stats(df, cols)
        long = s.melt(id_vars=["variable"], value_vars=["obs", "mean", "sd", "min", "max"],
                      var_name="statistic", value_name="value")
        long["n"] = long["variable"].map(s.set_index("variable")["obs"])
        long["other"] = ""
        self._add(table, panel, long, cols, labels)
        return s

    def add_correlations(self, table: str, panel: str, df: pd.DataFrame, cols, labels=None,
                         missing: str = "pairwise") -> pd.DataFrame:
        c = correlations(df, cols, missing)
        long = c.melt(id_vars=["variable", "other", "n"], value_vars=["r", "p_value"],
                      var_name="statistic", value_name="value")
        self._add(table, panel, long, cols, labels)
        return c

    def add_vif(self, table: str, panel: str, df: pd.DataFrame, cols, labels=None) -> pd.DataFrame:
        v = vif(df, cols)
        long = v.melt(id_vars=["variable", "n"], value_vars=["vif", "r2"], var_name="statistic",
                      value_name="value")
        long["other"] = ""
        self._add(table, panel, long, cols, labels)
        return v

    def frame(self) -> pd.DataFrame:
        cols = ["table", "panel", "variable", "label", "other", "statistic", "value", "n", "position"]
        if not self._parts:
            return pd.DataFrame(columns=cols)
        out = pd.concat(self._parts, ignore_index=True)[cols]
        out["n"] = out["n"].astype(np.int64)
        out["value"] = out["value"].astype(float)
        return out
