"""Study 1's cluster-year panel on hand-made inputs: fractional counting with exclusions
and unresolved applicants, organ matching with provincial sums, the unbalanced NC
panel, centring and the log rule, each checked against values computed by hand."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from panels_handmade import p, policies, silver
from patentpanel.panels.cluster_year import ClusterYearPanel, cluster_nc, fractional_counts, fractional_ti
from patentpanel.panels.inputs import policy_counts, read_regions, resolve_policies
from patentpanel.panels.transforms import PanelInputError

CONF = Path(__file__).resolve().parents[2] / "conf"
NJ, SZ, BJ, HZ, JL, CC = "320100", "320500", "110000", "330100", "220200", "220100"


@pytest.fixture(scope="module")
def regions():
    return read_regions(CONF / "geo/regions_2020.csv")


@pytest.fixture(scope="module")
def silver_rows(spark):
    rows = [
        p("P1", [NJ, NJ, BJ]),                               # 2/3 Nanjing, 1/3 Beijing
        p("P2", [HZ]),                                       # 1 Hangzhou
        p("P3", [NJ, NJ], indiv=True),                       # individual applicant: excluded
        p("P4", [BJ, None], mainland=False),                 # foreign co-applicant: excluded
        p("P5", [NJ], ai_ipc=False, ai=True),                # AI by keywords only: not study 1's AI
        p("P6", [NJ], ptype="utility"),                      # not an invention
        p("P7", [SZ, None]),                                 # unresolved co-applicant
        p("P8", [BJ, HZ], year=2019),
        p("P9", [NJ], year=2009),                            # outside the window
    ]
    return silver(spark, rows)


_COUNTS: dict = {}


def _ti(silver_rows, rule):
    if rule not in _COUNTS:              # one Spark job per rule for the whole module
        pats, apps, ai = silver_rows
        c = fractional_counts(pats, apps, ai, ai_flag="is_ai_ipc", years=(2011, 2020), unresolved_share=rule)
        _COUNTS[rule] = c.toPandas()
    return fractional_ti(_COUNTS[rule].copy())


def test_fractional_counting_drop(silver_rows):
    ti, info = _ti(silver_rows, "drop")
    got = {(r.city_code, r.year): r.ti_count for r in ti.itertuples()}
    assert got.keys() == {(NJ, 2015), (BJ, 2015), (HZ, 2015), (SZ, 2015), (BJ, 2019), (HZ, 2019)}
    assert got[(NJ, 2015)] == pytest.approx(2 / 3, abs=1e-15)
    assert got[(BJ, 2015)] == pytest.approx(1 / 3, abs=1e-15)
    assert got[(HZ, 2015)] == 1.0 and got[(SZ, 2015)] == 0.5
    assert got[(BJ, 2019)] == 0.5 and got[(HZ, 2019)] == 0.5
    assert info == {"unresolved_share_lost": 0.5, "unresolved_applicant_rows": 1}
    # the counted patents sum to their number minus the lost share: 4 patents, 0.5 lost
    assert sum(got.values()) == pytest.approx(3.5, abs=1e-14)


def test_fractional_counting_redistribute(silver_rows):
    ti, info = _ti(silver_rows, "redistribute")
    got = {(r.city_code, r.year): r.ti_count for r in ti.itertuples()}
    assert got[(SZ, 2015)] == 1.0 and info["unresolved_applicant_rows"] == 0
    assert sum(got.values()) == pytest.approx(4.0, abs=1e-14)
    with pytest.raises(PanelInputError, match="unresolved_share"):
        _ti(silver_rows, "ignore")


def _policy_rows():
    return policies([
        ("D1", "江苏省人民政府", "2015-03-01", "province", "320000", ""),
        ("D2", "江苏省科学技术厅", "2015-07-01", "province", "320000", ""),
        ("D3", "南京市人民政府", "2015-05-01", "city", "320000", NJ),
        ("D4", "北京市人民政府办公厅", "2015-06-01", "province", "110000", BJ),   # municipality: its own
        ("D5", "某开发区管委会", "2015-01-09", "province", "330000", ""),        # organ unknown: codes
        ("D6", "吉林省人民政府", "2015-02-02", "province", "220000", ""),        # not 吉林市
        ("D7", "吉林市人民政府", "2015-02-03", "city", "220000", JL),
        ("D8", "不明机关", "2015-02-03", None, None, None),                      # unmatched
        ("D9", "南京市人民政府", "not a date", "city", "320000", NJ),
        ("D10", "江苏省人民政府", "2016-01-01", "province", "320000", ""),
    ])


def test_policies_matched_by_organ_and_summed_down(regions):
    ok, rejected = resolve_policies(_policy_rows(), regions, "organ")
    assert sorted(zip(rejected["doc_id"], rejected["reason"])) == [("D8", "unmatched_organ"),
                                                                   ("D9", "bad_issue_date")]
    m = ok.set_index("doc_id")
    assert (m.loc["D4", "target_kind"], m.loc["D4", "target_code"]) == ("city", BJ)
    assert (m.loc["D6", "target_kind"], m.loc["D6", "target_code"]) == ("province", "220000")
    assert m.loc["D5", "matched_by"] == "codes" and m.loc["D1", "matched_by"] == "organ"
    ip = policy_counts(ok, regions, [2015, 2016]).set_index(["city_code", "year"])
    want = {NJ: (1, 2), SZ: (0, 2), BJ: (1, 0), HZ: (0, 1), JL: (1, 1), CC: (0, 1), "120000": (0, 0),
            "320200": (0, 2)}                        # Wuxi: Jiangsu's documents only
    for code, (own, prov) in want.items():
        r = ip.loc[(code, 2015)]
        assert (r["ip_city"], r["ip_province"], r["ip_count"]) == (own, prov, own + prov), code
    assert ip.loc[(NJ, 2016), "ip_count"] == 1 and ip.loc[(BJ, 2016), "ip_count"] == 0
    # every Jiangsu prefecture gets both provincial documents of 2015
    js = regions.loc[regions["province_adcode"] == "320000", "adcode"]
    assert (ip.loc[[(c, 2015) for c in js], "ip_province"] == 2).all() and len(js) == 13


def test_policies_by_codes_only(regions):
    ok, rejected = resolve_policies(_policy_rows(), regions, "codes")
    assert sorted(rejected["doc_id"]) == ["D8", "D9"]
    assert ok.set_index("doc_id").loc["D4", "target_kind"] == "city"


def test_nc_panel_keeps_cluster_nodes_only():
    cent = pd.DataFrame({"city_code": [BJ, NJ, SZ, BJ, HZ], "app_year": [2012, 2012, 2012, 2013, 2013],
                         "nc": [30.0, 5.0, 2.0, 31.0, 4.0]})
    nc = cluster_nc(cent, [BJ, NJ, HZ], (2011, 2020))
    assert sorted(zip(nc["city_code"], nc["year"])) == sorted([(BJ, 2012), (BJ, 2013), (HZ, 2013), (NJ, 2012)])
    with pytest.raises(PanelInputError, match="several rows"):
        cluster_nc(pd.concat([cent, cent.head(1)]), [BJ], (2011, 2020))


def _yearbook(clusters, years, gap=None):
    rows = []
    for i, c in enumerate(clusters):
        for y in years:
            rows.append({"adcode": c, "year": y, "gdp_per_capita": 50000.0 + 1000 * i + 10 * y,
                         "road_area_per_capita": 10.0 + i + 0.1 * (y - 2011),
                         "st_expenditure": 1e5 * (i + 1) + 7 * y})
    yb = pd.DataFrame(rows)
    if gap:
        yb.loc[(yb["adcode"] == gap[0]) & (yb["year"] == gap[1]), "gdp_per_capita"] = np.nan
    return yb


def test_cluster_panel_unbalanced_nc_logs_and_centring(silver_rows, regions):
    clusters = [BJ, NJ, HZ]
    ti, _ = _ti(silver_rows, "drop")
    ok, _ = resolve_policies(_policy_rows(), regions, "organ")
    ip = policy_counts(ok, regions, range(2011, 2021))
    cent = pd.DataFrame({"city_code": [BJ, NJ, HZ] * 3 + [BJ, HZ],
                         "year": [2012] * 3 + [2015] * 3 + [2019] * 3 + [2013, 2013],
                         "nc": [30.0, 5.0, 4.0, 32.0, 6.0, 3.5, 35.0, 7.0, 3.0, 31.0, 2.0]})
    nc = cluster_nc(cent, clusters, (2011, 2020))
    yb = _yearbook(clusters, range(2011, 2021), gap=(HZ, 2017))
    panel = ClusterYearPanel(window=(2011, 2020), centre_years=(2012, 2020)).build(ti, clusters, regions, ip, nc, yb)
    f = panel.frame.set_index(["city_code", "year"])
    assert len(f) == 29 and (HZ, 2017) not in f.index             # the missing control row dropped
    assert panel.metadata["missing_controls"] == {"method": "drop", "dropped_rows": 1, "imputed_rows": 0}
    # unbalanced NC: present only where the cluster was in that year's network
    assert set(f.index[f["nc_raw"].notna()]) == {(BJ, 2012), (NJ, 2012), (HZ, 2012), (BJ, 2015), (NJ, 2015),
                                                 (HZ, 2015), (BJ, 2019), (NJ, 2019), (HZ, 2019), (BJ, 2013),
                                                 (HZ, 2013)}
    assert panel.metadata["nc_missing_rows"] == 29 - 11
    # raw values and the log rule: ti and ip have zeros -> log(x+1); nc and controls -> log(x)
    assert sorted(panel.metadata["log_plus_one"]) == ["ip", "ti"]
    assert f.loc[(NJ, 2015), "ti_count"] == pytest.approx(2 / 3, abs=1e-15)
    assert f.loc[(NJ, 2015), "ti"] == pytest.approx(math.log(1 + 2 / 3), abs=1e-15)
    assert f.loc[(NJ, 2015), "ip_count"] == 3 and f.loc[(NJ, 2015), "ip"] == pytest.approx(math.log(4), abs=1e-15)
    assert f.loc[(BJ, 2012), "nc"] == pytest.approx(math.log(30.0), abs=1e-15)
    assert f.loc[(BJ, 2014), "ed_raw"] == 50000.0 + 20140 and f.loc[(BJ, 2014), "ed"] == math.log(70140.0)
    # centring: means over 2012-2020 rows with both ip and nc (all 11 NC rows are in range)
    both = f[f["nc"].notna()]
    m_ip, m_nc = both["ip"].mean(), both["nc"].mean()
    assert panel.metadata["centre"]["ip_mean"] == pytest.approx(m_ip, abs=1e-15)
    exp = (f["ip"] - m_ip) * (f["nc"] - m_nc)
    np.testing.assert_allclose(f["ip_x_nc"].to_numpy(), exp.to_numpy(), rtol=0, atol=1e-15)
    assert f["ip_x_nc"].isna().sum() == 29 - 11
    assert f.loc[(BJ, 2015), "city_name"] == "北京市" and f.loc[(BJ, 2015), "city_name_en"] == "Beijing"


def test_cluster_panel_centring_excludes_years_outside_the_sample(silver_rows, regions):
    clusters = [BJ, NJ]
    ti, _ = _ti(silver_rows, "drop")
    ok, _ = resolve_policies(_policy_rows(), regions, "organ")
    ip = policy_counts(ok, regions, range(2011, 2021))
    nc = pd.DataFrame({"city_code": [BJ, NJ, BJ, NJ], "year": [2011, 2011, 2015, 2015], "nc_raw": [9.0, 1.0, 3.0, 2.0]})
    yb = _yearbook(clusters, range(2011, 2021))
    panel = ClusterYearPanel(window=(2011, 2020), centre_years=(2012, 2020)).build(ti, clusters, regions, ip, nc, yb)
    f = panel.frame.set_index(["city_code", "year"])
    m_nc = (math.log(3.0) + math.log(2.0)) / 2                   # 2011 rows are outside the centring years
    assert panel.metadata["centre"]["nc_mean"] == pytest.approx(m_nc, abs=1e-15)
    assert f.loc[(BJ, 2011), "ip_x_nc"] == pytest.approx(
        (f.loc[(BJ, 2011), "ip"] - panel.metadata["centre"]["ip_mean"]) * (math.log(9.0) - m_nc), abs=1e-15)


def test_cluster_panel_rejects_unknown_cluster(regions):
    with pytest.raises(PanelInputError, match="not in the gazetteer"):
        ClusterYearPanel().build(pd.DataFrame(columns=["city_code", "year", "ti_count"]), ["999999"], regions,
                                 None, None, None)
