"""Location quotients, percentile thresholds and clusters on a hand-made miniature of
study 1's logic (LQ > 1 regions, some excluded by the 80th-percentile scale threshold,
one potential cluster without intraregional links)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patentpanel.network.lq import (ClusterIdentification, location_quotients,
                                    percentile_threshold)

# (AI total, all total) over the 2011-2012 window
TOTALS = {"R01": (100, 400), "R02": (80, 300), "R03": (60, 500), "R04": (50, 1000),
          "R05": (70, 260), "R06": (30, 600), "R07": (20, 800), "R08": (10, 30),
          "R09": (5, 20), "R10": (3, 500), "R11": (2, 400), "R12": (0, 300)}


def _apps():
    rows = []
    for code, (a, p) in TOTALS.items():
        rows.append((code, 2011, a * 0.25, p * 0.5))
        rows.append((code, 2012, a * 0.75, p * 0.5))
    rows.append(("R01", 2010, 999.0, 999.0))     # outside the window
    rows.append((None, 2011, 50.0, 50.0))        # unlocated: no region, not in A or P
    return pd.DataFrame(rows, columns=["city_code", "app_year", "ai_apps", "all_apps"])


def _regions():
    return pd.DataFrame({"city_code": [*TOTALS, "R13"],
                         "city_name": [f"City {c[1:]}" for c in TOTALS] + ["City 13"]})


def _collab():
    # R02 has no intraregional collaboration: potential cluster but not a cluster.
    return pd.DataFrame({"city_code": ["R01", "R01", "R02", "R05", "R03"],
                         "intra": [4, 3, 0, 1, 9], "inter": [5, 0, 6, 2, 1]})


def test_location_quotients_by_hand():
    lq = location_quotients(_apps(), 2011, 2012, _regions()).set_index("city_code")
    big_a = sum(a for a, _ in TOTALS.values())
    big_p = sum(p for _, p in TOTALS.values())
    assert (big_a, big_p) == (430, 5110)
    for code, (a, p) in TOTALS.items():
        assert lq.loc[code, "lq"] == pytest.approx((a / p) / (big_a / big_p), rel=1e-14)
        assert lq.loc[code, "ai_mean"] == pytest.approx(a / 2, rel=1e-14)
    # R13 is in the gazetteer but has no applications: zero scale, LQ undefined
    assert lq.loc["R13", "ai_total"] == 0 and np.isnan(lq.loc["R13", "lq"])
    assert sorted(lq.index[lq["lq"] > 1]) == ["R01", "R02", "R03", "R05", "R08", "R09"]


def test_percentile_is_excel_percentile_inc():
    vals = [0, 2, 3, 5, 10, 20, 30, 50, 60, 70, 80, 100]
    # PERCENTILE.INC: position (n-1)p = 11*0.8 = 8.8 -> 60 + 0.8*(70-60)
    assert percentile_threshold(vals, 80) == pytest.approx(68.0, abs=1e-12)
    assert percentile_threshold(vals, 75) == pytest.approx(62.5, abs=1e-12)
    assert percentile_threshold(vals, 80, "lower") == 60.0
    with pytest.raises(ValueError, match="method"):
        percentile_threshold(vals, 80, "excel")


def test_clusters_and_sensitivity():
    regions = _regions().iloc[:12]  # the universe: the 12 regions with data
    lq = location_quotients(_apps(), 2011, 2012, regions)
    ident = ClusterIdentification(percentile=80, sensitivity_percentiles=[70, 75, 80, 84])
    res = ident.fit(lq, _collab())
    assert res.threshold == pytest.approx(68.0, abs=1e-12)
    r = res.region_lq.set_index("city_code")
    assert int(r["lq_gt1"].sum()) == 6
    excluded = sorted(r.index[r["lq_gt1"] & ~r["potential"]])
    assert excluded == ["R03", "R08", "R09"]
    assert sorted(res.clusters["city_code"]) == ["R01", "R02", "R05"]
    assert res.cluster_codes == ["R01", "R05"]
    c = res.clusters.set_index("city_code")
    assert (c.loc["R01", "intra"], c.loc["R01", "inter"]) == (7, 5)
    assert not c.loc["R02", "has_intra"] and c.loc["R02", "has_inter"]
    s = res.sensitivity.set_index("percentile")
    assert s.loc[70, "threshold"] == pytest.approx(57.0, abs=1e-12)   # 50 + 0.7*10
    assert s.loc[70, "excluded_codes"] == ["R08", "R09"]                # R03 (60) passes
    assert s.loc[75, "excluded_codes"] == ["R03", "R08", "R09"]
    assert s.loc[84, "threshold"] == pytest.approx(70 + 0.24 * 10, abs=1e-12)  # pos 9.24
    assert s.loc[84, "excluded_codes"] == ["R03", "R05", "R08", "R09"]
    assert (s["n_lq_gt1"] == 6).all()
    assert "LQ > 1: 6" in res.summary()


def test_mean_annual_measure_ranks_identically_and_inclusive_rule():
    regions = _regions().iloc[:12]
    lq = location_quotients(_apps(), 2011, 2012, regions)
    a = ClusterIdentification(measure="total").fit(lq, _collab())
    b = ClusterIdentification(measure="mean_annual").fit(lq, _collab())
    assert b.threshold == pytest.approx(a.threshold / 2, abs=1e-12)
    assert a.cluster_codes == b.cluster_codes
    # a region exactly at the threshold: kept when inclusive, dropped otherwise
    at = ClusterIdentification(percentile=100 * 8 / 11)  # position 8 -> exactly 60 (R03)
    assert at.fit(lq, _collab()).threshold == pytest.approx(60.0)
    assert "R03" in at.fit(lq, _collab()).cluster_codes
    strict = ClusterIdentification(percentile=100 * 8 / 11, inclusive=False)
    assert "R03" not in strict.fit(lq, _collab()).cluster_codes


def test_bad_counts_are_named():
    bad = _apps()
    bad.loc[0, "ai_apps"] = 1e6
    with pytest.raises(ValueError, match="region R01 year 2011"):
        location_quotients(bad, 2011, 2012)
    with pytest.raises(ValueError, match="threshold_measure"):
        ClusterIdentification(measure="median")
