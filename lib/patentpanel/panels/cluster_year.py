"""Study 1's clusters' city-year panel (gold.cluster_year), 2011-2020.

* TI: AI invention applications (study 1's IPC definition) with fractional counting: a
  patent with n patentees counts 1/n to each patentee's city. Patents with an individual
  applicant are excluded and all applicants must be in the mainland (data source steps
  2-3). Spark counts the applicant rows per (city, year, n) as integers, so the
  fractional sum sum_n count/n is formed on the driver in a fixed order: the result does
  not depend on partitioning.
* IP: local AI policy documents matched by issuing organ; a province's documents are
  added to each of its prefecture-level cities; municipalities count their own.
* NC: the yearly networks' closeness (gold.centrality.nc) of the cluster nodes only; null
  in a year the cluster is not in the network (unbalanced, as in the paper).
* ED, IC, IE: yearbook controls; missing ones handled as configured.
* Logs by the log rule (transforms.log_transform); ip_x_nc centred (transforms).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .transforms import PanelInputError, centred_product, handle_missing_controls, log_transform
from .validate import CLUSTER_YEAR

log = logging.getLogger("patentpanel.panels")

__all__ = ["fractional_counts", "fractional_ti", "ClusterYearPanel", "cluster_nc"]

SHARE_RULES = ("drop", "redistribute")


def fractional_counts(patents: DataFrame, applicants: DataFrame, ai: DataFrame, *, ai_flag: str,
                      years: tuple[int, int], patent_types: Sequence[str] = ("invention",),
                      exclude_individual: bool = True, mainland_only: bool = True,
                      unresolved_share: str = "drop") -> DataFrame:
    """Spark: applicant rows of the counted patents as integer counts per
    ``(city_code, year, denom)``: each such row carries 1/denom. ``city_code`` is null
    for applicants without a prefecture-level city (their share is lost under ``drop``;
    under ``redistribute`` denom is the number of located applicants and those rows are
    not counted). Output is at most cities x years x distinct denominators rows."""
    if unresolved_share not in SHARE_RULES:
        raise PanelInputError(f"panels.cluster_year.unresolved_share: {unresolved_share!r} not in {SHARE_RULES}")
    for name, df, cols in (("silver.patents", patents, ["app_no", "app_year", "patent_type", "n_applicants",
                                                         "has_individual", "all_mainland"]),
                           ("silver.applicants", applicants, ["app_no", "city_code"]),
                           ("silver.ai_patents", ai, ["app_no", ai_flag])):
        miss = [c for c in cols if c not in df.columns]
        if miss:
            raise PanelInputError(f"{name}: missing column(s) {miss} needed for TI")
    p = patents.where(F.col("app_year").between(int(years[0]), int(years[1]))
                      & F.col("patent_type").isin(list(patent_types)))
    if exclude_individual:
        p = p.where(~F.coalesce(F.col("has_individual"), F.lit(True)))
    if mainland_only:
        p = p.where(F.coalesce(F.col("all_mainland"), F.lit(False)))
    a = ai.where(F.coalesce(F.col(ai_flag), F.lit(False))).select("app_no")
    p = p.join(a, "app_no", "left_semi").select("app_no", F.col("app_year").alias("year"), "n_applicants")
    rows = p.join(applicants.select("app_no", "city_code"), "app_no")
    if unresolved_share == "drop":
        rows = rows.withColumn("denom", F.col("n_applicants").cast("int"))
    else:
        located = (rows.where(F.col("city_code").isNotNull()).groupBy("app_no")
                   .agg(F.count(F.lit(1)).cast("int").alias("denom")))
        rows = rows.where(F.col("city_code").isNotNull()).join(located, "app_no")
    return rows.groupBy("city_code", "year", "denom").agg(F.count(F.lit(1)).alias("n"))


def fractional_ti(counts: pd.DataFrame, table: str = "TI") -> tuple[pd.DataFrame, dict]:
    """Driver side of :func:`fractional_counts`: ``city_code, year, ti_count`` (sum of
    n/denom in (denom, then city) order) and the share lost to unresolved applicants."""
    c = counts.copy()
    bad = c["denom"].isna() | (c["denom"] <= 0)
    if bad.any():
        raise PanelInputError(f"{table}: patents without a positive applicant count (n_applicants) "
                              f"in {c.loc[bad, ['city_code', 'year']].drop_duplicates().head(5).values.tolist()}")
    c = c.sort_values(["city_code", "year", "denom"], na_position="last")
    c["frac"] = c["n"].astype(float) / c["denom"].astype(float)
    lost = c[c["city_code"].isna()]
    located = c[c["city_code"].notna()]
    ti = located.groupby(["city_code", "year"], as_index=False, sort=True)["frac"].sum()
    ti = ti.rename(columns={"frac": "ti_count"})
    info = {"unresolved_share_lost": float(lost["frac"].sum()),
            "unresolved_applicant_rows": int(lost["n"].sum())}
    if info["unresolved_applicant_rows"]:
        log.warning("%s: %d applicant rows of counted patents have no prefecture-level city; "
                    "their shares (%.3f patents) are not counted", table,
                    info["unresolved_applicant_rows"], info["unresolved_share_lost"])
    return ti, info


def cluster_nc(centrality: pd.DataFrame, clusters: Sequence[str], years: tuple[int, int]) -> pd.DataFrame:
    """``city_code, year, nc_raw`` of the cluster nodes present in each yearly network
    (gold.centrality: city_code, year or app_year, nc). Non-cluster nodes are dropped."""
    c = centrality.rename(columns={"app_year": "year"}) if "year" not in centrality.columns else centrality
    miss = [k for k in ("city_code", "year", "nc") if k not in c.columns]
    if miss:
        raise PanelInputError(f"gold.centrality: missing column(s) {miss}; has {list(c.columns)}")
    c = c[c["city_code"].isin(list(clusters)) & c["year"].between(*years)]
    c = c[["city_code", "year", "nc"]].rename(columns={"nc": "nc_raw"})
    dup = c.duplicated(["city_code", "year"], keep=False)
    if dup.any():
        raise PanelInputError(f"gold.centrality: several rows for (city_code, year) "
                              f"{c.loc[dup, ['city_code', 'year']].drop_duplicates().head(5).values.tolist()}")
    c = c.astype({"year": int})
    return c.reset_index(drop=True)


@dataclass
class ClusterYearPanel:
    """Builds gold.cluster_year from city-year-sized inputs.

    >>> panel = ClusterYearPanel(window=(2011, 2020)).build(ti, clusters, regions, ip, nc, yearbook)
    >>> panel.frame, panel.metadata
    """
    window: tuple[int, int] = (2011, 2020)
    controls: dict = field(default_factory=lambda: {"ed": "gdp_per_capita", "ic": "road_area_per_capita",
                                                    "ie": "st_expenditure"})
    centre_years: tuple[int, int] = (2012, 2020)
    missing_controls: str = "drop"
    frame: pd.DataFrame | None = None
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg) -> "ClusterYearPanel":
        s = cfg.section("panels.cluster_year")
        return cls(window=(int(s["window"]["start"]), int(s["window"]["end"])), controls=dict(s["controls"]),
                   centre_years=(int(s["centre_years"]["start"]), int(s["centre_years"]["end"])),
                   missing_controls=cfg.get("panels.missing_controls"))

    def build(self, ti: pd.DataFrame, clusters: Sequence[str], regions: pd.DataFrame,
              ip: pd.DataFrame, nc: pd.DataFrame, yearbook: pd.DataFrame) -> "ClusterYearPanel":
        """``ti``: city_code, year, ti_count (any cities); ``ip``: city_code, year, ip_city,
        ip_province, ip_count; ``nc``: city_code, year, nc_raw (cluster nodes);
        ``yearbook``: adcode, year and the control columns."""
        clusters = sorted(set(clusters))
        if not clusters:
            raise PanelInputError("gold.cluster_year: no clusters (gold.clusters has no is_cluster row)")
        unknown = sorted(set(clusters) - set(regions["adcode"]))
        if unknown:
            raise PanelInputError(f"gold.cluster_year: cluster codes not in the gazetteer: {unknown}")
        y0, y1 = self.window
        years = list(range(y0, y1 + 1))
        reg = regions.set_index("adcode")
        g = pd.DataFrame({"city_code": np.repeat(clusters, len(years)), "year": np.tile(years, len(clusters))})
        g["city_name"] = reg.loc[g["city_code"], "name"].to_numpy()
        g["city_name_en"] = reg.loc[g["city_code"], "name_en"].to_numpy()
        g = g.merge(ti[["city_code", "year", "ti_count"]], on=["city_code", "year"], how="left")
        g["ti_count"] = g["ti_count"].fillna(0.0).astype(float)
        g = g.merge(ip[["city_code", "year", "ip_city", "ip_province", "ip_count"]],
                    on=["city_code", "year"], how="left")
        for c in ("ip_city", "ip_province", "ip_count"):
            g[c] = g[c].fillna(0).astype(np.int64)
        g = g.merge(nc[["city_code", "year", "nc_raw"]], on=["city_code", "year"], how="left")
        yb = yearbook.rename(columns={"adcode": "city_code"})
        yb = yb[["city_code", "year", *self.controls.values()]].rename(
            columns={v: f"{k}_raw" for k, v in self.controls.items()})
        g = g.merge(yb, on=["city_code", "year"], how="left")
        raw_controls = [f"{k}_raw" for k in self.controls]
        g, miss = handle_missing_controls(g, raw_controls, "city_code", "year", self.missing_controls,
                                          CLUSTER_YEAR.name)
        logs = {"ti": "ti_count", "ip": "ip_count", "nc": "nc_raw", **{k: f"{k}_raw" for k in self.controls}}
        g, plus_one = log_transform(g, logs, ["city_code", "year"], CLUSTER_YEAR.name)
        sample = g["year"].between(*self.centre_years)
        g["ip_x_nc"], m_ip, m_nc = centred_product(g["ip"], g["nc"], sample)
        self.frame = CLUSTER_YEAR.validate(g)
        n_nc = int(self.frame["nc_raw"].notna().sum())
        self.metadata = {
            "window": list(self.window), "clusters": clusters, "rows": int(len(self.frame)),
            "log_plus_one": plus_one, "centre": {"years": list(self.centre_years), "ip_mean": m_ip, "nc_mean": m_nc},
            "nc_rows": n_nc, "nc_missing_rows": int(len(self.frame) - n_nc),
            "missing_controls": miss.as_metadata(),
        }
        log.info("gold.cluster_year: %d clusters x %d years = %d rows; NC present in %d (unbalanced); "
                 "log(x+1) for %s", len(clusters), len(years), len(self.frame), n_nc, plus_one or "none")
        return self
