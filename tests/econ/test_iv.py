"""FE-2SLS against the 2SLS matrix formula on an explicit-dummy design and against
linearmodels; weak-instrument statistics against their closed forms. Tolerances 1e-9
relative unless stated."""
import numpy as np
import pandas as pd
import pytest
from linearmodels.iv import IV2SLS, IVGMM

from patentpanel.econ.fe import PanelDataError, SingularDesignError, absorb_two_way
from patentpanel.econ.iv import FEIV2SLS, cragg_donald, kleibergen_paap_rk, nunn_qian_instrument


def make_panel(seed=2, n_cities=30, n_years=8):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([(g, t) for g in range(n_cities) for t in range(2010, 2010 + n_years)],
                      columns=["city", "year"])
    df = df.drop(index=[3, 40, 41]).reset_index(drop=True)  # unbalanced
    n = len(df)
    cz = rng.normal(size=n_cities)[df.city]
    df["z1"] = rng.normal(size=n) + cz * rng.normal(size=n)
    df["z2"] = rng.normal(size=n)
    df["w"] = rng.normal(size=n)
    e = rng.normal(size=n) * (1 + 0.5 * np.abs(cz))
    df["x"] = 0.5 * df.z1 + 0.3 * df.z2 + 0.2 * df.w + 0.5 * e + rng.normal(size=n)
    df["y"] = 1.0 * df.x - 0.5 * df.w + e + 0.1 * df.city + 0.02 * df.year
    return df


def dummies(df):
    return pd.concat([pd.get_dummies(df.city, prefix="c", dtype=float),
                      pd.get_dummies(df.year, prefix="y", drop_first=True, dtype=float)], axis=1)


def cluster_sandwich(xh, u, groups):
    bread = np.linalg.inv(xh.T @ xh)
    meat = np.zeros_like(bread)
    for g in np.unique(groups):
        s = xh[groups == g].T @ u[groups == g]
        meat += np.outer(s, s)
    return bread @ meat @ bread


@pytest.mark.parametrize("instruments", [["z1"], ["z1", "z2"]])
def test_2sls_matches_matrix_formula_with_dummies(instruments):
    df = make_panel()
    res = FEIV2SLS(df, "y", ["w"], ["x"], instruments, entity="city", time="year").fit("xtreg")
    d = dummies(df)
    x = np.column_stack([df[["x", "w"]].to_numpy(), d.to_numpy()])
    z = np.column_stack([df[instruments + ["w"]].to_numpy(), d.to_numpy()])
    pz_x = z @ np.linalg.lstsq(z, x, rcond=None)[0]
    beta = np.linalg.solve(pz_x.T @ x, pz_x.T @ df.y.to_numpy())
    u = df.y.to_numpy() - x @ beta
    raw = cluster_sandwich(pz_x, u, df.city.to_numpy())
    n, g, t = len(df), df.city.nunique(), df.year.nunique()
    q = g / (g - 1) * (n - 1) / (n - (2 + t))  # xtreg: 2 slopes + (T-1) year dummies + constant
    np.testing.assert_allclose(res.params[["x", "w"]], beta[:2], rtol=1e-9)
    np.testing.assert_allclose(res.std_errors[["x", "w"]], np.sqrt(np.diag(raw)[:2] * q), rtol=1e-8)
    # and linearmodels on the same dummy design
    lm = IV2SLS(df.y, pd.concat([df[["w"]], d], axis=1), df[["x"]], df[instruments]).fit()
    np.testing.assert_allclose(res.params[["x", "w"]], lm.params[["x", "w"]], rtol=1e-9)


def test_first_stage_and_kp_one_instrument_equal_squared_clustered_t():
    df = make_panel()
    res = FEIV2SLS(df, "y", ["w"], ["x"], ["z1"], entity="city", time="year").fit("xtreg")
    d = dummies(df)
    xf = np.column_stack([df[["z1", "w"]].to_numpy(), d.to_numpy()])
    coef = np.linalg.lstsq(xf, df.x.to_numpy(), rcond=None)[0]
    e = df.x.to_numpy() - xf @ coef
    raw = cluster_sandwich(xf, e, df.city.to_numpy())
    n, g, t = len(df), df.city.nunique(), df.year.nunique()
    q = g / (g - 1) * (n - 1) / (n - (2 + t))  # z1, w, T-1 year dummies, constant
    t2 = coef[0] ** 2 / (raw[0, 0] * q)
    fs = res.extra["first_stage"]["x"]
    assert fs["f_stat"] == pytest.approx(t2, rel=1e-8)
    assert res.model_info["kleibergen_paap_f"] == pytest.approx(t2, rel=1e-8)
    # homoskedastic: Cragg-Donald F = first-stage t² with s² = RSS/(N - K_lsdv)
    k_lsdv = xf.shape[1]
    s2 = e @ e / (n - k_lsdv)
    t2_homo = coef[0] ** 2 / (s2 * np.linalg.inv(xf.T @ xf)[0, 0])
    assert res.model_info["cragg_donald_f"] == pytest.approx(t2_homo, rel=1e-8)


