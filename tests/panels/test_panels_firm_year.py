"""Firm-year panel: firms outside clusters ignored, balance by dropping incomplete firms
(note 21), IP of the firm's cluster, log rule."""
import math

import numpy as np
import pandas as pd
import pytest

from patentpanel.panels.firm_year import FirmYearPanel
from patentpanel.panels.transforms import PanelInputError


def _firms():
    rows = []
    for fid, city in (("600001", "320100"), ("600002", "110000"), ("600003", "320100"), ("600004", "320500")):
        for y in (2010, 2011, 2012):
            rows.append({"firm_id": fid, "name": f"F{fid}", "adcode": city, "year": y, "subsidies": 1000.0 * (y - 2009),
                         "roa": 0.05, "leverage": 0.4, "asset_turnover": 0.7,
                         "invention_applications": float(y - 2010)})
    df = pd.DataFrame(rows)
    df.loc[(df["firm_id"] == "600003") & (df["year"] == 2011), "roa"] = np.nan      # incomplete
    return df[~((df["firm_id"] == "600002") & (df["year"] == 2012))].reset_index(drop=True)   # a missing year


def _ip():
    return pd.DataFrame({"city_code": ["320100"] * 3 + ["110000"] * 3, "year": [2010, 2011, 2012] * 2,
                         "ip_count": [0, 2, 5, 1, 1, 3]})


def test_balanced_by_dropping_incomplete_firms(caplog):
    with caplog.at_level("INFO", logger="patentpanel.panels"):
        fp = FirmYearPanel(years=(2010, 2012)).build(_firms(), ["320100", "110000"], _ip())
    f = fp.frame
    assert f["firm_id"].unique().tolist() == ["600001"]          # 600002 lacks 2012, 600003 lacks roa in 2011
    assert fp.metadata["dropped_firms"] == ["600002", "600003"] and fp.metadata["firms_outside_clusters"] == 1
    assert "2 dropped for missing data" in caplog.text
    assert f["ip_count"].tolist() == [0, 2, 5]
    assert sorted(fp.metadata["log_plus_one"]) == ["ip", "ti"]   # zeros in TI^ and IP; subsidies positive
    assert f["gs"].tolist() == [math.log(1000.0), math.log(2000.0), math.log(3000.0)]
    assert f["ti"].tolist() == [0.0, math.log(2.0), math.log(3.0)]
    assert (f["ep"] == 0.05).all()


def test_policy_counts_must_cover_firm_years():
    with pytest.raises(PanelInputError, match="policy counts do not cover"):
        FirmYearPanel(years=(2010, 2012)).build(_firms(), ["320100"], _ip()[_ip()["year"] > 2010])
