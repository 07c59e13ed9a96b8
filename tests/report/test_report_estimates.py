"""What gold.estimates carries for the figures and tables: the coefficient covariance
(Fig 4's delta-method band against a hand computation from the stored JSON) and the 2SLS
first stage (against an independent least-squares fit with the fixed effects as dummies,
and the cluster sandwich from statsmodels), rendered in Table 7's first-stage columns."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from patentpanel.econ.gmm import GMMSpec
from patentpanel.econ.iv import run_iv_models
from patentpanel.econ.job import ESTIMATE_COLUMNS, result_rows
from patentpanel.report import figures as F
from patentpanel.report.tables import ModelColumn, RegressionLayout, regression_table

from report_fixtures import city120_year, cluster_year


@pytest.fixture(scope="module")
def gmm3(cfg):
    data = cluster_year(cfg, 21)
    spec = GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"), "model3")
    res = spec.fit(data)
    rows = pd.DataFrame(result_rows("study1", "Table 4", "model3", res), columns=ESTIMATE_COLUMNS)
    return data, res, rows


def test_covariance_is_stored_and_round_trips(gmm3):
    _, res, rows = gmm3
    stats_json = json.loads(rows["stats"].iloc[0])
    cov = stats_json["cov"]
    assert cov["names"] == [str(t) for t in res.params.index]
    np.testing.assert_array_equal(np.asarray(cov["matrix"], float), res.cov.to_numpy(float))  # JSON repr is exact
    col = ModelColumn.from_estimates(rows, "model3")
    # the stored SEs are the square roots of the stored diagonal
    np.testing.assert_allclose(np.sqrt(np.diag(col.cov.loc[col.se.index, col.se.index])), col.se, rtol=1e-15)


def test_fig4_band_equals_hand_delta_method_from_stored_cov(gmm3):
    data, _, rows = gmm3
    raw = json.loads(rows["stats"].iloc[0])["cov"]
    i, j = raw["names"].index("ip"), raw["names"].index("ip_x_nc")
    vxx, vjj, vxj = raw["matrix"][i][i], raw["matrix"][j][j], raw["matrix"][i][j]
    b = rows.set_index("term")["coef"]
    cz = float(data["nc"].mean())
    z0 = float(data["nc"].quantile(0.9))
    d = z0 - cz
    se_hand = (vxx + d * d * vjj + 2 * d * vxj) ** 0.5
    me_hand = b["ip"] + b["ip_x_nc"] * d
    crit = stats.norm.ppf(0.975)
    col = ModelColumn.from_estimates(rows, "model3")
    got = F.marginal_effect(col.params, col.cov, [z0], x="ip", xz="ip_x_nc", centre_z=cz, level=0.95).iloc[0]
    assert got["effect"] == pytest.approx(me_hand, rel=1e-13)
    assert got["se"] == pytest.approx(se_hand, rel=1e-12)
    assert got["lower"] == pytest.approx(me_hand - crit * se_hand, rel=1e-12)
    assert got["upper"] == pytest.approx(me_hand + crit * se_hand, rel=1e-12)
    # at the centre the band is the IP coefficient's own interval
    at_c = F.marginal_effect(col.params, col.cov, [cz], centre_z=cz).iloc[0]
    assert at_c["se"] == pytest.approx(col.se["ip"], rel=1e-12)
    with pytest.raises(F.FigureError, match="ip_x_nc"):
        F.marginal_effect(col.params.drop("ip_x_nc"), col.cov, [z0], centre_z=cz)


@pytest.fixture(scope="module")
def iv_ft(cfg):
    panel = city120_year(23, 30)
    est = cfg.section("estimate")
    spec = est["iv"]["models"][0]
    res = run_iv_models(panel, {**est["iv"], "models": [spec]}, est["fe"])[spec["name"]]
    rows = pd.DataFrame(result_rows("study2", "Table 7", spec["name"], res), columns=ESTIMATE_COLUMNS)
    return panel, est, spec, rows


def test_first_stage_equals_independent_ols_with_dummies(iv_ft):
    import statsmodels.api as sm
    panel, est, spec, rows = iv_ft
    fs = json.loads(rows["stats"].iloc[0])["first_stage"]
    endog, hist = spec["endog"][0], spec["historical"][0]
    inst = f"{hist}_x_s"
    assert set(fs) == {endog} and set(fs[endog]["params"]) == {inst}
    # The instrument by hand: hist_i x (mean of the tier over the other cities in t-1).
    d = panel.sort_values(["city_code", "year"]).copy()
    tot = d.groupby("year")[endog].transform("sum")
    cnt = d.groupby("year")[endog].transform("count")
    loo = (tot - d[endog]) / (cnt - 1)
    by_year = dict(zip(zip(d["city_code"], d["year"]), loo))
    d[inst] = d[hist] * [by_year.get((c, y - 1), np.nan) for c, y in zip(d["city_code"], d["year"])]
    controls = list(est["fe"]["controls"])
    d = d.dropna(subset=[inst, endog, est["fe"]["dependent"], *controls])
    X = pd.concat([d[[inst, *controls]],
                   pd.get_dummies(d["city_code"], drop_first=True, dtype=float),
                   pd.get_dummies(d["year"], prefix="y", drop_first=True, dtype=float)], axis=1)
    X.insert(0, "const", 1.0)
    Xa, ya = X.to_numpy(float), d[endog].to_numpy(float)
    coef = np.linalg.lstsq(Xa, ya, rcond=None)[0]
    assert fs[endog]["params"][inst] == pytest.approx(coef[1], rel=1e-9)
    # SE: statsmodels' raw cluster sandwich (FWL: the block of the instrument equals the
    # partialled one) times xtreg's factor G/(G-1) (N-1)/(N-K), K = slopes + T.
    ols = sm.OLS(ya, Xa).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(d["city_code"])[0],
                                                               "use_correction": False})
    n, g, t = len(d), d["city_code"].nunique(), d["year"].nunique()
    q = g / (g - 1) * (n - 1) / (n - (1 + len(controls) + t))
    se = float(np.sqrt(ols.cov_params()[1, 1] * q))
    assert fs[endog]["std_errors"][inst] == pytest.approx(se, rel=1e-8)
    # one excluded instrument: F is the squared clustered t
    assert fs[endog]["f_stat"] == pytest.approx((coef[1] / se) ** 2, rel=1e-8)
    # partial R²: of the instrument after partialling controls and effects
    resid_r = sm.OLS(ya, np.delete(Xa, 1, axis=1)).fit().resid
    resid_u = sm.OLS(ya, Xa).fit().resid
    assert fs[endog]["partial_r2"] == pytest.approx(1 - resid_u @ resid_u / (resid_r @ resid_r), rel=1e-8)


def test_table7_shows_the_first_stage(cfg, iv_ft):
    _, _, spec, rows = iv_ft
    fs = json.loads(rows["stats"].iloc[0])["first_stage"]["ft"]
    lay = RegressionLayout.from_config("s2_table7", cfg.section("report")["tables"]["s2_table7"])
    t = regression_table(lay, {spec["name"]: ModelColumn.from_estimates(rows, spec["name"])},
                         labels=cfg.section("report")["labels"])
    label = cfg.section("report")["labels"]["post_offices_1984_x_s"]
    b, s = fs["params"]["post_offices_1984_x_s"], fs["std_errors"]["post_offices_1984_x_s"]
    assert t.header[1][:2] == ["First", "Second"]
    txt = t.cell_text(label, 0).rstrip("*")
    decimals = len(txt.split(".")[1])
    assert abs(float(txt) - b) <= 0.5 * 10 ** -decimals
    assert decimals >= 3 and len(txt.lstrip("-0.")) >= 3        # three significant digits, never 0.000
    paren = next(r for r in t.rows if r.label == label and r.kind == "paren")
    assert paren.cells[0].text == f"({s:.{decimals}f})"      # Table 7 puts SEs in parentheses, same decimals
    assert t.cell_text("First-stage F", 0) == f"{fs['f_stat']:.2f}"
    assert t.cell_text(label, 1) == ""                   # the instrument is not a second-stage regressor
    assert t.cell_text("FTs", 1) != "" and t.cell_text("FTs", 0) == ""
    assert not any("not stored" in n for n in t.notes)
