"""Study 2's city panel on hand-made inputs: first-applicant and fractional counting by
type, PCT, tier and grant; the innovation index and the min-max normalisation computed
by hand; dummies, instruments, alternative dependents."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from panels_handmade import p, silver
from patentpanel.panels.city120 import City120Panel, city_type_counts
from patentpanel.panels.inputs import read_regions
from patentpanel.panels.transforms import PanelInputError

CONF = Path(__file__).resolve().parents[2] / "conf"
NJ, HZ, BJ = "320100", "330100", "110000"


@pytest.fixture(scope="module")
def regions():
    return read_regions(CONF / "geo/regions_2020.csv")


@pytest.fixture(scope="module")
def counts(spark):
    rows = [
        p("Q1", [NJ, BJ], year=2012, tier="FT"),
        p("Q2", [NJ], year=2012, ptype="utility", tier="CT"),
        p("Q3", [NJ], year=2012, tier="GPT", pct=True, npub=2),
        p("Q4", [HZ], year=2013, tier="FT"),
        p("Q5", [HZ], year=2013, ptype="design", ai=False, ai_ipc=False),
        p("Q6", [BJ], year=2012, ai=False, ai_ipc=False),
        p("Q7", [None, NJ], year=2012, tier="FT"),            # first applicant without a city
        p("Q8", [NJ], year=2011, tier="FT"),                  # outside the window
    ]
    pats, apps, ai = silver(spark, rows)
    first = city_type_counts(pats, apps, ai, cities=[NJ, HZ, BJ], years=(2012, 2013)).toPandas()
    frac = city_type_counts(pats, apps, ai, cities=[NJ, HZ, BJ], years=(2012, 2013), counting="fractional").toPandas()
    return first, frac


def _cities():
    return pd.DataFrame({"adcode": [NJ, HZ, BJ], "name_en": ["Nanjing", "Hangzhou", "Beijing"],
                         "coastal": [0, 1, 0], "capital": [1, 1, 1], "transport_hub": [1, 0, 1],
                         "city_scale": [1, 1, 1]})


def _yearbook():
    rows = []
    for i, c in enumerate([NJ, HZ, BJ]):
        for y in (2012, 2013):
            rows.append({"adcode": c, "year": y, "population_10k": 800.0 + 100 * i + y - 2012,
                         "pop_density": 1000.0 + 10 * i, "gdp_per_capita": 9e4 + i, "fdi_gdp": 0.02,
                         "trade_gdp": 0.3 + i / 10, "edu_exp_share": 0.17, "theil_index": 0.2 - i / 100,
                         "rd_gdp": 0.03})
    return pd.DataFrame(rows)


def _panel(regions, counts, yb=None, **kw):
    panel = City120Panel(window=(2012, 2013), controls={
        "popdensity": {"column": "pop_density", "transform": "log"},
        "ecodevelop": {"column": "gdp_per_capita", "transform": "log"},
        "fdi": {"column": "fdi_gdp", "transform": "none"}, "open": {"column": "trade_gdp", "transform": "none"},
        "eduexp": {"column": "edu_exp_share", "transform": "none"},
        "indstru": {"column": "theil_index", "transform": "none"},
        "techlevel": {"column": "rd_gdp", "transform": "none"}},
        robustness_controls={"findev": {"column": "findev", "transform": "none"}},
        instruments={"post_offices_1984": "post_offices", "telephones_1984": "telephones",
                     "post_output_1984": "postal_output"}, national_series_column="internet_users_10k", **kw)
    hist = pd.DataFrame({"adcode": [NJ, HZ, BJ], "post_offices": [50.0, 40.0, 90.0], "telephones": [1e4, 8e3, 3e4],
                         "postal_output": [600.0, 500.0, 900.0]})
    nat = pd.DataFrame({"year": [2012, 2013], "internet_users_10k": [56400.0, 61758.0]})
    return panel.build(counts, _cities(), regions, _yearbook() if yb is None else yb, hist, nat)


def test_first_applicant_counts(regions, counts):
    f = _panel(regions, counts[0]).frame.set_index(["city_code", "year"])
    nj = f.loc[(NJ, 2012)]
    assert (nj["invention_count"], nj["utility_count"], nj["design_count"], nj["pct_count"], nj["total_count"]) == (2, 1, 0, 1, 3)
    assert (nj["ft_count"], nj["ct_count"], nj["gpt_count"]) == (1, 1, 1)
    assert (nj["ft_granted_count"], nj["ct_granted_count"], nj["gpt_granted_count"]) == (0, 1, 1)
    hz = f.loc[(HZ, 2013)]
    assert (hz["invention_count"], hz["design_count"], hz["ft_count"], hz["total_count"]) == (1, 1, 1, 2)
    assert f.loc[(BJ, 2012), "invention_count"] == 1 and f.loc[(BJ, 2012), "ft_count"] == 0
    assert f["total_count"].sum() == 6                          # Q7 has no first-applicant city, Q8 is 2011


def test_fractional_counts(regions, counts):
    f = _panel(regions, counts[1]).frame.set_index(["city_code", "year"])
    assert f.loc[(NJ, 2012), "ft_count"] == 1.0                # Q1 1/2 + Q7's located half
    assert f.loc[(BJ, 2012), "invention_count"] == 1.5 and f.loc[(BJ, 2012), "ft_count"] == 0.5


def test_innovation_index_and_normalisation_by_hand(regions, counts):
    panel = _panel(regions, counts[0])
    f = panel.frame.set_index(["city_code", "year"])
    yb = _yearbook().set_index(["adcode", "year"])
    idx = {}
    for key in f.index:
        r = f.loc[key]
        idx[key] = (0.5 * r["invention_count"] + 0.3 * r["utility_count"] + 0.2 * r["design_count"]) \
            / yb.loc[key, "population_10k"]
    assert min(idx.values()) == 0.0                              # a zero: the log rule adds 1
    assert panel.metadata["log_plus_one"] == ["_log_innovation"]
    logs = {k: math.log(1 + v) for k, v in idx.items()}
    lo, hi = min(logs.values()), max(logs.values())
    for k in f.index:
        assert f.loc[k, "innovation_index"] == pytest.approx(idx[k], rel=1e-15)
        assert f.loc[k, "innovation"] == pytest.approx((logs[k] - lo) / (hi - lo), abs=1e-15)
    assert f["innovation"].min() == 0.0 and f["innovation"].max() == 1.0
    # tiers: log(1 + count), min-max over the panel; counts 0/1 -> exactly 0/1
    assert f["ft"].tolist() == [float(c > 0) for c in f["ft_count"]]
    assert f.loc[(NJ, 2012), "invention_share"] == pytest.approx(2 / 3, abs=1e-15)
    assert np.isnan(f.loc[(NJ, 2013), "invention_share"])      # no applications: share undefined
    assert f.loc[(NJ, 2012), "invention_pc"] == 2 / 800.0
    hq = {k: math.log1p((f.loc[k, "invention_count"] + f.loc[k, "pct_count"]) / yb.loc[k, "population_10k"])
          for k in f.index}
    assert f.loc[(NJ, 2012), "hq_patent_index"] == pytest.approx(
        (hq[(NJ, 2012)] - min(hq.values())) / (max(hq.values()) - min(hq.values())), abs=1e-15)


def test_controls_dummies_and_instruments(regions, counts):
    f = _panel(regions, counts[0]).frame.set_index(["city_code", "year"])
    assert f.loc[(HZ, 2012), "popdensity"] == math.log(1010.0) and f.loc[(HZ, 2012), "open"] == 0.4
    assert (f.loc[(HZ, 2012), "coastal"], f.loc[(HZ, 2012), "transport"], f.loc[(BJ, 2013), "is_municipality"]) == (1, 0, 1)
    assert f.loc[(BJ, 2013), "telephones_1984"] == 3e4 and f.loc[(NJ, 2013), "national_internet"] == 61758.0
    assert f["findev"].isna().all()                              # absent from the yearbook: null


def test_missing_population_dropped_then_normalised_over_remaining_rows(regions, counts):
    yb = _yearbook()
    yb.loc[(yb["adcode"] == NJ) & (yb["year"] == 2012), "population_10k"] = np.nan
    panel = _panel(regions, counts[0], yb=yb)
    f = panel.frame
    assert len(f) == 5 and panel.metadata["missing_controls"]["dropped_rows"] == 1
    assert f["innovation"].min() == 0.0 and f["innovation"].max() == 1.0


def test_bad_counting_rejected(spark):
    with pytest.raises(PanelInputError, match="counting"):
        city_type_counts(None, None, None, cities=[], years=(2012, 2013), counting="inventor")
