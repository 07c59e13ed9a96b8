"""Two-way (city and year) fixed-effects regressions with city-clustered standard errors.

The coefficients and the cluster sandwich come from ``linearmodels.PanelOLS`` (entity and
time effects, no small-sample scaling); the small-sample factor is then applied
explicitly, because packages disagree on it and the studies were estimated in Stata.
With G clusters, N observations, k regressors (the constant excluded), T years and the
city effects nested in the city clusters, the clustered covariance is multiplied by

=============  ==============================================  ===================================
convention     factor                                          what counts in K
=============  ==============================================  ===================================
``xtreg``      G/(G-1) * (N-1)/(N-K)                           K = k + (T-1) year dummies + 1
               (Stata ``xtreg y x i.year, fe vce(cluster c)``)   (the constant); absorbed city
                                                               effects are not counted
``reghdfe``    G/(G-1) * (N-1)/(N-K)                           K = k + df_a, df_a = T - 1 (year
               (``reghdfe y x, absorb(c y) vce(cluster c)``)     levels less one redundant);
                                                               city FE nested in the clusters
                                                               count 0 and the constant is not
                                                               counted (only when df_a = 0 does
                                                               reghdfe add 1 back, to match xtreg)
``lsdv``       G/(G-1) * (N-1)/(N-K)                           K = k + G_city + T - 1: every
               (``regress y x i.c i.y, vce(cluster c)``,         effect counted; this is also
               ``areg``; linearmodels' ``debiased=True,          linearmodels' own default with
               group_debias=True`` with two-way effects)         two effects
``none``       1                                               -
=============  ==============================================  ===================================

So ``reghdfe`` standard errors are sqrt((N-k-T)/(N-k-T+1)) times the ``xtreg`` ones for
the same two-way model. Inference uses the t distribution with G-1 degrees of freedom
(Stata's convention with clustered errors) whatever the factor.

The reported constant is reghdfe's/linearmodels': mean(y) - mean(X)·b over the
estimation sample. R² is reported both for the full model including the effects (what
reghdfe and ``regress`` with dummies report as R-squared, and what study 2's ~0.97 values
are) and within (after removing both effects).
"""
from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .results import EstimationResult

__all__ = [
    "PanelDataError", "SingularDesignError", "SMALL_SAMPLE_CONVENTIONS", "small_sample_factor",
    "TwoWayFE", "ModelSpec", "build_terms", "apply_sample", "expand_specs", "run_models",
    "validate_panel", "absorb_two_way",
]

log = logging.getLogger("patentpanel.econ.fe")

SMALL_SAMPLE_CONVENTIONS = ("xtreg", "reghdfe", "lsdv", "none")


class PanelDataError(ValueError):
    """The panel handed to an estimator is unusable (missing/non-numeric column, duplicate keys)."""


class SingularDesignError(ValueError):
    """The regressors are collinear, or absorbed by the fixed effects."""


# --------------------------------------------------------------------------- validation
def validate_panel(data: pd.DataFrame, columns: Iterable[str], entity: str, time: str,
                   *, what: str = "estimator") -> pd.DataFrame:
    """Check the columns exist and are numeric and (entity, time) is unique.

    Returns the used columns with rows that have a missing value dropped (listwise, as
    Stata does); the number dropped is logged.
    """
    if not isinstance(data, pd.DataFrame):
        raise PanelDataError(f"{what}: expected a pandas DataFrame, got {type(data).__name__}")
    columns = list(dict.fromkeys(columns))
    needed = [entity, time] + [c for c in columns if c not in (entity, time)]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise PanelDataError(f"{what}: column(s) {missing} not in the panel; "
                             f"available: {sorted(map(str, data.columns))}")
    for c in columns:
        s = data[c]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
            example = f"; e.g. row {bad.index[0]!r} has {bad.iloc[0]!r}" if len(bad) else ""
            raise PanelDataError(f"{what}: column {c!r} must be numeric, has dtype {s.dtype}{example}")
    if data[time].isna().any() or data[entity].isna().any():
        row = data.index[(data[time].isna() | data[entity].isna())][0]
        raise PanelDataError(f"{what}: row {row!r} has a missing {entity!r} or {time!r}")
    if not pd.api.types.is_integer_dtype(data[time]):
        t = pd.to_numeric(data[time], errors="coerce")
        if t.isna().any() or not np.all(np.equal(np.mod(t, 1), 0)):
            raise PanelDataError(f"{what}: time column {time!r} must hold integer periods (years)")
    dup = data.duplicated([entity, time], keep=False)
    if dup.any():
        first = data.loc[dup, [entity, time]].iloc[0]
        raise PanelDataError(f"{what}: {int(dup.sum())} rows share an ({entity}, {time}) key, "
                             f"e.g. ({first[entity]!r}, {first[time]!r}); expected one row per pair")
    out = data[needed].copy()
    for c in columns:
        out[c] = out[c].astype(float)
    keep = out[columns].notna().all(axis=1) & np.isfinite(out[columns]).all(axis=1)
    if not keep.all():
        log.info("%s: dropped %d of %d rows with a missing or infinite value in %s",
                 what, int((~keep).sum()), len(out), columns)
    return out.loc[keep]


