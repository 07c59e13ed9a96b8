"""Mediation by System GMM (study 1, Eqs 4-6, Table 5).

Three dynamic models on the firm panel:

* total effect   ``TI_it = ... + c  IP_it + ...``            (Model 4)
* path a         ``GS_it = ... + a  IP_it + ...``            (Model 5)
* paths c', b    ``TI_it = ... + c' IP_it + b GS_it + ...``  (Model 6)

The indirect effect is ``a*b`` (short-run, on the impact coefficients, as the paper
reports them). Tests of it:

* **Sobel** (first-order, Sobel 1982): delta-method SE ``sqrt(b^2 se_a^2 + a^2 se_b^2)``,
  ``z = ab / se``, two-sided normal p-value. a and b come from separate GMM fits, so their
  covariance is taken as zero, as in the textbook test.
* **Bootstrap** of ``a*b`` resampling whole firms with replacement (the firm is the
  cluster; a firm drawn k times enters as k distinct panel units), re-estimating Models 5
  and 6 on each resample, on a :mod:`~patentpanel.econ.distributed` runner with draw ``r``
  seeded by ``(seed, "mediation-bootstrap", r)``. Intervals over the S successful draws:
  percentile ``[q(alpha/2), q(1-alpha/2)]``; bias-corrected (Efron 1981)
  ``[q(Phi(2 z0 + z_{alpha/2})), q(Phi(2 z0 + z_{1-alpha/2}))]`` with
  ``z0 = Phi^{-1}(#{ab_r < ab} / S)``; ``q`` is numpy's linear-interpolation quantile.
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
from .gmm import GMMDataError, GMMResults, GMMSpec

log = logging.getLogger("patentpanel.econ.mediation")

__all__ = ["Mediation", "MediationResults", "Path", "sobel", "percentile_ci", "bias_corrected_ci"]

PURPOSE = "mediation-bootstrap"


@dataclass(frozen=True)
class Path:
    """One coefficient of the mediation diagram."""
    name: str
    model: str
    term: str
    coef: float
    se: float

    @property
    def z(self) -> float:
        return self.coef / self.se

    @property
    def pvalue(self) -> float:
        return float(2 * stats.norm.sf(abs(self.z)))


def sobel(a: float, se_a: float, b: float, se_b: float) -> dict[str, float]:
    """First-order Sobel test of ``a*b``: SE ``sqrt(b^2 se_a^2 + a^2 se_b^2)``."""
    se = float(np.sqrt(b * b * se_a * se_a + a * a * se_b * se_b))
    z = a * b / se if se > 0 else float("nan")
    return {"indirect": a * b, "se": se, "z": z, "p": float(2 * stats.norm.sf(abs(z)))}


def percentile_ci(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    d = np.asarray(draws, float)
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bias_corrected_ci(draws: np.ndarray, estimate: float, level: float = 0.95) -> tuple[float, float]:
    d = np.asarray(draws, float)
    share = np.mean(d < estimate)
    if share in (0.0, 1.0):
        raise ValueError(f"bias-corrected interval undefined: {share:.0%} of the {len(d)} "
                         f"bootstrap draws lie below the estimate")
    z0 = stats.norm.ppf(share)
    za = stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
    lo, hi = np.quantile(d, stats.norm.cdf(2 * z0 + za))
    return float(lo), float(hi)


def _coef(res: GMMResults, term: str, model: str) -> tuple[float, float]:
    if term not in res.params.index:
        raise GMMDataError(f"mediation: {term!r} is not among the estimates of {model} "
                           f"({list(res.params.index)})")
    if term in getattr(res, "omitted", ()):
        raise GMMDataError(f"mediation: {term!r} is omitted from {model}: not identified by the "
                           f"{'two' if res.steps == 2 else 'one'}-step weighting (singular X'Z A Z'X)")
    return float(res.params[term]), float(res.std_errors[term])


@dataclass(frozen=True)
class _Payload:
    panel: pd.DataFrame
    rows_of_firm: tuple[np.ndarray, ...]
    entity: str
    mediator_spec: GMMSpec
    outcome_spec: GMMSpec
    treatment: str
    mediator: str
    seed: int
    fit_options: Mapping[str, Any]


def resample_firms(p: _Payload, rng: np.random.Generator) -> pd.DataFrame:
    """A cluster bootstrap sample: G firms drawn with replacement, renumbered 0..G-1."""
    G = len(p.rows_of_firm)
    pick = rng.integers(0, G, G)
    idx = np.concatenate([p.rows_of_firm[g] for g in pick])
    out = p.panel.iloc[idx].reset_index(drop=True)
    out[p.entity] = np.repeat(np.arange(G), [len(p.rows_of_firm[g]) for g in pick])
    return out


def bootstrap_replication(r: int, p: _Payload) -> dict:
    data = resample_firms(p, replication_rng(p.seed, PURPOSE, r))
    ra = p.mediator_spec.fit(data, **{**p.mediator_spec.fit_options, **p.fit_options})
    rb = p.outcome_spec.fit(data, **{**p.outcome_spec.fit_options, **p.fit_options})
    a, _ = _coef(ra, p.treatment, p.mediator_spec.name)
    b, _ = _coef(rb, p.mediator, p.outcome_spec.name)
    cp, _ = _coef(rb, p.treatment, p.outcome_spec.name)
    if not np.isfinite(a * b):
        raise FloatingPointError(f"non-finite indirect effect: a={a}, b={b}")
    return {"a": a, "b": b, "indirect": a * b, "c_prime": cp}


@dataclass
class MediationResults:
    c: Path
    a: Path
    b: Path
    c_prime: Path
    results: dict[str, GMMResults]
    level: float
    bootstrap: pd.DataFrame | None = None
    seed: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def indirect(self) -> float:
        return self.a.coef * self.b.coef

    @property
    def sobel(self) -> dict[str, float]:
        return sobel(self.a.coef, self.a.se, self.b.coef, self.b.se)

    @property
    def boot_draws(self) -> np.ndarray:
        if self.bootstrap is None:
            return np.empty(0)
        return self.bootstrap.loc[self.bootstrap["status"] == "ok", "indirect"].to_numpy(float)

    @property
    def n_failed(self) -> int:
        return 0 if self.bootstrap is None else int((self.bootstrap["status"] != "ok").sum())

    def ci(self, kind: str = "percentile") -> tuple[float, float]:
        d = self.boot_draws
        if len(d) < 2:
            return (float("nan"), float("nan"))
        if kind == "percentile":
            return percentile_ci(d, self.level)
        if kind == "bc":
            return bias_corrected_ci(d, self.indirect, self.level)
        raise ValueError(f"unknown interval {kind!r}; expected percentile or bc")

    def to_frame(self) -> pd.DataFrame:
        """One row per path (c, a, b, c', indirect)."""
        rows = [{"path": p.name, "model": p.model, "term": p.term, "coef": p.coef, "se": p.se,
                 "z": p.z, "p": p.pvalue} for p in (self.c, self.a, self.b, self.c_prime)]
        s = self.sobel
        rows.append({"path": "indirect", "model": f"{self.a.model}*{self.b.model}",
                     "term": f"{self.a.term}->{self.b.term}", "coef": s["indirect"], "se": s["se"],
                     "z": s["z"], "p": s["p"]})
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        s = self.sobel
        out = {"c": self.c.coef, "a": self.a.coef, "b": self.b.coef, "c_prime": self.c_prime.coef,
               "indirect": s["indirect"], "sobel_se": s["se"], "sobel_z": s["z"], "sobel_p": s["p"],
               "sobel_variant": "first-order, se = sqrt(b^2 se_a^2 + a^2 se_b^2)",
               "proportion_mediated": s["indirect"] / self.c.coef if self.c.coef else float("nan")}
        if self.bootstrap is not None:
            d = self.boot_draws
            out.update({"bootstrap_replications": len(self.bootstrap), "bootstrap_failed": self.n_failed,
                        "bootstrap_failure_reasons": dict(Counter(self.bootstrap.loc[
                            self.bootstrap["status"] != "ok", "reason"])),
                        "bootstrap_se": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
                        "level": self.level, "seed": self.seed})
            for kind in ("percentile", "bc"):
                try:
                    lo, hi = self.ci(kind)
                except ValueError as exc:
                    lo = hi = float("nan")
                    out[f"ci_{kind}_note"] = str(exc)
                out[f"ci_{kind}_lower"], out[f"ci_{kind}_upper"] = lo, hi
        return out


class Mediation:
    """Mediation of ``treatment`` through ``mediator`` with three GMM specifications."""

    def __init__(self, panel: pd.DataFrame, total: GMMSpec, mediator_model: GMMSpec,
                 outcome: GMMSpec, *, treatment: str = "ip", mediator: str = "gs"):
        for spec in (total, mediator_model, outcome):
            if spec.entity is None:
                raise GMMDataError(f"mediation: model {spec.name} names no entity column")
        if len({s.entity for s in (total, mediator_model, outcome)}) != 1:
            raise GMMDataError("mediation: the three models must share one entity (firm) column")
        if mediator_model.dependent != mediator:
            raise GMMDataError(f"mediation: the mediator model {mediator_model.name} explains "
                               f"{mediator_model.dependent!r}, expected {mediator!r}")
        self.panel = panel.reset_index(drop=True)
        self.total, self.mediator_model, self.outcome = total, mediator_model, outcome
        self.treatment, self.mediator = treatment, mediator
        self.entity = total.entity

    def fit(self, *, bootstrap: int = 0, seed: int | None = None, level: float = 0.95,
            runner: ReplicationRunner | None = None,
            bootstrap_fit: Mapping[str, Any] | None = None) -> MediationResults:
        res = {s.name: s.fit(self.panel) for s in (self.total, self.mediator_model, self.outcome)}
        rt, rm, ro = (res[s.name] for s in (self.total, self.mediator_model, self.outcome))
        c = Path("c", self.total.name, self.treatment, *_coef(rt, self.treatment, self.total.name))
        a = Path("a", self.mediator_model.name, self.treatment,
                 *_coef(rm, self.treatment, self.mediator_model.name))
        b = Path("b", self.outcome.name, self.mediator, *_coef(ro, self.mediator, self.outcome.name))
        cp = Path("c_prime", self.outcome.name, self.treatment,
                  *_coef(ro, self.treatment, self.outcome.name))
        out = MediationResults(c, a, b, cp, res, float(level), seed=seed)
        if bootstrap:
            if seed is None:
                raise ValueError("mediation bootstrap: seed is required")
            codes = pd.factorize(self.panel[self.entity], sort=True)[0]
            order = np.argsort(codes, kind="stable")
            rows = tuple(np.split(order, np.cumsum(np.bincount(codes))[:-1]))
            payload = _Payload(self.panel, rows, self.entity, self.mediator_model, self.outcome,
                               self.treatment, self.mediator, int(seed), dict(bootstrap_fit or {}))
            out.bootstrap = (runner or SerialRunner()).run(
                bootstrap_replication, int(bootstrap), payload, label="mediation bootstrap")
            if out.n_failed:
                log.warning("mediation bootstrap: %d of %d draws failed", out.n_failed, bootstrap)
        return out
