"""Two-way FE against statsmodels OLS with explicit city and year dummies and a hand-coded
cluster sandwich (CR1 with each convention's factor); tolerance 1e-10 relative."""
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from patentpanel.config import load_config
from patentpanel.econ.fe import (PanelDataError, SingularDesignError, TwoWayFE, apply_sample,
                                 build_terms, expand_specs, run_models, small_sample_factor)


def make_panel(seed=1, n_cities=15, n_years=8, drop=0.1):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([(g, t) for g in range(n_cities) for t in range(2010, 2010 + n_years)],
                      columns=["city", "year"])
    if drop:
        df = df.sample(frac=1 - drop, random_state=seed).sort_values(["city", "year"]).reset_index(drop=True)
    n = len(df)
    df["x1"] = rng.normal(size=n)
    df["x2"] = rng.normal(size=n) + 0.1 * (df.year - 2010) + 0.3 * df.city
    df["coastal"] = (df.city % 3 == 0).astype(float)
    df["pop"] = rng.normal(size=n) + df.city
    df["y"] = 1 + 0.5 * df.x1 - 0.3 * df.x2 + 0.2 * df.city + 0.05 * df.year + rng.normal(size=n)
    return df


def lsdv_reference(df, exog):
    """OLS on explicit dummies; raw cluster sandwich for the slopes."""
    x = pd.concat([df[exog], pd.get_dummies(df.city, prefix="c", drop_first=True, dtype=float),
                   pd.get_dummies(df.year, prefix="y", drop_first=True, dtype=float)], axis=1)
    x = sm.add_constant(x)
    ols = sm.OLS(df.y, x).fit()
    xv, e = x.to_numpy(), ols.resid.to_numpy()
    bread = np.linalg.inv(xv.T @ xv)
    meat = np.zeros_like(bread)
    for g in df.city.unique():
        s = xv[df.city.to_numpy() == g].T @ e[df.city.to_numpy() == g]
        meat += np.outer(s, s)
    raw = bread @ meat @ bread
    idx = [x.columns.get_loc(c) for c in exog]
    return ols, raw[np.ix_(idx, idx)], x.shape[1]


@pytest.mark.parametrize("convention", ["xtreg", "reghdfe", "lsdv", "none"])
def test_matches_dummy_ols_and_hand_sandwich(convention):
    df = make_panel()
    exog = ["x1", "x2"]
    res = TwoWayFE(df, "y", exog, entity="city", time="year").fit(convention)
    ols, raw, k_lsdv = lsdv_reference(df, exog)
    np.testing.assert_allclose(res.params[exog], ols.params[exog], rtol=1e-10)
    n, g, t = len(df), df.city.nunique(), df.year.nunique()
    k_count = {"xtreg": 2 + (t - 1) + 1,        # slopes + year dummies + constant
               "reghdfe": 2 + (t - 1),          # slopes + year levels less 1 redundant
               "lsdv": k_lsdv}[convention] if convention != "none" else None
    q = 1.0 if convention == "none" else g / (g - 1) * (n - 1) / (n - k_count)
    np.testing.assert_allclose(res.std_errors[exog], np.sqrt(np.diag(raw) * q), rtol=1e-10)
    # R² including the effects is the dummy regression's
    assert res.model_info["rsquared"] == pytest.approx(ols.rsquared, rel=1e-10)
    # reghdfe's constant: mean(y) - mean(X) b
    assert res.params["const"] == pytest.approx(df.y.mean() - df[exog].mean() @ res.params[exog], rel=1e-9)
    assert res.df == g - 1


def test_lsdv_convention_equals_linearmodels_default():
    """linearmodels' debiased + group_debias with two-way effects is the lsdv convention."""
    from linearmodels import PanelOLS
    df = make_panel(seed=4)
    idx = df.set_index(["city", "year"])
    lm = PanelOLS(idx.y, idx[["x1", "x2"]].assign(const=1.0), entity_effects=True,
                  time_effects=True).fit(cov_type="clustered", cluster_entity=True,
                                         debiased=True, group_debias=True)
    res = TwoWayFE(df, "y", ["x1", "x2"], entity="city", time="year").fit("lsdv")
    np.testing.assert_allclose(res.std_errors[["x1", "x2"]], lm.std_errors[["x1", "x2"]], rtol=1e-10)


def test_reghdfe_vs_xtreg_ratio():
    df = make_panel(drop=0)
    a = TwoWayFE(df, "y", ["x1", "x2"], entity="city", time="year").fit("xtreg")
    b = TwoWayFE(df, "y", ["x1", "x2"], entity="city", time="year").fit("reghdfe")
    n, t, k = len(df), df.year.nunique(), 2
    ratio = np.sqrt((n - k - t) / (n - k - t + 1))
    np.testing.assert_allclose(b.std_errors[["x1", "x2"]] / a.std_errors[["x1", "x2"]], ratio, rtol=1e-12)