@pytest.mark.parametrize("cols", [["x"], ["x", "w"]])
def test_kp_homoskedastic_equals_cragg_donald(cols):
    df = make_panel(seed=5)
    data = absorb_two_way(df[cols + ["z1", "z2"]].to_numpy(), df.city.to_numpy(), df.year.to_numpy())
    x, z = data[:, :len(cols)], data[:, len(cols):]
    assert kleibergen_paap_rk(x, z, None) == pytest.approx(len(df) * cragg_donald(x, z), rel=1e-9)
    # CD by its canonical-correlation definition (K1 = 1): rho²/(1-rho²)
    if len(cols) == 1:
        pz = z @ np.linalg.lstsq(z, x, rcond=None)[0]
        rho2 = ((pz.T @ pz) / (x.T @ x)).item()
        assert cragg_donald(x, z) == pytest.approx(rho2 / (1 - rho2), rel=1e-9)


def test_overidentification_sargan_and_hansen_match_linearmodels():
    df = make_panel()
    m = FEIV2SLS(df, "y", ["w"], ["x"], ["z1", "z2"], entity="city", time="year")
    res = m.fit()
    w = m._w
    cl = pd.factorize(df.city)[0]
    sargan = IV2SLS(w.y, w[["w"]], w[["x"]], w[["z1", "z2"]]).fit().sargan.stat
    j = IVGMM(w.y, w[["w"]], w[["x"]], w[["z1", "z2"]], weight_type="clustered", clusters=cl,
              center=False).fit(iter_limit=2).j_stat.stat
    assert res.model_info["sargan"] == pytest.approx(sargan, rel=1e-9)
    assert res.model_info["hansen_j"] == pytest.approx(j, rel=1e-9)
    assert res.model_info["overid_df"] == 1
    just = FEIV2SLS(df, "y", ["w"], ["x"], ["z1"], entity="city", time="year").fit()
    assert "hansen_j" not in just.model_info


def test_nunn_qian_construction():
    p = pd.DataFrame({"city": [1, 1, 1, 2, 2, 2, 3, 3, 3], "year": [2010, 2011, 2012] * 3,
                      "hist": [2., 2., 2., 5., 5., 5., 1., 1., 1.],
                      "ft": [1., 2., 3., 4., 5., 6., 7., 8., 9.],
                      "nat": [10., 20., 30.] * 3})
    z, note = nunn_qian_instrument(p, "hist", entity="city", time="year", kind="column", column="nat", lag=1)
    np.testing.assert_array_equal(z.to_numpy(), [np.nan, 20, 40, np.nan, 50, 100, np.nan, 10, 20])
    assert "Nunn-Qian" in note and "t-1" in note
    z, _ = nunn_qian_instrument(p, "hist", entity="city", time="year", endog="ft", lag=1)
    # city 1, 2011: mean of ft over cities 2, 3 in 2010 = (4 + 7)/2 = 5.5, times hist 2
    assert z.iloc[1] == pytest.approx(11.0)
    assert z.iloc[8] == pytest.approx(1 * (2 + 5) / 2)
    with pytest.raises(PanelDataError, match="varies over time"):
        nunn_qian_instrument(p.assign(hist=p.ft), "hist", entity="city", time="year", endog="ft")
    with pytest.raises(PanelDataError, match="national series"):
        nunn_qian_instrument(p, "hist", entity="city", time="year", kind="column", column="ft")


def test_bad_input():
    df = make_panel()
    with pytest.raises(SingularDesignError, match="under-identified"):
        FEIV2SLS(df, "y", ["w"], ["x", "z2"], ["z1"], entity="city", time="year")
    df["hist"] = df.city * 1.0
    with pytest.raises(SingularDesignError, match="'hist' is absorbed"):
        FEIV2SLS(df, "y", ["w"], ["x"], ["hist"], entity="city", time="year")
    with pytest.raises(PanelDataError, match="'zz'"):
        FEIV2SLS(df, "y", ["w"], ["x"], ["zz"], entity="city", time="year")
    with pytest.raises(SingularDesignError, match="instruments are collinear"):
        FEIV2SLS(df.assign(z3=2 * df.z1), "y", ["w"], ["x"], ["z1", "z3"], entity="city", time="year")
    with pytest.raises(ValueError, match="both"):
        FEIV2SLS(df, "y", ["w"], ["x"], ["w"], entity="city", time="year")


def test_run_iv_models_from_config():
    from patentpanel.config import load_config
    from patentpanel.econ.iv import run_iv_models
    cfg = load_config()
    fe, iv = cfg.get("estimate.fe"), cfg.get("estimate.iv")
    rng = np.random.default_rng(7)
    panel = pd.DataFrame([(c, y) for c in range(25) for y in range(2010, 2022)], columns=["city_code", "year"])
    n = len(panel)
    for c in fe["controls"]:
        panel[c] = rng.normal(size=n)
    hist = rng.lognormal(size=25)
    panel["post_offices_1984"] = hist[panel.city_code]
    panel["ft"] = 0.1 * panel.year.sub(2010) * panel.post_offices_1984 + rng.normal(size=n)
    panel["innovation"] = 0.5 * panel.ft + rng.normal(size=n)
    iv = {**iv, "models": [m for m in iv["models"] if m["name"] == "t7_ft"]}
    res = run_iv_models(panel, iv, fe)["t7_ft"]
    assert res.nobs == n - 25  # the lagged national series loses the first year
    assert any("Nunn-Qian" in note for note in res.notes)
    assert res.model_info["kleibergen_paap_f"] > 10
