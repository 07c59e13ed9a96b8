"""Location quotients, percentile thresholds and AI clusters (study 1, steps 1-3).

Step 1: LQ_i = (A_i/P_i) / (A/P) (Eq. 1), A = AI applications, P = all applications,
from the mean annual numbers over the window (2011-2020); a region with LQ > 1 is a
spatial agglomeration area. Step 2: potential clusters are those whose AI applications
reach the percentile threshold taken over all regions (80th by default). Step 3: clusters
are potential clusters with both intra- and interregional collaborations.

Percentile definition: ``numpy.percentile(values, q, method=...)``; the default
``linear`` is Excel's PERCENTILE.INC (position (n-1)q/100, linear interpolation), which
the study used: its thresholds 598.6 (80th) and 386 (75th) fit integer AI totals over
n = 337 regions (positions 268.8 and 252). "Do not reach the threshold" is read as
``value < threshold`` (``threshold_inclusive``: a region exactly at it is kept).

The counting of one application (``counting``): ``first_applicant`` gives it to the
region of its first applicant (note 14), ``fractional`` gives 1/k to each applicant's
region. Region-level data here are small (a few hundred rows): the Spark part aggregates
to region x year (one pass over the eligible applications); the rest is pandas on the
driver.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger("patentpanel.network.lq")

__all__ = ["region_applications", "location_quotients", "percentile_threshold",
           "ClusterIdentification", "ClusterResult", "read_gazetteer", "COUNTINGS"]

COUNTINGS = ("first_applicant", "fractional")
MEASURES = ("total", "mean_annual")
PERCENTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf",
                      "averaged_inverted_cdf", "closest_observation",
                      "interpolated_inverted_cdf", "hazen", "weibull", "median_unbiased",
                      "normal_unbiased")


def read_gazetteer(path: str | Path) -> pd.DataFrame:
    """(city_code, city_name) of the gazetteer CSV (``adcode``, ``name``, ``name_en``)."""
    g = pd.read_csv(path, dtype={"adcode": str})
    for c in ("adcode", "name"):
        if c not in g.columns:
            raise ValueError(f"gazetteer {path}: missing column {c!r}")
    bad = g.loc[~g["adcode"].str.fullmatch(r"\d{6}"), "adcode"]
    if len(bad):
        raise ValueError(f"gazetteer {path}: adcode {bad.iloc[0]!r} is not 6 digits")
    out = g.rename(columns={"adcode": "city_code", "name": "city_name"})
    cols = ["city_code", "city_name"] + (["name_en"] if "name_en" in g.columns else [])
    return out[cols].drop_duplicates("city_code")


def _counted(eligible: DataFrame, counting: str) -> DataFrame:
    """(app_no, app_year, city_code, is_ai, k, unit) rows: what each application adds
    where; k = the application's eligible applicants. ``eligible``: application rows
    (:func:`edges.eligible_applications`) or applicant rows (grouped first)."""
    from .edges import _NO_POSITION, applications_of
    if counting not in COUNTINGS:
        raise ValueError(f"network.lq.counting: {counting!r} not in {COUNTINGS}")
    apps = applications_of(eligible)
    if counting == "first_applicant":
        # lowest position (a missing one last), then name
        first = F.array_min(F.transform("members", lambda x: F.struct(
            F.coalesce(x["position"], F.lit(_NO_POSITION)).alias("p"), x["name"].alias("n"),
            x["city_code"].alias("c"))))
        return apps.select("app_no", "app_year", first["c"].alias("city_code"), "is_ai", "k",
                           F.lit(1.0).alias("unit"))
    return (apps.select("app_no", "app_year", "is_ai", "k", F.explode("members").alias("e"))
            .select("app_no", "app_year", F.col("e.city_code").alias("city_code"), "is_ai", "k",
                    (F.lit(1.0) / F.col("k")).alias("unit")))


def region_applications(eligible_ai: DataFrame | None, eligible_all: DataFrame,
                        counting: str) -> DataFrame:
    """Applications per region and year: (city_code, app_year, ai_apps, all_apps,
    coop_ai_apps).

    ``eligible_ai`` / ``eligible_all`` come from :func:`edges.eligible_applications` (or
    :func:`edges.eligible_applicants`) with ``ai_only`` True / False. With ``eligible_ai=None`` the AI applications are the rows
    of ``eligible_all`` with ``is_ai`` (one pass; right when both take the same
    exclusions). ``coop_ai_apps``: AI applications with two or more eligible applicants
    (the cooperative ones), counted the same way. Applications whose counted applicant
    is unlocated get city_code null (one row per year), so nothing disappears silently."""
    coop = F.col("is_ai") & (F.col("k") >= 2)
    if eligible_ai is None:
        return (_counted(eligible_all, counting).groupBy("city_code", "app_year")
                .agg(F.sum(F.when(F.col("is_ai"), F.col("unit")).otherwise(0.0)).alias("ai_apps"),
                     F.sum("unit").alias("all_apps"),
                     F.sum(F.when(coop, F.col("unit")).otherwise(0.0)).alias("coop_ai_apps")))
    ai = (_counted(eligible_ai, counting).groupBy("city_code", "app_year")
          .agg(F.sum("unit").alias("ai_apps"),
               F.sum(F.when(coop, F.col("unit")).otherwise(0.0)).alias("coop_ai_apps")))
    al = (_counted(eligible_all, counting).groupBy("city_code", "app_year")
          .agg(F.sum("unit").alias("all_apps")))
    # null-safe keys: the unlocated (null city_code) rows of both sides meet
    j = al.alias("l").join(ai.alias("r"), F.col("l.city_code").eqNullSafe(F.col("r.city_code"))
                           & (F.col("l.app_year") == F.col("r.app_year")), "full")
    return j.select(F.coalesce("l.city_code", "r.city_code").alias("city_code"),
                    F.coalesce("l.app_year", "r.app_year").alias("app_year"),
                    F.coalesce("r.ai_apps", F.lit(0.0)).alias("ai_apps"),
                    F.coalesce("l.all_apps", F.lit(0.0)).alias("all_apps"),
                    F.coalesce("r.coop_ai_apps", F.lit(0.0)).alias("coop_ai_apps"))


def percentile_threshold(values: Sequence[float], q: float, method: str = "linear") -> float:
    """The q-th percentile of ``values`` (numpy definition ``method``)."""
    if method not in PERCENTILE_METHODS:
        raise ValueError(f"percentile method {method!r} not in {PERCENTILE_METHODS}")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    v = np.asarray(values, dtype=float)
    if v.size == 0 or np.isnan(v).any():
        raise ValueError("percentile of an empty or NaN-containing set of regions")
    return float(np.percentile(v, q, method=method))


def location_quotients(apps: pd.DataFrame, start: int, end: int,
                       regions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Eq. 1 per region from region x year counts.

    ``apps``: city_code, app_year, ai_apps, all_apps (null city_code rows are unlocated
    and leave both the region rows and the national totals, whose A/P is over located
    applications). ``regions`` (city_code, city_name): the universe, zeros filled in.
    Returns city_code, city_name, ai_total, all_total, ai_mean, all_mean, ai_share, lq.
    """
    need = {"city_code", "app_year", "ai_apps", "all_apps"}
    if not need.issubset(apps.columns):
        raise ValueError(f"region applications need columns {sorted(need)}, got {list(apps.columns)}")
    a = apps[apps["app_year"].between(start, end) & apps["city_code"].notna()]
    neg = a[(a["ai_apps"] < 0) | (a["all_apps"] < 0) | (a["ai_apps"] > a["all_apps"] + 1e-9)]
    if len(neg):
        r = neg.iloc[0]
        raise ValueError(f"region {r.city_code} year {r.app_year}: expected 0 <= ai_apps <= "
                         f"all_apps, got {r.ai_apps} and {r.all_apps}")
    tot = a.groupby("city_code", as_index=False)[["ai_apps", "all_apps"]].sum()
    tot = tot.rename(columns={"ai_apps": "ai_total", "all_apps": "all_total"})
    if regions is not None:
        unknown = sorted(set(tot["city_code"]) - set(regions["city_code"]))
        if unknown:
            log.warning("%d region code(s) in the data are not in the gazetteer, kept: %s",
                        len(unknown), unknown[:10])
        tot = regions[["city_code", "city_name"]].merge(tot, on="city_code", how="outer")
    else:
        tot["city_name"] = None
    tot[["ai_total", "all_total"]] = tot[["ai_total", "all_total"]].fillna(0.0)
    years = end - start + 1
    tot["ai_mean"] = tot["ai_total"] / years
    tot["all_mean"] = tot["all_total"] / years
    big_a, big_p = tot["ai_mean"].sum(), tot["all_mean"].sum()
    if big_a <= 0 or big_p <= 0:
        raise ValueError(f"no {'AI ' if big_a <= 0 else ''}applications in {start}-{end}: "
                         "location quotients are undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        tot["ai_share"] = np.where(tot["all_mean"] > 0, tot["ai_mean"] / tot["all_mean"], np.nan)
    tot["lq"] = tot["ai_share"] / (big_a / big_p)
    return (tot.sort_values("city_code").reset_index(drop=True)
            [["city_code", "city_name", "ai_total", "all_total", "ai_mean", "all_mean",
              "ai_share", "lq"]])


@dataclass
class ClusterResult:
    """Outcome of :meth:`ClusterIdentification.fit`."""
    region_lq: pd.DataFrame         # every region: LQ, scale, threshold flags
    clusters: pd.DataFrame          # potential clusters with intra/inter totals, is_cluster
    sensitivity: pd.DataFrame       # one row per percentile
    threshold: float
    percentile: float
    method: str

    @property
    def cluster_codes(self) -> list[str]:
        return sorted(self.clusters.loc[self.clusters["is_cluster"], "city_code"])

    def summary(self) -> str:
        lq1 = int(self.region_lq["lq_gt1"].sum())
        pot = int(self.region_lq["potential"].sum())
        excl = self.region_lq.loc[self.region_lq["lq_gt1"] & ~self.region_lq["potential"]]
        lines = [f"regions: {len(self.region_lq)}; LQ > 1: {lq1}",
                 f"{self.percentile:g}th percentile ({self.method}) of AI applications: "
                 f"{self.threshold:.6g}",
                 f"excluded by the threshold: {len(excl)} "
                 f"({', '.join(map(str, excl['city_name'].fillna(excl['city_code'])))})",
                 f"potential clusters: {pot}; clusters (intra and inter links): "
                 f"{len(self.cluster_codes)}"]
        return "\n".join(lines)


@dataclass
class ClusterIdentification:
    """Study 1's three identification steps.

    >>> res = ClusterIdentification(percentile=80).fit(region_lq, collab_totals)
    >>> res.cluster_codes
    """
    percentile: float = 80.0
    method: str = "linear"
    measure: str = "total"
    inclusive: bool = True
    min_intra: int = 1
    min_inter: int = 1
    sensitivity_percentiles: Sequence[float] = field(
        default_factory=lambda: [75.0, *np.arange(76.0, 85.0).tolist()])

    def __post_init__(self):
        if self.measure not in MEASURES:
            raise ValueError(f"network.lq.threshold_measure: {self.measure!r} not in {MEASURES}")
        percentile_threshold([0.0], self.percentile, self.method)  # validates both

    @classmethod
    def from_config(cls, cfg) -> "ClusterIdentification":
        lq, cl = cfg.section("network.lq"), cfg.section("network.clusters")
        return cls(percentile=float(lq["percentile"]), method=lq["percentile_method"],
                   measure=lq["threshold_measure"], inclusive=bool(lq["threshold_inclusive"]),
                   min_intra=int(cl["min_intra"]), min_inter=int(cl["min_inter"]),
                   sensitivity_percentiles=[float(p) for p in lq["sensitivity_percentiles"]])

    def _scale(self, region_lq: pd.DataFrame) -> pd.Series:
        return region_lq["ai_total"] if self.measure == "total" else region_lq["ai_mean"]

    def _passes(self, scale: pd.Series, threshold: float) -> pd.Series:
        return scale >= threshold if self.inclusive else scale > threshold

    def fit(self, region_lq: pd.DataFrame, collab_totals: pd.DataFrame) -> ClusterResult:
        """``region_lq`` from :func:`location_quotients`; ``collab_totals``: city_code,
        intra, inter summed over the window (regions absent have none)."""
        r = region_lq.copy()
        scale = self._scale(r)
        thr = percentile_threshold(scale, self.percentile, self.method)
        r["ai_scale"] = scale
        r["lq_gt1"] = r["lq"].fillna(0.0) > 1.0
        r["threshold"] = thr
        r["meets_threshold"] = self._passes(scale, thr)
        r["potential"] = r["lq_gt1"] & r["meets_threshold"]
        c = collab_totals[["city_code", "intra", "inter"]].groupby("city_code", as_index=False).sum()
        pot = r.loc[r["potential"], ["city_code", "city_name", "lq", "ai_total", "ai_mean",
                                     "all_total"]].merge(c, on="city_code", how="left")
        pot[["intra", "inter"]] = pot[["intra", "inter"]].fillna(0).astype("int64")
        pot["has_intra"] = pot["intra"] >= self.min_intra
        pot["has_inter"] = pot["inter"] >= self.min_inter
        pot["is_cluster"] = pot["has_intra"] & pot["has_inter"]
        pot = pot.sort_values(["intra", "city_code"], ascending=[False, True]).reset_index(drop=True)
        res = ClusterResult(region_lq=r, clusters=pot, sensitivity=self.sensitivity(r),
                            threshold=thr, percentile=self.percentile, method=self.method)
        log.info("cluster identification:\n%s", res.summary())
        return res

    def sensitivity(self, region_lq: pd.DataFrame) -> pd.DataFrame:
        """For each percentile: the threshold and which LQ > 1 regions it excludes
        (Supplementary Table B, Fig 5)."""
        scale = self._scale(region_lq)
        lq1 = region_lq["lq"].fillna(0.0) > 1.0
        rows = []
        for q in self.sensitivity_percentiles:
            thr = percentile_threshold(scale, q, self.method)
            out = region_lq.loc[lq1 & ~self._passes(scale, thr)].sort_values("city_code")
            rows.append({"percentile": float(q), "method": self.method, "threshold": thr,
                         "n_lq_gt1": int(lq1.sum()), "n_potential": int(lq1.sum() - len(out)),
                         "n_excluded": int(len(out)),
                         "excluded_codes": out["city_code"].tolist(),
                         "excluded_names": out["city_name"].fillna(out["city_code"]).tolist()})
        return pd.DataFrame(rows)
