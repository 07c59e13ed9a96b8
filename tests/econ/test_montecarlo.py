"""Monte Carlo of study 1's dynamic model: metric arithmetic, estimators, DGP, runners."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.panel import PanelOLS

from patentpanel.econ.distributed import SerialRunner, SparkRunner
from patentpanel.econ.gmm import GMMSpec
from patentpanel.econ.montecarlo import (Eq3DGP, EstimatorSpec, MonteCarlo, pooled_ols, summarize,
                                         within_fe)


def test_summary_arithmetic_by_hand():
    draws = pd.DataFrame({
        "estimator": ["A"] * 4 + ["B"] * 4, "term": ["x"] * 8,
        "coef": [1.1, 0.9, 1.3, np.nan, 0.5, 0.7, 0.6, 0.8],
        "se": [0.1, 0.2, 0.1, np.nan, 0.1, 0.1, 0.3, 0.05],
        "crit": [2.0] * 8, "status": ["ok", "ok", "ok", "failed"] + ["ok"] * 4})
    s = summarize(draws, {"x": 1.0}).set_index("estimator")
    # A: errors .1, -.1, .3 -> bias .1, rmse sqrt((.01+.01+.09)/3); covered |e| <= 2 se: .1<=.2, .1<=.4, .3>.2
    assert s.loc["A", "bias"] == pytest.approx(0.1, abs=1e-12)
    assert s.loc["A", "rmse"] == pytest.approx(np.sqrt(0.11 / 3), abs=1e-12)
    assert s.loc["A", "coverage"] == pytest.approx(2 / 3, abs=1e-12)
    assert s.loc["A", "n_ok"] == 3 and s.loc["A", "n_failed"] == 1
    assert s.loc["A", "sd"] == pytest.approx(np.std([1.1, 0.9, 1.3], ddof=1), abs=1e-12)
    # B: errors -.5 -.3 -.4 -.2: bias -.35, rmse sqrt(.54/4); covered: .3<=.6 only (.5>.2, .4<=.2? no, .2>.1)
    assert s.loc["B", "bias"] == pytest.approx(-0.35, abs=1e-12)
    assert s.loc["B", "rmse"] == pytest.approx(np.sqrt(0.54 / 4), abs=1e-12)
    assert s.loc["B", "coverage"] == pytest.approx(1 / 4, abs=1e-12)


@pytest.fixture(scope="module")
def dgp(cfg):
    return Eq3DGP.from_config(cfg)


@pytest.fixture(scope="module")
def base(cfg):
    return GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"), "model3")


def test_ols_and_fe_match_linearmodels(dgp, base):
    d = dgp.simulate(np.random.default_rng(4))
    d["L1.ti"] = d.groupby("city_code")["ti"].shift(1)
    d = d.dropna().set_index(["city_code", "year"])
    d["ip_x_nc"] = np.nan
    full = dgp.simulate(np.random.default_rng(4))
    inter = (full["ip"] - full["ip"].mean()) * (full["nc"] - full["nc"].mean())
    d["ip_x_nc"] = inter.to_numpy()[full.groupby("city_code").cumcount().to_numpy() > 0]
    xs = ["L1.ti", "ip", "nc", "ip_x_nc", "ed", "ic", "ie"]
    b, se, df = pooled_ols(base, dgp.simulate(np.random.default_rng(4)))
    # statsmodels' cluster covariance is Stata's regress, vce(cluster): G/(G-1) (N-1)/(N-K)
    X = d[xs].assign(const=1.0)
    g = pd.factorize(d.index.get_level_values(0))[0]
    ref = sm.OLS(d["ti"], X).fit(cov_type="cluster", cov_kwds={"groups": g})
    np.testing.assert_allclose(b[xs].to_numpy(), ref.params[xs].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(se[xs].to_numpy(), ref.bse[xs].to_numpy(), rtol=1e-9)
    assert df == 29 - 1
    b, se, _ = within_fe(base, dgp.simulate(np.random.default_rng(4)))
    ref = PanelOLS(d["ti"], d[xs], entity_effects=True).fit(cov_type="clustered", cluster_entity=True)
    np.testing.assert_allclose(b[xs].to_numpy(), ref.params[xs].to_numpy(), rtol=1e-9)
    # xtreg, fe, vce(cluster): the same factor with K = k + 1 -- statsmodels on the demeaned
    # data plus a constant (orthogonal to the demeaned regressors) has exactly that K
    dm = d[["ti"] + xs] - d[["ti"] + xs].groupby(level=0).transform("mean")
    ref = sm.OLS(dm["ti"], dm[xs].assign(const=1.0)).fit(cov_type="cluster", cov_kwds={"groups": g})
    np.testing.assert_allclose(se[xs].to_numpy(), ref.bse[xs].to_numpy(), rtol=1e-8)


def test_dgp_plants_eq3(dgp):
    d = dgp.simulate(np.random.default_rng(9))
    assert d["city_code"].nunique() == 29 and sorted(d["year"].unique()) == list(range(2011, 2021))
    co = dgp.coef
    g = d.sort_values(["city_code", "year"])
    lag = g.groupby("city_code")["ti"].shift(1)
    inter = (g["ip"] - g["ip"].mean()) * (g["nc"] - g["nc"].mean())
    resid = (g["ti"] - co["ti_lag"] * lag - co["ip"] * g["ip"] - co["nc"] * g["nc"] - co["ip_x_nc"] * inter
             - co["ed"] * g["ed"] - co["ic"] * g["ic"] - co["ie"] * g["ie"])
    # what is left is eta_i + const + eps_it: within a city its SD is sigma_eps
    within = resid - resid.groupby(g["city_code"]).transform("mean")
    assert within.dropna().std() == pytest.approx(dgp.sigma_eps, rel=0.15)


def test_variant_specs(base):
    e = EstimatorSpec.from_dict({"name": "v", "kind": "gmm", "collapse": True,
                                 "lags": {"L.ti": [1, 2], "ip": [2, 3]}})
    s = e.gmm_spec(base)
    assert [g.collapse for g in s.gmm] == [True, True]
    assert [g.lags for g in s.gmm] == [(1, 2), (2, 3)]
    with pytest.raises(ValueError, match="match no GMM instrument group"):
        EstimatorSpec.from_dict({"name": "w", "kind": "gmm", "lags": {"gs": [2, 3]}}).gmm_spec(base)


def test_runs_identically_on_spark_and_serially(spark, dgp, base, cfg):
    ests = [e for e in cfg.get("estimate.montecarlo.estimators")
            if e["name"] in ("pooled_ols", "fe_within", "sys_gmm_collapse")]
    mc = MonteCarlo(dgp, base, ests, replications=4, seed=17)
    a = mc.run(SerialRunner())
    b = mc.run(SparkRunner(spark, partitions=3))
    cols = ["replication", "estimator", "term", "coef", "se", "crit", "status"]
    pd.testing.assert_frame_equal(a.draws[cols], b.draws[cols], check_exact=True)
    assert (a.draws["status"] == "ok").all()
    s = a.summary()
    assert set(s["estimator"]) == {"pooled_ols", "fe_within", "sys_gmm_collapse"}
    assert len(s) == 3 * 7
