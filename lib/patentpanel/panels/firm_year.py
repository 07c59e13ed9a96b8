"""Study 1's firm-year panel for the mediation analysis (gold.firm_year, Table 5).

Listed AI firms located in a cluster: TI^ (invention applications), GS (government
subsidies), EP (return on assets), CS (asset-liability ratio), OC (asset turnover) and
the IP of the firm's cluster in that year. Balanced as in note 21 ("we eliminate samples
with missing data"): a firm with a missing year or any missing value in the window is
dropped whole. TI^, GS and IP are logged by the log rule; the ratios stay as they are.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from .transforms import PanelInputError, log_transform
from .validate import FIRM_YEAR

log = logging.getLogger("patentpanel.panels")

__all__ = ["FirmYearPanel"]

_VALUE_COLUMNS = ("ti_count", "gs_raw", "ep", "cs", "oc")


@dataclass
class FirmYearPanel:
    """>>> FirmYearPanel(years=(2010, 2020)).build(firms, clusters, ip).frame"""
    years: tuple[int, int] = (2010, 2020)
    columns: dict = field(default_factory=lambda: {"ti_count": "invention_applications", "gs_raw": "subsidies",
                                                   "ep": "roa", "cs": "leverage", "oc": "asset_turnover"})
    frame: pd.DataFrame | None = None
    dropped: pd.DataFrame | None = None
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg) -> "FirmYearPanel":
        s = cfg.section("panels.firm_year")
        return cls(years=(int(s["years"]["start"]), int(s["years"]["end"])), columns=dict(s["columns"]))

    def source_columns(self) -> list[str]:
        miss = [c for c in _VALUE_COLUMNS if c not in self.columns]
        if miss:
            raise PanelInputError(f"panels.firm_year.columns: missing {miss}")
        return [self.columns[c] for c in _VALUE_COLUMNS]

    def build(self, firms: pd.DataFrame, clusters: Sequence[str], ip: pd.DataFrame) -> "FirmYearPanel":
        """``firms``: firm_id, name, adcode, year and the source columns (inputs.read_firms);
        ``ip``: city_code, year, ip_count covering the firm years."""
        y0, y1 = self.years
        years = list(range(y0, y1 + 1))
        src = self.source_columns()
        f = firms[firms["adcode"].isin(list(clusters))].copy()
        outside = firms.loc[~firms["adcode"].isin(list(clusters)), "firm_id"].nunique()
        f = f[f["year"].between(y0, y1)]
        f = f.rename(columns={"name": "firm_name", "adcode": "city_code",
                              **{v: k for k, v in self.columns.items()}})
        f["year"] = f["year"].astype(int)
        # a firm must sit in one city
        moves = f.groupby("firm_id")["city_code"].nunique()
        if (moves > 1).any():
            raise PanelInputError(f"firms: firm(s) located in several cities: {moves[moves > 1].index[:5].tolist()}")
        grid = pd.MultiIndex.from_product([sorted(f["firm_id"].unique()), years], names=["firm_id", "year"])
        full = f.set_index(["firm_id", "year"]).reindex(grid).reset_index()
        full["firm_name"] = full.groupby("firm_id")["firm_name"].transform("first")
        full["city_code"] = full.groupby("firm_id")["city_code"].transform("first")
        incomplete = full[list(_VALUE_COLUMNS)].isna().any(axis=1)
        bad_firms = sorted(full.loc[incomplete, "firm_id"].unique())
        self.dropped = (full.loc[incomplete, ["firm_id", "year"]]
                        .assign(missing=full.loc[incomplete, list(_VALUE_COLUMNS)].isna()
                                .apply(lambda r: ",".join(r.index[r]), axis=1)).reset_index(drop=True))
        full = full[~full["firm_id"].isin(bad_firms)].reset_index(drop=True)
        log.info("gold.firm_year: %d firms in clusters (%d outside clusters ignored); %d dropped for missing "
                 "data (note 21: balanced panel), e.g. %s; %d firms x %d years kept",
                 len(bad_firms) + full["firm_id"].nunique(), outside, len(bad_firms),
                 self.dropped.head(3).values.tolist(), full["firm_id"].nunique(), len(years))
        full = full.merge(ip[["city_code", "year", "ip_count"]], on=["city_code", "year"], how="left")
        if full["ip_count"].isna().any():
            raise PanelInputError("gold.firm_year: policy counts do not cover "
                                  f"{full.loc[full['ip_count'].isna(), ['city_code', 'year']].head(5).values.tolist()}")
        full["ip_count"] = full["ip_count"].astype(np.int64)
        full, plus_one = log_transform(full, {"ti": "ti_count", "gs": "gs_raw", "ip": "ip_count"},
                                       ["firm_id", "year"], FIRM_YEAR.name)
        self.frame = FIRM_YEAR.validate(full[[c.name for c in FIRM_YEAR.columns]])
        self.metadata = {"years": list(self.years), "firms": int(self.frame["firm_id"].nunique()),
                         "rows": int(len(self.frame)), "dropped_firms": bad_firms,
                         "dropped_firm_count": len(bad_firms), "log_plus_one": plus_one,
                         "firms_outside_clusters": int(outside)}
        return self
