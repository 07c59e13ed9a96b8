"""GMM mediation (study 1, Table 5): paths, Sobel test, firm bootstrap intervals."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from patentpanel.econ.distributed import SerialRunner, SparkRunner
from patentpanel.econ.gmm import GMMSpec
from patentpanel.econ.mediation import (Mediation, _Payload, bias_corrected_ci, percentile_ci,
                                        resample_firms, sobel)

from econ_sim_panels import firm_year


def collapsed(spec: GMMSpec) -> GMMSpec:
    return dataclasses.replace(spec, gmm=[dataclasses.replace(g, collapse=True) for g in spec.gmm])


@pytest.fixture(scope="module")
def specs(cfg):
    s = GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"))
    return {k: collapsed(s[k]) for k in ("model4", "model5", "model6")}


@pytest.fixture(scope="module")
def panel():
    return firm_year(seed=11, n_firms=40)


@pytest.fixture(scope="module")
def fitted(panel, specs):
    med = Mediation(panel, specs["model4"], specs["model5"], specs["model6"])
    return med.fit(bootstrap=8, seed=5, bootstrap_fit={"diff_hansen": False, "ar_order": 0})


def test_sobel_by_hand():
    # a = 0.4 (se 0.1), b = 0.25 (se 0.05): se = sqrt(.25^2*.1^2 + .4^2*.05^2) = sqrt(.000625 + .0004)
    s = sobel(0.4, 0.1, 0.25, 0.05)
    assert s["indirect"] == pytest.approx(0.1, abs=1e-15)
    assert s["se"] == pytest.approx(np.sqrt(0.001025), rel=1e-14)
    assert s["z"] == pytest.approx(0.1 / np.sqrt(0.001025), rel=1e-14)
    assert s["p"] == pytest.approx(2 * stats.norm.sf(0.1 / np.sqrt(0.001025)), rel=1e-12)


def test_paths_are_the_gmm_coefficients(fitted, panel, specs):
    r5 = specs["model5"].fit(panel)
    r6 = specs["model6"].fit(panel)
    r4 = specs["model4"].fit(panel)
    assert fitted.a.coef == r5.params["ip"] and fitted.a.se == r5.std_errors["ip"]
    assert fitted.b.coef == r6.params["gs"] and fitted.c_prime.coef == r6.params["ip"]
    assert fitted.c.coef == r4.params["ip"]
    s = fitted.summary()
    hand = np.sqrt(r6.params["gs"] ** 2 * r5.std_errors["ip"] ** 2 + r5.params["ip"] ** 2 * r6.std_errors["gs"] ** 2)
    assert s["sobel_se"] == pytest.approx(hand, rel=1e-13)
    assert s["indirect"] == pytest.approx(r5.params["ip"] * r6.params["gs"], rel=1e-15)
    tab = fitted.to_frame().set_index("path")
    assert list(tab.index) == ["c", "a", "b", "c_prime", "indirect"]


def test_bootstrap_reproducible_and_backend_independent(spark, fitted, panel, specs):
    med = Mediation(panel, specs["model4"], specs["model5"], specs["model6"])
    again = med.fit(bootstrap=8, seed=5, bootstrap_fit={"diff_hansen": False, "ar_order": 0},
                    runner=SparkRunner(spark, partitions=3))
    cols = ["replication", "a", "b", "indirect", "status"]
    pd.testing.assert_frame_equal(again.bootstrap[cols], fitted.bootstrap[cols], check_exact=True)
    assert again.summary() == fitted.summary()
    other = med.fit(bootstrap=3, seed=6, bootstrap_fit={"diff_hansen": False, "ar_order": 0})
    assert not np.array_equal(other.boot_draws, fitted.boot_draws[:3])
    assert fitted.n_failed == 0 and len(fitted.boot_draws) == 8


def test_bootstrap_draws_resample_whole_firms(panel, specs):
    codes = pd.factorize(panel["firm_id"], sort=True)[0]
    order = np.argsort(codes, kind="stable")
    rows = tuple(np.split(order, np.cumsum(np.bincount(codes))[:-1]))
    p = _Payload(panel, rows, "firm_id", specs["model5"], specs["model6"], "ip", "gs", 1, {})
    s = resample_firms(p, np.random.default_rng(0))
    assert s["firm_id"].nunique() == 40 and len(s) == len(panel)
    for _, g in s.groupby("firm_id"):
        src = panel[panel["firm_name"] == g["firm_name"].iloc[0]]
        np.testing.assert_array_equal(g["ti"].to_numpy(), src["ti"].to_numpy())


def test_intervals_by_hand():
    d = np.arange(1, 21, dtype=float)          # 1..20
    lo, hi = percentile_ci(d, 0.90)
    # linear interpolation: position 0.05*19 = 0.95 -> 1.95; 0.95*19 = 18.05 -> 19.05
    assert (lo, hi) == pytest.approx((1.95, 19.05), abs=1e-12)
    # estimate 8.5: 8 of 20 draws below -> z0 = Phi^-1(0.4)
    z0 = stats.norm.ppf(0.4)
    q = stats.norm.cdf(2 * z0 + stats.norm.ppf([0.05, 0.95]))
    ref = 1 + q * 19
    assert bias_corrected_ci(d, 8.5, 0.90) == pytest.approx(tuple(ref), abs=1e-12)
    with pytest.raises(ValueError, match="below the estimate"):
        bias_corrected_ci(d, 0.5, 0.90)


def test_wrong_mediator_model(panel, specs):
    with pytest.raises(Exception, match="explains 'ti'"):
        Mediation(panel, specs["model4"], specs["model6"], specs["model6"])


def test_omitted_path_coefficient_is_an_error_not_zero(cfg):
    """A path whose regressor the two-step weighting cannot identify (omitted, NaN) stops
    the mediation (or that bootstrap draw) with the reason, instead of entering as 0."""
    import warnings
    from patentpanel.econ.gmm import GMMDataError, GMMSpec
    from patentpanel.econ.mediation import _coef
    spec = GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"), "model5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spec.fit(firm_year(seed=12, n_firms=60), ginv="invsym")   # xtabond2's knife-edge omission
    assert r.omitted == ["_cons"]
    with pytest.raises(GMMDataError, match="'_cons' is omitted from model5"):
        _coef(r, "_cons", "model5")
    assert np.isfinite(_coef(r, "ip", "model5")[0])
