"""Study 2's 120-city panel (gold.city120_year), 2010-2021.

* FT, CT, GPT: AI applications (study 2's keyword + code definition, silver.ai_patents
  is_ai and tier) of every type per city-year, by first applicant's city (or
  fractional, configured); log(1 + count); min-max over the panel.
* Innovation: (0.5 invention + 0.3 utility + 0.2 design applications) per 10,000
  population; log (log(x + 1) if the index has a zero, the log rule); min-max.
* The seven controls of Table 2 from the yearbook (missing ones handled as configured),
  the four heterogeneity dummies from the city list, alternative dependent variables,
  granted and within-city-share tier measures and the 1984 instruments.

Min-max: (v - min) / (max - min) over the rows of the written panel, so every
normalised variable spans exactly [0, 1] as the paper's Table 4 does.
Spark aggregates the patents to integer counts per (city, year, denominator); the
driver receives at most 120 x 12 x (distinct denominators) rows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .transforms import PanelInputError, handle_missing_controls, log_transform, minmax
from .validate import CITY120_YEAR

log = logging.getLogger("patentpanel.panels")

__all__ = ["city_type_counts", "City120Panel", "COUNT_COLUMNS", "TIERS"]

TIERS = ("FT", "CT", "GPT")
COUNT_COLUMNS = ("invention_count", "utility_count", "design_count", "pct_count", "total_count",
                 "ft_count", "ct_count", "gpt_count", "ft_granted_count", "ct_granted_count",
                 "gpt_granted_count")
COUNTINGS = ("first_applicant", "fractional")


def city_type_counts(patents: DataFrame, applicants: DataFrame, ai: DataFrame, *, cities: Sequence[str],
                     years: tuple[int, int], ai_flag: str = "is_ai", counting: str = "first_applicant",
                     granted_min_publications: int = 2) -> DataFrame:
    """Spark: integer counts per ``(city_code, year, denom)`` of applications by type,
    PCT, AI tier and granted AI tier, for the listed cities. Each counted applicant row
    carries 1/denom (denom 1 under first-applicant counting)."""
    if counting not in COUNTINGS:
        raise PanelInputError(f"panels.city120_year.counting: {counting!r} not in {COUNTINGS}")
    for name, df, cols in (("silver.patents", patents, ["app_no", "app_year", "patent_type", "pct",
                                                         "n_publications", "n_applicants"]),
                           ("silver.applicants", applicants, ["app_no", "position", "city_code"]),
                           ("silver.ai_patents", ai, ["app_no", ai_flag, "tier"])):
        miss = [c for c in cols if c not in df.columns]
        if miss:
            raise PanelInputError(f"{name}: missing column(s) {miss} needed for the 120-city panel")
    p = patents.where(F.col("app_year").between(int(years[0]), int(years[1]))).select(
        "app_no", F.col("app_year").alias("year"), "patent_type", "pct", "n_publications", "n_applicants")
    a = applicants.where(F.col("city_code").isin(list(cities)))
    if counting == "first_applicant":
        a = a.where(F.col("position") == 1)
    rows = p.join(a.select("app_no", "city_code"), "app_no")
    rows = rows.withColumn("denom", F.lit(1) if counting == "first_applicant" else F.col("n_applicants").cast("int"))
    rows = rows.join(ai.select("app_no", F.coalesce(F.col(ai_flag), F.lit(False)).alias("_ai"), "tier"),
                     "app_no", "left")
    ai_ = F.coalesce(F.col("_ai"), F.lit(False))
    granted = (F.col("patent_type") != "invention") | (F.col("n_publications") >= int(granted_min_publications))
    n = lambda cond: F.sum(F.when(cond, 1).otherwise(0)).cast("long")  # noqa: E731
    aggs = [n(F.col("patent_type") == t).alias(f"{t}_count") for t in ("invention", "utility", "design")]
    aggs += [n(F.coalesce(F.col("pct"), F.lit(False))).alias("pct_count"), F.count(F.lit(1)).alias("total_count")]
    aggs += [n(ai_ & (F.col("tier") == t)).alias(f"{t.lower()}_count") for t in TIERS]
    aggs += [n(ai_ & (F.col("tier") == t) & granted).alias(f"{t.lower()}_granted_count") for t in TIERS]
    return rows.groupBy("city_code", "year", "denom").agg(*aggs)


def _collapse(counts: pd.DataFrame) -> pd.DataFrame:
    c = counts.sort_values(["city_code", "year", "denom"])
    for k in COUNT_COLUMNS:
        c[k] = c[k].astype(float) / c["denom"].astype(float)
    return c.groupby(["city_code", "year"], as_index=False)[list(COUNT_COLUMNS)].sum()


@dataclass
class City120Panel:
    """Builds gold.city120_year from city-year-sized inputs.

    >>> p = City120Panel.from_config(cfg).build(counts, cities, regions, yearbook, history, national)
    >>> p.frame, p.metadata
    """
    window: tuple[int, int] = (2010, 2021)
    innovation_weights: dict = field(default_factory=lambda: {"invention": 0.5, "utility": 0.3, "design": 0.2})
    hq_weights: dict = field(default_factory=lambda: {"invention": 1.0, "pct": 1.0})
    controls: dict = field(default_factory=dict)             # name -> {column, transform}
    robustness_controls: dict = field(default_factory=dict)
    instruments: dict = field(default_factory=dict)          # panel column -> history column
    national_series_column: str = ""
    missing_controls: str = "drop"
    frame: pd.DataFrame | None = None
    metadata: dict = field(default_factory=dict)
    schema: object = None

    @classmethod
    def from_config(cls, cfg) -> "City120Panel":
        s = cfg.section("panels.city120_year")
        if s.get("normalisation", "minmax") != "minmax":
            raise PanelInputError(f"panels.city120_year.normalisation: {s['normalisation']!r}; only "
                                  "'minmax' is implemented")
        return cls(window=(int(s["window"]["start"]), int(s["window"]["end"])),
                   innovation_weights=dict(s["innovation_weights"]), hq_weights=dict(s["hq_weights"]),
                   controls=dict(s["controls"]), robustness_controls=dict(s["robustness_controls"]),
                   instruments=dict(s["instruments"]), national_series_column=s["national_series_column"] or "",
                   missing_controls=cfg.get("panels.missing_controls"))

    def yearbook_columns(self) -> list[str]:
        return ["population_10k", *[v["column"] for v in self.controls.values()]]

    def build(self, counts: pd.DataFrame, cities: pd.DataFrame, regions: pd.DataFrame, yearbook: pd.DataFrame,
              history: pd.DataFrame | None = None, national: pd.DataFrame | None = None) -> "City120Panel":
        """``counts``: output of :func:`city_type_counts` collected; ``cities``: the study-2
        list (adcode, name_en, coastal, capital, transport_hub, city_scale); ``yearbook``:
        adcode, year, population_10k and the control columns; ``history``: adcode and the
        instrument columns; ``national``: year and the national series column."""
        y0, y1 = self.window
        years = list(range(y0, y1 + 1))
        codes = cities["adcode"].tolist()
        g = pd.DataFrame({"city_code": np.repeat(codes, len(years)), "year": np.tile(years, len(codes))})
        reg = regions.set_index("adcode")
        cl = cities.set_index("adcode")
        g["city_name"] = reg.loc[g["city_code"], "name"].to_numpy()
        g["city_name_en"] = cl.loc[g["city_code"], "name_en"].to_numpy()
        agg = _collapse(counts) if len(counts) else pd.DataFrame(columns=["city_code", "year", *COUNT_COLUMNS])
        g = g.merge(agg, on=["city_code", "year"], how="left")
        for k in COUNT_COLUMNS:
            g[k] = g[k].fillna(0.0).astype(float)
        yb = yearbook.rename(columns={"adcode": "city_code"})
        ctrl_cols = {k: v["column"] for k, v in self.controls.items()}
        rob_cols = {k: v["column"] for k, v in self.robustness_controls.items()}
        keep = ["city_code", "year", "population_10k", *ctrl_cols.values(),
                *[c for c in rob_cols.values() if c in yb.columns]]
        g = g.merge(yb[list(dict.fromkeys(keep))], on=["city_code", "year"], how="left")
        g = g.rename(columns={"population_10k": "population"})
        for k, col in ctrl_cols.items():
            g[k] = self._transform(g[col], self.controls[k].get("transform", "none"), k, g)
        absent = [k for k, col in rob_cols.items() if col not in yb.columns]
        for k, col in rob_cols.items():
            g[k] = (self._transform(g[col], self.robustness_controls[k].get("transform", "none"), k, g)
                    if col in yb.columns else np.nan)
        if absent:
            log.warning("gold.city120_year: robustness controls %s not in the yearbook; written as null", absent)
        g = g.drop(columns=[c for c in set(ctrl_cols.values()) | set(rob_cols.values())
                            if c in g.columns and c not in self.controls and c not in self.robustness_controls])
        g, miss = handle_missing_controls(g, ["population", *ctrl_cols], "city_code", "year",
                                          self.missing_controls, CITY120_YEAR.name)
        bad = g.index[g["population"] <= 0]
        if len(bad):
            raise PanelInputError(f"gold.city120_year: population must be positive; "
                                  f"{g.loc[bad, ['city_code', 'year', 'population']].head(5).values.tolist()}")
        # dependent variable: weighted applications per 10,000 population, log, min-max
        w = self.innovation_weights
        g["innovation_index"] = (w["invention"] * g["invention_count"] + w["utility"] * g["utility_count"]
                                 + w["design"] * g["design_count"]) / g["population"]
        g, plus_one = log_transform(g, {"_log_innovation": "innovation_index"}, ["city_code", "year"],
                                    CITY120_YEAR.name)
        g["innovation"] = minmax(g["_log_innovation"])
        for t in TIERS:
            k = t.lower()
            g[k] = minmax(np.log1p(g[f"{k}_count"]))
            g[f"{k}_granted"] = minmax(np.log1p(g[f"{k}_granted_count"]))
            g[f"{k}_share"] = (g[f"{k}_count"] / g["total_count"]).where(g["total_count"] > 0)
        # alternative dependent variables
        g["invention_pc"] = g["invention_count"] / g["population"]
        g["invention_share"] = (g["invention_count"] / g["total_count"]).where(g["total_count"] > 0)
        hq = (self.hq_weights["invention"] * g["invention_count"] + self.hq_weights["pct"] * g["pct_count"])
        g["hq_patent_index"] = minmax(np.log1p(hq / g["population"]))
        # heterogeneity dummies
        g["coastal"] = cl.loc[g["city_code"], "coastal"].astype(int).to_numpy()
        g["capital"] = cl.loc[g["city_code"], "capital"].astype(int).to_numpy()
        g["transport"] = cl.loc[g["city_code"], "transport_hub"].astype(int).to_numpy()
        g["cityscale"] = cl.loc[g["city_code"], "city_scale"].astype(int).to_numpy()
        g["is_municipality"] = reg.loc[g["city_code"], "is_municipality"].astype(int).to_numpy()
        # instruments and the national series
        for col in ("post_offices_1984", "telephones_1984", "post_output_1984"):
            src = self.instruments.get(col)
            if history is not None and src and src in history.columns:
                g[col] = g["city_code"].map(history.set_index("adcode")[src]).astype(float)
            else:
                g[col] = np.nan
        no_hist = sorted(g.loc[g["post_offices_1984"].isna(), "city_code"].unique())
        if no_hist:
            log.warning("gold.city120_year: no 1984 infrastructure for %d cities (e.g. %s)", len(no_hist), no_hist[:3])
        col = self.national_series_column
        if national is not None and col and col in national.columns:
            g["national_internet"] = g["year"].map(national.set_index("year")[col]).astype(float)
        else:
            g["national_internet"] = np.nan
        g = g.drop(columns=["_log_innovation"])
        declared = {c.name for c in CITY120_YEAR.columns}
        for c in ("diversification", "findev"):      # contract columns, null unless configured
            if c not in g.columns:
                g[c] = np.nan
        self.schema = CITY120_YEAR.with_extra([k for k in [*self.controls, *self.robustness_controls]
                                               if k not in declared])
        self.frame = self.schema.validate(g)
        self.metadata = {"window": list(self.window), "cities": len(codes), "rows": int(len(self.frame)),
                         "log_plus_one": plus_one, "normalisation": "minmax over the written panel",
                         "innovation_weights": w, "hq_weights": self.hq_weights,
                         "missing_controls": miss.as_metadata(), "robustness_controls_absent": absent}
        log.info("gold.city120_year: %d cities x %d years -> %d rows", len(codes), len(years), len(self.frame))
        return self

    @staticmethod
    def _transform(x: pd.Series, how: str, name: str, g: pd.DataFrame) -> pd.Series:
        if how == "none":
            return x.astype(float)
        if how == "log":
            bad = g.index[x <= 0]
            if len(bad):
                raise PanelInputError(f"gold.city120_year: {name} cannot be logged (<= 0) at "
                                      f"{g.loc[bad, ['city_code', 'year']].head(5).values.tolist()}")
            return np.log(x.astype(float))
        raise PanelInputError(f"panels.city120_year.controls.{name}.transform: {how!r} not in ['log', 'none']")