def test_small_sample_factor_values():
    # N=100, G=10, k=2, T=10: xtreg K=2+9+1=12; reghdfe K=2+9=11; lsdv K=2+10+10-1=21
    kw = dict(nobs=100, n_clusters=10, k=2, n_entities=10, n_periods=10)
    assert small_sample_factor("xtreg", **kw) == pytest.approx(10 / 9 * 99 / 88)
    assert small_sample_factor("reghdfe", **kw) == pytest.approx(10 / 9 * 99 / 89)
    assert small_sample_factor("lsdv", **kw) == pytest.approx(10 / 9 * 99 / 79)
    with pytest.raises(ValueError, match="not nested"):
        small_sample_factor("xtreg", entity_nested=False, **kw)
    with pytest.raises(ValueError, match="small_sample"):
        small_sample_factor("stata", **kw)


def test_terms_lags_leads_products_and_gaps():
    df = pd.DataFrame({"city": [1, 1, 1, 2, 2], "year": [2010, 2011, 2013, 2010, 2011],
                       "a": [1., 2., 3., 4., 5.], "b": [2., 2., 2., 3., 3.]})
    t = build_terms(df, ["L1.a", "F1.a", "a:b", "L1.a:b"], entity="city", time="year")
    np.testing.assert_array_equal(t["L1.a"].to_numpy(), [np.nan, 1, np.nan, np.nan, 4])  # 2012 missing -> gap
    np.testing.assert_array_equal(t["F1.a"].to_numpy(), [2, np.nan, np.nan, 5, np.nan])
    np.testing.assert_array_equal(t["a:b"].to_numpy(), [2, 4, 6, 12, 15])
    with pytest.raises(PanelDataError, match="'zz'"):
        build_terms(df, ["zz"], entity="city", time="year")
    with pytest.raises(ValueError, match="not a variable"):
        build_terms(df, ["L.a"], entity="city", time="year")


def test_sample_exclusions():
    df = make_panel(drop=0)
    df["is_muni"] = df.city.isin([0, 1])
    out = apply_sample(df, {"exclude_if": ["is_muni"], "exclude_largest": {"by": "pop", "n": 2},
                            "years": [2011, 2014]}, entity="city", time="year")
    assert set(out.city) == set(range(2, 13))  # cities 13, 14 have the largest pop
    assert out.year.between(2011, 2014).all()
    with pytest.raises(ValueError, match="unknown"):
        apply_sample(df, {"drop": 1}, entity="city", time="year")


def test_bad_input():
    df = make_panel()
    with pytest.raises(PanelDataError, match="'nope'"):
        TwoWayFE(df, "y", ["nope"], entity="city", time="year")
    bad = df.assign(x1=df.x1.astype(str).where(df.index != 3, "n/a"))
    with pytest.raises(PanelDataError, match="'x1' must be numeric"):
        TwoWayFE(bad, "y", ["x1"], entity="city", time="year")
    dup = pd.concat([df, df.iloc[[0]]])
    with pytest.raises(PanelDataError, match="share an"):
        TwoWayFE(dup, "y", ["x1"], entity="city", time="year")
    with pytest.raises(SingularDesignError, match="'coastal' is absorbed"):
        TwoWayFE(df, "y", ["x1", "coastal"], entity="city", time="year")
    with pytest.raises(SingularDesignError, match="collinear"):
        TwoWayFE(df.assign(x3=2 * df.x1 - df.x2), "y", ["x1", "x2", "x3"], entity="city", time="year")


def test_heterogeneity_interaction_identified_and_missing_rows_dropped():
    df = make_panel()
    df["coastal_x1"] = df.coastal * df.x1
    df.loc[5, "x1"] = np.nan
    res = TwoWayFE(df, "y", ["coastal_x1", "x1"], entity="city", time="year").fit()
    assert res.nobs == len(df) - 1


def test_config_models_expand_and_run():
    cfg = load_config()
    fe = cfg.get("estimate.fe")
    specs = expand_specs(fe["models"])
    names = [s["name"] for s in specs]
    assert {"t5_m1", "t5_m8", "t6_l3_gpt", "t8_cityscale_ft", "rob_no_largest", "placebo_pre_ct"} <= set(names)
    # run the Table 5 models on a synthetic panel with the configured columns
    rng = np.random.default_rng(0)
    panel = pd.DataFrame([(c, y) for c in range(20) for y in range(2010, 2022)], columns=["city_code", "year"])
    for c in ["innovation", "ft", "ct", "gpt"] + fe["controls"]:
        panel[c] = rng.normal(size=len(panel))
    res = run_models(panel, fe, entity="city_code", time="year", only=["t5_m1", "t5_m8"])
    assert list(res) == ["t5_m1", "t5_m8"]
    assert "ft:ct:gpt" in res["t5_m8"].params.index and res["t5_m8"].nobs == 240
    with pytest.raises(ValueError, match="unique"):
        expand_specs([{"name": "a", "terms": ["x"]}, {"name": "a", "terms": ["y"]}])