# --------------------------------------------------------------------------- within transform
def _dummies(codes: np.ndarray, n: int) -> np.ndarray:
    d = np.zeros((len(codes), n))
    d[np.arange(len(codes)), codes] = 1.0
    return d


def absorb_two_way(values: np.ndarray, entity: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Residuals of ``values`` (n x m) on entity and time dummies (exact least squares, so it
    is right on unbalanced panels; meant for city-year sized panels)."""
    e_codes, e_n = pd.factorize(entity)[0], pd.unique(entity).size
    t_codes, t_n = pd.factorize(time)[0], pd.unique(time).size
    d = np.hstack([_dummies(e_codes, e_n), _dummies(t_codes, t_n)[:, 1:]])
    coef, *_ = np.linalg.lstsq(d, values, rcond=None)
    return values - d @ coef


def _n_components(entity: np.ndarray, time: np.ndarray) -> int:
    """Connected components of the entity-period bipartite graph (reghdfe's mobility groups)."""
    e_codes, e_n = pd.factorize(entity)[0], pd.unique(entity).size
    t_codes, t_n = pd.factorize(time)[0], pd.unique(time).size
    g = coo_matrix((np.ones(len(e_codes)), (e_codes, e_n + t_codes)), shape=(e_n + t_n,) * 2)
    return int(connected_components(g, directed=False)[0])


def _nested(inner: np.ndarray, outer: np.ndarray) -> bool:
    return bool((pd.DataFrame({"i": inner, "o": outer}).groupby("i")["o"].nunique() == 1).all())


def small_sample_factor(convention: str, *, nobs: int, n_clusters: int, k: int, n_entities: int,
                        n_periods: int, entity_nested: bool = True, n_components: int = 1) -> float:
    """The factor multiplying the raw cluster sandwich (see the module docstring).

    ``k`` counts the slope regressors (not the constant, not the effects).
    """
    if convention not in SMALL_SAMPLE_CONVENTIONS:
        raise ValueError(f"small_sample must be one of {SMALL_SAMPLE_CONVENTIONS}, got {convention!r}")
    if convention == "none":
        return 1.0
    g = n_clusters
    if g < 2:
        raise ValueError(f"clustered covariance needs at least 2 clusters, got {g}")
    if convention == "xtreg":
        if not entity_nested:
            raise ValueError("small_sample='xtreg': the panels are not nested within the clusters "
                             "(Stata's xtreg refuses this without -nonest-); use 'reghdfe' or 'lsdv'")
        big_k = k + (n_periods - 1) + 1
        denom = nobs - big_k
    elif convention == "reghdfe":
        df_a = (0 if entity_nested else n_entities) + (n_periods - n_components)
        big_k = k + df_a
        denom = nobs - (1 if df_a == 0 else 0) - big_k
    else:  # lsdv
        big_k = k + n_entities + n_periods - n_components
        denom = nobs - big_k
    if denom <= 0:
        raise SingularDesignError(f"no residual degrees of freedom: N={nobs}, K={big_k}")
    return (g / (g - 1)) * ((nobs - 1) / denom)


# --------------------------------------------------------------------------- estimator
class TwoWayFE:
    """y_it = x_it'b + mu_i + lambda_t + e_it, with errors clustered by ``cluster``.

    Parameters
    ----------
    data : panel in long form, one row per (entity, time).
    dependent, exog : column names.
    entity, time : panel keys (city, year). ``cluster`` defaults to ``entity``.
    constant : report reghdfe's constant (mean(y) - mean(X)b).
    """

    def __init__(self, data: pd.DataFrame, dependent: str, exog: Sequence[str], *,
                 entity: str, time: str, cluster: str | None = None, constant: bool = True,
                 time_effects: bool = True):
        if isinstance(exog, str):
            exog = [exog]
        if not exog:
            raise ValueError("TwoWayFE: at least one regressor is needed")
        if dependent in exog:
            raise ValueError(f"TwoWayFE: {dependent!r} is both the dependent variable and a regressor")
        self.dependent, self.exog = dependent, list(exog)
        self.entity, self.time = entity, time
        self.cluster = cluster or entity
        self.constant, self.time_effects = constant, time_effects
        cols = [dependent] + self.exog
        extra = [self.cluster] if self.cluster not in (entity, time) else []
        self.data = validate_panel(data, cols, entity, time, what="TwoWayFE")
        if extra:
            if self.cluster not in data.columns:
                raise PanelDataError(f"TwoWayFE: cluster column {self.cluster!r} not in the panel")
            self.data[self.cluster] = data.loc[self.data.index, self.cluster]
            if self.data[self.cluster].isna().any():
                raise PanelDataError(f"TwoWayFE: cluster column {self.cluster!r} has missing values")
        if len(self.data) == 0:
            raise PanelDataError("TwoWayFE: no complete observations")
        self._check_design()

    def _check_design(self) -> None:
        d = self.data
        x = d[self.exog].to_numpy()
        xw = absorb_two_way(x, d[self.entity].to_numpy(), d[self.time].to_numpy()) \
            if self.time_effects else x - d.groupby(self.entity)[self.exog].transform("mean").to_numpy()
        scale = np.maximum(np.abs(x).max(axis=0), 1e-300)
        for j, name in enumerate(self.exog):
            if np.sqrt(np.mean(xw[:, j] ** 2)) <= 1e-9 * scale[j]:
                raise SingularDesignError(
                    f"TwoWayFE: regressor {name!r} is absorbed by the city/year fixed effects "
                    f"(time-invariant or common to all cities); interact it with a time-varying "
                    f"variable or drop it")
        rank = np.linalg.matrix_rank(xw / np.maximum(np.linalg.norm(xw, axis=0), 1e-300))
        if rank < len(self.exog):
            raise SingularDesignError(f"TwoWayFE: the regressors {self.exog} are collinear after "
                                      f"removing the fixed effects (rank {rank} < {len(self.exog)})")

    def fit(self, small_sample: str = "xtreg") -> EstimationResult:
        from linearmodels import PanelOLS

        d = self.data
        idx = d.set_index([self.entity, self.time])
        x = idx[self.exog].copy()
        if self.constant:
            x.insert(0, "const", 1.0)
        mod = PanelOLS(idx[self.dependent], x, entity_effects=True,
                       time_effects=self.time_effects, drop_absorbed=False)
        clusters = pd.DataFrame({"c": pd.factorize(d[self.cluster])[0]}, index=idx.index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mod.fit(cov_type="clustered", clusters=clusters, debiased=False,
                          group_debias=False, auto_df=False, count_effects=False)
        nobs = int(res.nobs)
        ent, tim = d[self.entity].to_numpy(), d[self.time].to_numpy()
        g = int(pd.unique(d[self.cluster]).size)
        n_e, n_t = int(pd.unique(ent).size), int(pd.unique(tim).size)
        nested = _nested(ent, d[self.cluster].to_numpy())
        comps = _n_components(ent, tim) if self.time_effects else 1
        factor = small_sample_factor(small_sample, nobs=nobs, n_clusters=g, k=len(self.exog),
                                     n_entities=n_e, n_periods=n_t if self.time_effects else 1,
                                     entity_nested=nested, n_components=comps)
        cov = res.cov * factor
        resid = np.asarray(res.resids)
        rss = float(resid @ resid)
        y = d[self.dependent].to_numpy()
        yw = absorb_two_way(y[:, None], ent, tim)[:, 0] if self.time_effects else \
            y - d.groupby(self.entity)[self.dependent].transform("mean").to_numpy()
        info = {
            "estimator": "Two-way fixed effects (within)" if self.time_effects else "Fixed effects (within)",
            "dependent": self.dependent, "entity_effects": True, "time_effects": self.time_effects,
            "cov_type": f"clustered by {self.cluster}", "small_sample": small_sample,
            "small_sample_factor": factor, "n_clusters": g, "n_entities": n_e, "n_periods": n_t,
            "rsquared": 1 - rss / float(((y - y.mean()) ** 2).sum()),
            "rsquared_within": 1 - rss / float(yw @ yw), "rss": rss,
            "entity_nested_in_cluster": nested,
        }
        notes = [f"Standard errors clustered by {self.cluster} ({g} clusters); small-sample "
                 f"convention {small_sample!r} (factor {factor:.6f}); t({g - 1}) inference."]
        return EstimationResult(params=res.params.rename(None), cov=cov, nobs=nobs,
                                model_info=info, df=g - 1, notes=notes)


# --------------------------------------------------------------------------- specifications
_TERM = re.compile(r"^(?:(?P<op>[LF])(?P<k>\d+)\.)?(?P<var>[A-Za-z_][\w]*)$")


def _shift(panel: pd.DataFrame, var: str, k: int, entity: str, time: str) -> pd.Series:
    """Value of ``var`` at (entity, time - k): Stata's L{k}. (k > 0) / F{-k}. (k < 0) operator,
    which respects gaps (a missing year gives a missing lag)."""
    src = panel[[entity, time, var]].copy()
    src[time] = src[time] + k
    merged = panel[[entity, time]].merge(src, on=[entity, time], how="left")
    return pd.Series(merged[var].to_numpy(), index=panel.index)


def build_terms(panel: pd.DataFrame, terms: Sequence[str], *, entity: str, time: str) -> pd.DataFrame:
    """Columns for regressor terms: ``x``, lags ``L2.x``, leads ``F1.x`` and products
    ``a:b[:c]`` of any of those (e.g. ``ft:ct:gpt``, ``coastal:ft``, ``L1.ft:L1.ct``)."""
    out = {}
    for term in terms:
        value = None
        for factor in term.split(":"):
            m = _TERM.match(factor.strip())
            if not m:
                raise ValueError(f"term {term!r}: {factor!r} is not a variable, L<k>.var or F<k>.var")
            var = m["var"]
            if var not in panel.columns:
                raise PanelDataError(f"term {term!r}: column {var!r} not in the panel")
            if not pd.api.types.is_numeric_dtype(panel[var]) and not pd.api.types.is_bool_dtype(panel[var]):
                raise PanelDataError(f"term {term!r}: column {var!r} must be numeric, has {panel[var].dtype}")
            col = panel[var].astype(float)
            if m["op"]:
                k = int(m["k"]) * (1 if m["op"] == "L" else -1)
                col = _shift(panel, var, k, entity, time)
            value = col if value is None else value * col
        out[term] = value
    return pd.DataFrame(out, index=panel.index)


def apply_sample(panel: pd.DataFrame, sample: Mapping[str, Any] | None, *, entity: str,
                 time: str) -> pd.DataFrame:
    """Restrict the panel: ``years: [first, last]``, ``exclude_if: [flag columns]`` (rows
    whose flag is true are dropped, e.g. the municipalities), ``exclude_largest:
    {by: column, n: k}`` (drops the k entities with the largest mean of ``by``)."""
    if not sample:
        return panel
    known = {"years", "exclude_if", "exclude_largest"}
    unknown = set(sample) - known
    if unknown:
        raise ValueError(f"sample: unknown key(s) {sorted(unknown)}; expected {sorted(known)}")
    out = panel
    if sample.get("years"):
        first, last = sample["years"]
        out = out[(out[time] >= first) & (out[time] <= last)]
    for flag in sample.get("exclude_if") or []:
        if flag not in out.columns:
            raise PanelDataError(f"sample.exclude_if: column {flag!r} not in the panel")
        out = out[~out[flag].fillna(False).astype(bool)]
    if sample.get("exclude_largest"):
        spec = sample["exclude_largest"]
        by, n = spec["by"], int(spec["n"])
        if by not in out.columns:
            raise PanelDataError(f"sample.exclude_largest: column {by!r} not in the panel")
        largest = out.groupby(entity)[by].mean().nlargest(n).index
        out = out[~out[entity].isin(largest)]
    return out


@dataclass
class ModelSpec:
    """One regression of a study as data (see conf/estimate.yaml, ``estimate.fe.models``)."""

    name: str
    terms: list[str]
    dependent: str
    controls: list[str] = field(default_factory=list)
    table: str = ""
    sample: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    absorbed: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], defaults: Mapping[str, Any]) -> "ModelSpec":
        known = {"name", "terms", "dependent", "controls", "table", "sample", "note", "absorbed"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"model {d.get('name', '?')!r}: unknown key(s) {sorted(unknown)}")
        if "name" not in d or "terms" not in d:
            raise ValueError(f"model spec {dict(d)!r}: 'name' and 'terms' are required")
        return cls(name=d["name"], terms=list(d["terms"]),
                   dependent=d.get("dependent", defaults.get("dependent")),
                   controls=list(d.get("controls", defaults.get("controls", []))),
                   table=d.get("table", ""), sample=dict(d.get("sample") or {}),
                   note=d.get("note", ""), absorbed=list(d.get("absorbed", [])))


def expand_specs(models: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Expand ``foreach: {placeholder: [values]}`` entries: every string in the spec has
    ``{placeholder}`` replaced by each value in turn (one model per value)."""
    def fill(obj, key, value):
        if isinstance(obj, str):
            return obj.replace("{" + key + "}", str(value))
        if isinstance(obj, list):
            return [fill(o, key, value) for o in obj]
        if isinstance(obj, dict):
            return {k: fill(v, key, value) for k, v in obj.items()}
        return obj

    out: list[dict[str, Any]] = []
    for m in models:
        m = dict(m)
        loop = m.pop("foreach", None)
        if not loop:
            out.append(m)
            continue
        if len(loop) != 1:
            raise ValueError(f"model {m.get('name')!r}: foreach takes one placeholder, got {list(loop)}")
        (key, values), = loop.items()
        out.extend(fill(m, key, v) for v in values)
    names = [m.get("name") for m in out]
    dups = {n for n in names if names.count(n) > 1}
    if dups:
        raise ValueError(f"model names must be unique; repeated: {sorted(dups)}")
    return out


def run_models(panel: pd.DataFrame, fe_cfg: Mapping[str, Any], *, entity: str, time: str,
               only: Sequence[str] | None = None) -> dict[str, EstimationResult]:
    """Estimate every model of ``fe_cfg['models']`` (the ``estimate.fe`` section)."""
    defaults = {"dependent": fe_cfg.get("dependent"), "controls": fe_cfg.get("controls", [])}
    results: dict[str, EstimationResult] = {}
    for raw in expand_specs(fe_cfg.get("models", [])):
        spec = ModelSpec.from_dict(raw, defaults)
        if only and spec.name not in only:
            continue
        sub = apply_sample(panel, spec.sample, entity=entity, time=time)
        terms = build_terms(panel, spec.terms, entity=entity, time=time).loc[sub.index]
        data = pd.concat([sub[[entity, time, spec.dependent] + spec.controls], terms], axis=1)
        model = TwoWayFE(data, spec.dependent, spec.terms + spec.controls, entity=entity,
                         time=time, cluster=fe_cfg.get("cluster") or entity,
                         constant=fe_cfg.get("constant", True))
        res = model.fit(small_sample=fe_cfg.get("small_sample", "xtreg"))
        res.model_info.update({"name": spec.name, "table": spec.table, "controls": bool(spec.controls)})
        if spec.absorbed:
            res.notes.append(f"The main effect of {', '.join(spec.absorbed)} is time-invariant and "
                             f"absorbed by the city fixed effects; only its interactions are identified.")
        if spec.note:
            res.notes.append(spec.note)
        results[spec.name] = res
        log.info("estimated %s (%s): N=%d", spec.name, spec.table, res.nobs)
    return results
