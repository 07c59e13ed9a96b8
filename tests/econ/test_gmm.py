"""patentpanel.econ.gmm against published xtabond2 output (Roodman 2009; the Stata
xtabond manual; the pydynpd benchmark log) on EmplUK, a planted-truth simulation, the
generalized-inverse policy and bad input."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from patentpanel.econ.gmm import (DegenerateCovarianceWarning, DifferenceGMM, GMMDataError,
                                  GMMInstrument, GMMSpec, IVInstrument, SingularMomentsWarning,
                                  SystemGMM, TooManyInstrumentsWarning, expand_terms)
from patentpanel.econ.synthetic import study1_like_panel

KW = dict(entity="firm", time="year")


@pytest.fixture(scope="module")
def ref(shared_dir):
    return json.loads((shared_dir / "reference/gmm/xtabond2_published.json").read_text())


@pytest.fixture(scope="module")
def empl(shared_dir):
    return pd.read_csv(shared_dir / "reference/gmm/emplUK.csv")


def _models(df):
    """Each reference entry's xtabond2 command line, translated."""
    d2 = df.copy()
    for y in range(1980, 1985):
        d2[f"yr{y}"] = (d2.year == y).astype(float)
    yrs = "yr1980 yr1981 yr1982 yr1983 yr1984 year"
    return {
        "ab91_a1_onestep": (DifferenceGMM(df, "n", lags=2, exog="w L.w L(0/2).(k ys)", time_dummies=True,
                                          gmm=[GMMInstrument("L.n")], iv=[IVInstrument("w L.w L(0/2).(k ys) yr*")], **KW),
                            dict(steps=1, robust=True)),
        "roodman_diff_gmm_nwk_onestep": (DifferenceGMM(df, "n", lags=2, exog="w L.w L(0/2).(k ys)", time_dummies=True,
                                                       gmm=[GMMInstrument("L.(n w k)")], iv=[IVInstrument("L(0/2).ys yr*")], **KW),
                                         dict(steps=1, robust=True, small=True)),
        "bb_sys_onestep": (SystemGMM(df, "n", lags=1, exog="L(0/1).(w k)", time_dummies=True,
                                     gmm=[GMMInstrument("L.(n w k)")], iv=[IVInstrument("yr*", equation="level")], **KW),
                           dict(steps=1, robust=True, small=True)),
        "pydynpd_bench_diff": (DifferenceGMM(df, "n", lags=2, exog="w k",
                                             gmm=[GMMInstrument("n", lags=(2, 4)), GMMInstrument("w", lags=(1, 3))],
                                             iv=[IVInstrument("k")], **KW),
                               dict(steps=2, robust=True)),
        "ab91_a2_twostep": (DifferenceGMM(d2, "n", lags=2, exog="L(0/1).w L(0/2).(k ys) " + yrs,
                                          gmm=[GMMInstrument("L.n")], iv=[IVInstrument("L(0/1).w L(0/2).(k ys) " + yrs)], **KW),
                            dict(steps=2, robust=True)),
    }


@pytest.fixture(scope="module")
def fits(empl):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (model, kw) in _models(empl).items():
            out[name] = model.fit(**kw)
    return out


def _close_printed(value, printed, decimals):
    """Equal to the printed number: within half a unit of its last printed digit, plus
    1e-5 relative for the 8-significant-digit data (56.99505 was printed as 56.99)."""
    assert abs(value - printed) <= 0.5 * 10 ** -decimals + 1e-5 * abs(value), (value, printed)


NAMES = ["ab91_a1_onestep", "roodman_diff_gmm_nwk_onestep", "bb_sys_onestep", "pydynpd_bench_diff", "ab91_a2_twostep"]


@pytest.mark.parametrize("name", NAMES)
def test_coefficients_and_ses_match_xtabond2(name, ref, fits):
    e, r = ref[name], fits[name]
    for key, val in e.get("coef", {}).items():
        # 1e-5 relative; values printed with 7 decimals cannot carry more than 5e-8 absolute
        assert abs(r.params[key] - val) <= max(1e-5 * abs(val), 5e-8), (key, r.params[key], val)
    for key, val in e.get("se", {}).items():
        assert abs(r.std_errors[key] - val) <= max(1e-5 * abs(val), 5e-8), (key, r.std_errors[key], val)
    if "coef" in e:
        assert set(e["coef"]) <= set(r.params.index)


@pytest.mark.parametrize("name", NAMES)
def test_counts_and_tests_match_xtabond2(name, ref, fits):
    e, r = ref[name], fits[name]
    for key in ("nobs", "n_groups", "n_instruments"):
        if key in e:
            assert getattr(r, key) == e[key], key
    for m in (1, 2):
        if f"ar{m}" in e:
            z_dec = 5 if name == "ab91_a2_twostep" else 2
            z_printed = e[f"ar{m}"]["z"]
            dec = len(str(z_printed).split(".")[1]) if name == "ab91_a2_twostep" else z_dec
            _close_printed(r.ar_tests[m].stat, z_printed, dec)
            p_printed = e[f"ar{m}"]["p"]
            _close_printed(r.ar_tests[m].pvalue, p_printed, len(str(p_printed).split(".")[1]) if name == "ab91_a2_twostep" else 3)
    for key in ("sargan", "hansen"):
        if key in e:
            t = getattr(r, key)
            _close_printed(t.stat, e[key]["stat"], 2)
            assert t.df == e[key]["df"]
            _close_printed(t.pvalue, e[key]["p"], 3)


def _check_diff(d, exp):
    (ex, exdf, exp_p), (df_, dfdf, df_p) = exp["excluding"], exp["difference"]
    _close_printed(d.excluding.stat, ex, 2)
    assert d.excluding.df == exdf
    _close_printed(d.excluding.pvalue, exp_p, 3)
    _close_printed(d.difference.stat, df_, 2)
    assert d.difference.df == dfdf
    _close_printed(d.difference.pvalue, df_p, 3)


def test_diff_hansen_match_xtabond2(ref, fits):
    by = {n: {d.group: d for d in fits[n].diff_hansen} for n in fits}
    for name in ("ab91_a1_onestep", "roodman_diff_gmm_nwk_onestep"):
        groups = [g for g in by[name] if g.startswith("iv(")]
        assert len(groups) == 1
        _check_diff(by[name][groups[0]], ref[name]["diff_hansen_iv_group"])
    _check_diff(by["bb_sys_onestep"]["GMM instruments for levels"], ref["bb_sys_onestep"]["diff_hansen_gmm_levels"])
    _check_diff(by["bb_sys_onestep"]["iv(yr1976 yr1977 yr1978 yr1979 yr1980 yr1981 yr1982 yr1983 yr1984, eq(level))"],
                ref["bb_sys_onestep"]["diff_hansen_iv_levels"])
    for label, exp in ref["pydynpd_bench_diff"]["diff_hansen"].items():
        _check_diff(by["pydynpd_bench_diff"][label], exp)


def test_small_factor_and_statistics(fits, empl):
    """small multiplies the robust covariance by N/(N-DFm)*G/(G-1) (published xtabond2)
    and switches to t(G-1); z and p follow from params and SEs."""
    model, kw = _models(empl)["bb_sys_onestep"]
    big = model.fit(**{**kw, "small": False})
    r = fits["bb_sys_onestep"]
    fac = math.sqrt(891 / (891 - 12) * 140 / 139)
    np.testing.assert_allclose(r.std_errors.values, big.std_errors.values * fac, rtol=1e-9)
    assert r.df_resid == 139 and r.tstats.name == "tstat" and big.tstats.name == "zstat"
    np.testing.assert_allclose(big.zstats, big.params / big.std_errors)
    ci = big.conf_int()
    np.testing.assert_allclose(ci["upper"] - big.params, 1.959963984540054 * big.std_errors)
    r37 = model.fit(**kw, convention="xtabond2-3.7")
    np.testing.assert_allclose(r37.std_errors.values, big.std_errors.values * math.sqrt(890 / 878 * 140 / 139), rtol=1e-9)
    # 3.7 divides sig2 by the transformed-equation count: Sargan scales by 751/891
    assert r37.sargan.stat == pytest.approx(r.sargan.stat * 751 / 891, rel=1e-9)
    np.testing.assert_allclose(r37.params.values, r.params.values, rtol=1e-9)


def test_windmeijer_and_two_step_system(empl):
    """Two-step system GMM: Windmeijer SEs exceed the uncorrected ones; hansen computed."""
    m = SystemGMM(empl, "n", lags=1, exog="L(0/1).(w k)", time_dummies=True, gmm=[GMMInstrument("L.(n w k)")], **KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r2 = m.fit(steps=2, robust=True)
        r2n = m.fit(steps=2, robust=False)
    assert r2.n_instruments == 113 and r2.nobs == 891 and r2.nobs_stacked == 891 + 751
    assert (r2.std_errors > r2n.std_errors).all()
    np.testing.assert_allclose(r2.params, r2n.params, rtol=1e-9)
    assert r2.hansen.df == 100 and 0 < r2.hansen.pvalue < 1
    text = r2.summary
    assert "two-step system GMM" in text and "Hansen test" in text and "AR(2)" in text
    assert "<table" in r2._repr_html_()
    frame = r2.to_frame()
    assert list(frame.columns) == ["param", "std_error", "stat", "pvalue", "lower", "upper", "omitted"]
    assert not frame["omitted"].any()
    rec = r2.to_dict()
    json.dumps(rec)
    assert rec["n_instruments"] == 113 and rec["ar"][2]["p"] == r2.ar_tests[2].pvalue
    assert r2.model_info["hansen_p"] == r2.hansen.pvalue


def test_collapse_fod_and_h_options(empl):
    """Collapsed instruments: one column per lag and variable; FOD and h() run and differ."""
    base = dict(lags=1, exog="L(0/1).(w k)", time_dummies=True, **KW)
    r = SystemGMM(empl, "n", gmm=[GMMInstrument("L.(n w k)", collapse=True)], **base).fit(steps=2)
    # diff eq: lags 1..8 of 3 variables (lag 8 of L.x is all-zero in sample) + 3 levels + yr + cons
    assert r.n_instruments < 40
    rf = SystemGMM(empl, "n", gmm=[GMMInstrument("L.(n w k)")], transform="fod", **base).fit(steps=2)
    assert rf.transform == "orthogonal deviations" and np.isfinite(rf.params).all()
    assert abs(rf.params["L1.n"] - r.params["L1.n"]) > 0
    r1 = SystemGMM(empl, "n", gmm=[GMMInstrument("L.(n w k)")], **base).fit(steps=1, h=1)
    r3 = SystemGMM(empl, "n", gmm=[GMMInstrument("L.(n w k)")], **base).fit(steps=1, h=3)
    assert abs(r1.params["L1.n"] - r3.params["L1.n"]) > 1e-6


def test_cluster_equals_group_cluster(empl):
    """Clustering on the panel id reproduces the default group-robust covariance."""
    kw = dict(lags=2, exog="w k", gmm=[GMMInstrument("n", lags=(2, 4))], iv=[IVInstrument("k")], **KW)
    a = DifferenceGMM(empl, "n", **kw).fit(steps=2)
    b = DifferenceGMM(empl, "n", cluster="firm", **kw).fit(steps=2)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-9)
    np.testing.assert_allclose(b.std_errors, a.std_errors, rtol=1e-9)


def _simulate(seed: int, n: int = 500, t: int = 8, rho: float = 0.5):
    rng = np.random.default_rng(seed)
    eta = rng.normal(size=n)
    y = np.empty((n, t))
    # start from the stationary distribution so the levels moments are valid (Blundell-Bond)
    y[:, 0] = eta / (1 - rho) + rng.normal(size=n) / math.sqrt(1 - rho ** 2)
    for s in range(1, t):
        y[:, s] = rho * y[:, s - 1] + eta + rng.normal(size=n)
    return pd.DataFrame({"id": np.repeat(np.arange(n), t), "t": np.tile(np.arange(t), n), "y": y.ravel()})


def test_planted_rho_recovered():
    """AR(1) with fixed effects, N=500, T=8, rho=0.5: two-step system GMM recovers rho
    within 3 Windmeijer SEs (and within 0.1), AR(2) does not reject."""
    df = _simulate(seed=20250806)
    r = SystemGMM(df, "y", lags=1, entity="id", time="t", gmm=[GMMInstrument("L.y", collapse=True)]).fit(steps=2)
    assert abs(r.params["L1.y"] - 0.5) < max(3 * r.std_errors["L1.y"], 0.0) and abs(r.params["L1.y"] - 0.5) < 0.1
    assert r.ar_tests[1].pvalue < 0.01 and r.ar_tests[2].pvalue > 0.01
    d = DifferenceGMM(df, "y", lags=1, entity="id", time="t", gmm=[GMMInstrument("L.y")]).fit(steps=2)
    assert abs(d.params["L1.y"] - 0.5) < 0.15


def test_ginv_policy_singular_two_step():
    """With more instruments than groups the two-step moment matrix is singular: a
    SingularMomentsWarning is issued, invsym and pinv give different (both finite)
    estimates, and a generalized inverse satisfies S A S = S."""
    df = _simulate(seed=7, n=15, t=8)
    m = SystemGMM(df, "y", lags=1, entity="id", time="t", gmm=[GMMInstrument("L.y")])
    with pytest.warns(SingularMomentsWarning):
        a = m.fit(steps=2)
    with pytest.warns(SingularMomentsWarning):
        b = m.fit(steps=2, ginv="pinv")
    assert np.isfinite(a.params).all() and np.isfinite(b.params).all()
    assert abs(a.params["L1.y"] - b.params["L1.y"]) > 1e-8
    with pytest.warns(TooManyInstrumentsWarning):
        m.fit(steps=1)
    from patentpanel.econ.gmm import _ginv
    rng = np.random.default_rng(1)
    B = rng.normal(size=(6, 3))
    S = B @ B.T  # rank 3
    for meth in ("invsym", "pinv"):
        A, dropped = _ginv(S, 1e-12, meth)
        assert dropped == 3
        np.testing.assert_allclose(S @ A @ S, S, atol=1e-9)
    A, _ = _ginv(S, 1e-12, "invsym")
    assert (np.abs(A[3:, :]) == 0).all()  # invsym drops the later collinear columns


def test_spec_from_yaml_loads_study_models():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "conf" / "models" / "study1.yaml"
    specs = GMMSpec.from_yaml(path)
    assert {"model1", "model2", "model3", "model4", "model5", "model6"} <= set(specs)
    m3 = specs["model3"]
    assert m3.estimator == "system" and m3.fit_options["steps"] == 2 and m3.fit_options["robust"] is True
    assert any(i["centre"] for i in m3.interactions)
    with pytest.raises(GMMDataError, match="unknown key"):
        GMMSpec.from_dict({"dependent": "ti", "bogus": 1})


def test_spec_fit_equals_direct_call(empl):
    spec = GMMSpec.from_dict({"dependent": "n", "lags": 2, "exog": ["w", "k"], "estimator": "difference",
                              "entity": "firm", "time": "year",
                              "gmm": [{"variables": "n", "lags": [2, 4]}, {"variables": "w", "lags": [1, 3]}],
                              "iv": ["k"], "fit": {"steps": 2}}, name="bench")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spec.fit(empl)
    assert r.params["L1.n"] == pytest.approx(0.1700616, abs=5e-7)


def test_expand_terms():
    assert expand_terms("L(0/1).(w k)") == [("w", 0), ("w", 1), ("k", 0), ("k", 1)]
    assert expand_terms("L.n L2.n yr*", ["yr1", "yr2", "n"]) == [("n", 1), ("n", 2), ("yr1", 0), ("yr2", 0)]


# --- bad input ---------------------------------------------------------------------------
def test_bad_input_messages(empl):
    g = [GMMInstrument("L.n")]
    with pytest.raises(GMMDataError, match="column 'nope' not found"):
        SystemGMM(empl, "n", exog="nope", gmm=g, **KW).fit()
    d = empl.copy()
    d["txt"] = "a"
    with pytest.raises(GMMDataError, match="'txt' has dtype .* expected numeric"):
        SystemGMM(d, "n", exog="txt", gmm=g, **KW).fit()
    dup = pd.concat([empl, empl.iloc[[5]]])
    with pytest.raises(GMMDataError, match=r"duplicate \(firm, year\) = \(1, 1982\)"):
        SystemGMM(dup, "n", gmm=g, **KW).fit()
    with pytest.raises(GMMDataError, match="too few periods"):
        SystemGMM(empl, "n", lags=9, gmm=g, **KW).fit()
    with pytest.raises(GMMDataError, match="no instruments left|not identified"):
        DifferenceGMM(empl, "n", lags=1, exog="w k", gmm=[GMMInstrument("n", lags=(9, 9))], **KW).fit()
    with pytest.raises(GMMDataError, match="not identified"):
        DifferenceGMM(empl, "n", lags=1, exog="w k", gmm=[GMMInstrument("n", lags=(2, 2), collapse=True)], **KW).fit()
    with pytest.raises(GMMDataError, match="time column 'year'"):
        SystemGMM(empl.assign(year=empl.year + 0.5), "n", gmm=g, **KW).fit()
    with pytest.raises(GMMDataError, match="equation must be one of"):
        GMMInstrument("n", equation="levels")
    with pytest.raises(ValueError, match="steps must be 1 or 2"):
        SystemGMM(empl, "n", gmm=g, **KW).fit(steps=3)


# --- fast re-estimation (placebo path) ----------------------------------------------------
_study1_panel = study1_like_panel


def _same_fit(a, b, rtol=1e-9):
    np.testing.assert_allclose(a.params.values, b.params.values, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.std_errors.values, b.std_errors.values, rtol=rtol, atol=1e-12)
    assert a.n_instruments == b.n_instruments and a.nobs == b.nobs and list(a.params.index) == list(b.params.index)
    for m in a.ar_tests:
        np.testing.assert_allclose(a.ar_tests[m].stat, b.ar_tests[m].stat, rtol=rtol)
    for name in ("sargan", "hansen"):
        np.testing.assert_allclose(getattr(a, name).stat, getattr(b, name).stat, rtol=rtol)
    assert [d.group for d in a.diff_hansen] == [d.group for d in b.diff_hansen]
    for da, db in zip(a.diff_hansen, b.diff_hansen):
        np.testing.assert_allclose(da.difference.stat, db.difference.stat, rtol=rtol, atol=1e-9)


def test_refit_equals_fit_on_replaced_data(empl):
    """model.refit(columns) gives the numbers of a model built on data.assign(**columns)."""
    m = SystemGMM(empl, "n", lags=1, exog="L(0/1).(w k)", time_dummies=True, gmm=[GMMInstrument("L.(n w k)")], **KW)
    m.fit(steps=2)
    w = np.random.default_rng(3).permutation(empl["w"].to_numpy())
    fast = m.refit({"w": w}, steps=2)
    slow = SystemGMM(empl.assign(w=w), "n", lags=1, exog="L(0/1).(w k)", time_dummies=True,
                     gmm=[GMMInstrument("L.(n w k)")], **KW).fit(steps=2)
    _same_fit(fast, slow)
    assert abs(fast.params["w"] - m.fit(steps=2).params["w"]) > 1e-3  # the replacement took effect
    with pytest.raises(GMMDataError, match="cannot be replaced"):
        m.refit({"firm": empl["firm"].to_numpy()})
    with pytest.raises(GMMDataError, match=r"replacement for column 'w' has shape \(3,\)"):
        m.refit({"w": [1.0, 2.0, 3.0]})
    with pytest.raises(GMMDataError, match="replacement for column 'w' has dtype"):
        m.refit({"w": np.array(["a"] * len(empl))})


def test_spec_refit_rebuilds_interactions():
    """GMMSpec.refit with a permuted IP column equals a full fit of the study-1 Model 3
    spec on the permuted data, the centred IP*NC term included."""
    from pathlib import Path
    spec = GMMSpec.from_yaml(Path(__file__).resolve().parents[2] / "conf" / "models" / "study1.yaml", "model3")
    panel = _study1_panel(11)
    ip = np.random.default_rng(5).permutation(panel["ip"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = spec.model(panel)
        base = model.fit(**spec.fit_options)
        fast = spec.refit(model, {"ip": ip})
        slow = spec.fit(panel.assign(ip=ip))
    _same_fit(fast, slow)
    assert abs(fast.params["ip"] - base.params["ip"]) > 1e-6
    assert spec.replacement(model, {"ip": ip})["ip_x_nc"] == pytest.approx(
        (ip - ip.mean()) * (panel["nc"] - panel["nc"].mean()), rel=1e-12)


# --- internals against plain dense computations -------------------------------------------
def test_instrument_cells_match_dense_products(empl):
    """Every product the estimator takes with the cell-held Z equals the dense N x R x j
    computation (einsum on the scattered array), per group, per cluster and in total."""
    from patentpanel.econ.gmm import _h_factor
    m = SystemGMM(empl, "n", lags=1, exog="L(0/1).(w k)", time_dummies=True,
                  gmm=[GMMInstrument("L.(n w k)"), GMMInstrument("ys", collapse=True)], iv=[IVInstrument("L.ys")], **KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(steps=1)
    d = m._designs["published"]
    Z = d.Z
    dense = np.zeros((Z.N, Z.R, Z.j))
    for e in range(Z.r.size):
        dense[:, Z.r[e], Z.c[e]] += Z.val[:, e]
    assert np.count_nonzero(dense) <= Z.val.size < dense.size / 4
    rng = np.random.default_rng(0)
    v = rng.normal(size=(Z.N, Z.R))
    X3 = rng.normal(size=(Z.N, Z.R, 4))
    a = rng.normal(size=Z.j)
    close = dict(rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(Z.group_sums(v), np.einsum("nrj,nr->nj", dense, v), **close)
    np.testing.assert_allclose(Z.cross(v), np.einsum("nrj,nr->j", dense, v), **close)
    np.testing.assert_allclose(Z.cross_matrix(X3), np.einsum("nrj,nrk->jk", dense, X3), **close)
    np.testing.assert_allclose(Z.weighted_cross(X3, v), np.einsum("nrj,nr,nrk->jk", dense, v, X3), **close)
    np.testing.assert_allclose(Z.times(a), dense @ a, **close)
    cl = rng.integers(0, 7, size=(Z.N, Z.R))  # clusters that change within a group
    ref = np.zeros((7, Z.j))
    np.add.at(ref, cl.ravel(), (dense * v[:, :, None]).reshape(-1, Z.j))
    np.testing.assert_allclose(Z.cluster_sums(v, cl, 7), ref, **close)
    for h in (1, 2, 3):
        F = _h_factor(h, False, True, d.T)
        FZ = np.einsum("ar,nrj->naj", F, dense)
        np.testing.assert_allclose(Z.first_step(F.T @ F), np.einsum("naj,nak->jk", FZ, FZ), **close)


def _invsym_reference(A, tol):
    """Textbook in-order sweep (Goodnight 1979), one column at a time: a column whose
    pivot relative to its original diagonal is <= tol is skipped (row/column zero)."""
    n = A.shape[0]
    B = A.astype(float).copy()
    d0 = np.diag(A).copy()
    kept = np.zeros(n, bool)
    for c in range(n):
        if d0[c] <= 0 or B[c, c] <= tol * d0[c]:
            continue
        kept[c] = True
        piv = B[c, c]
        row = B[c].copy()
        B -= np.outer(B[:, c], row) / piv
        B[c] = row / piv
        B[:, c] = row / piv
        B[c, c] = -1.0 / piv
    out = np.zeros_like(B)
    idx = np.flatnonzero(kept)
    out[np.ix_(idx, idx)] = -B[np.ix_(idx, idx)]
    return out, kept


@pytest.mark.parametrize("seed", range(6))
def test_sweep_matches_textbook_invsym(seed):
    """The blocked sweep (dropping exhausted columns at once, Cholesky assembled from the
    blocks) keeps the same columns and gives the same inverse as the one-column-at-a-time
    sweep, on PSD matrices with planted collinear and zero columns."""
    from patentpanel.econ.gmm import _GInverse, _ginv
    rng = np.random.default_rng(seed)
    n, r = 40, 12 + 5 * seed
    B = rng.normal(size=(60, r))
    cols = [B[:, i] for i in range(r)]
    for _ in range(n - r):  # insert combinations / zero columns at random places
        pos = int(rng.integers(1, len(cols)))
        combo = rng.normal(size=pos) @ np.array(cols[:pos]) if rng.random() < 0.8 else np.zeros(60)
        cols.insert(pos, combo)
    M = np.array(cols).T
    A = M.T @ M
    ref, kept = _invsym_reference(A, 1e-12)
    inv, dropped = _ginv(A, 1e-12)
    assert dropped == n - kept.sum() == n - r
    np.testing.assert_array_equal(_GInverse(A, 1e-12).keep, kept)
    np.testing.assert_allclose(inv, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())
    g = _GInverse(A, 1e-12)
    x = rng.normal(size=(n, 3))
    np.testing.assert_allclose(g.solve(x), ref @ x, rtol=1e-7, atol=1e-9 * np.abs(ref @ x).max())
    np.testing.assert_allclose(g.quad(x), x.T @ ref @ x, rtol=1e-7)


def test_infinite_values_rejected(empl):
    bad = empl.assign(w=empl.w.where(empl.index != 17, np.inf))
    with pytest.raises(GMMDataError, match=r"column 'w': row 17 is inf"):
        SystemGMM(bad, "n", exog="w", gmm=[GMMInstrument("L.n")], **KW).fit()


# --- omitted regressors and degenerate covariances ------------------------------------------
STUDY1 = __import__("pathlib").Path(__file__).resolve().parents[2] / "conf" / "models" / "study1.yaml"
DATA = __import__("pathlib").Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("name", NAMES)
def test_published_fits_carry_no_degeneracy_flags(name, fits):
    """The xtabond2 reference fits are well conditioned: nothing omitted, no flag."""
    r = fits[name]
    assert r.omitted == [] and not r.degenerate_cov and r.degenerate_cov_reason is None
    assert r.bread_rcond > 1e-6 and r.model_info["degenerate_cov"] is False
    assert r.notes == [] and r.to_dict()["omitted"] == []


def test_omitted_regressors_are_nan_and_flagged_not_zero():
    """Table 5 Model 5 on a firm panel with fewer firms (60) than instruments (92): the
    two-step X'Z A Z'X is singular and invsym drops _cons. xtabond2 prints it as 0 with
    SE 0 (as this module did); it must come back as NaN, flagged omitted everywhere, and
    the fit flagged degenerate (its other SEs are ~1e8)."""
    from econ_sim_panels import firm_year
    spec = GMMSpec.from_yaml(STUDY1, "model5")
    f = firm_year(seed=12, n_firms=60)
    with pytest.warns(DegenerateCovarianceWarning, match="_cons omitted"):
        r = spec.fit(f, ginv="invsym")
    assert r.n_instruments == 92 and r.n_groups == 60 and r.moments_singular
    assert r.omitted == ["_cons"]
    for s in (r.params, r.std_errors, r.tstats, r.pvalues, r.conf_int()["lower"]):
        assert np.isnan(s["_cons"]) and np.isfinite(s.drop("_cons")).all()
    assert r.cov.loc["_cons"].isna().all() and r.cov["_cons"].isna().all()
    assert np.isnan(r.onestep_params["_cons"]) == bool(r._omit1[-1])
    frame = r.to_frame()
    assert frame["omitted"].to_dict() == {k: k == "_cons" for k in r.params.index}
    rec = r.to_dict()
    assert rec["omitted"] == ["_cons"] and rec["degenerate_cov"] is True and math.isnan(rec["coef"]["_cons"])
    info = r.model_info
    assert info["omitted"] == ["_cons"] and info["degenerate_cov"] is True
    reason = info["degenerate_cov_reason"]
    assert "numerically singular" in reason and "92 instruments, 60 groups" in reason
    assert r.bread_rcond < 1e-10
    assert "(omitted)" in r.summary and any("Omitted" in n for n in r.notes)
    assert any("Degenerate covariance" in n for n in r.notes)
    # the remedy named in the reason: collapsed instruments (22 < 60 groups) are fine
    collapsed = GMMSpec.from_dict({**_spec_dict(spec), "gmm": [{"variables": g.variables, "lags": list(g.lags),
                                                                "collapse": True} for g in spec.gmm]}, name="m5c")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateCovarianceWarning)
        warnings.simplefilter("ignore", SingularMomentsWarning)
        c = collapsed.fit(f)
    assert c.omitted == [] and not c.degenerate_cov and (c.std_errors < 5).all()


def _spec_dict(spec):
    return {"dependent": spec.dependent, "lags": spec.lags, "exog": spec.exog, "entity": spec.entity,
            "time": spec.time, "iv": [{"variables": list(g.variables) if not isinstance(g.variables, str)
                                       else g.variables, "equation": g.equation} for g in spec.iv],
            "fit": dict(spec.fit_options)}


def e2e_first_18_clusters() -> pd.DataFrame:
    """gold.cluster_year of a simulated end-to-end run (tests/econ/data), its first 18
    clusters by code: with the paper's uncollapsed instruments (~70 for 18 groups) Model
    3's two-step weight matrix is rank deficient and invsym cannot pivot on ic, ie, _cons
    (with BLAS on one thread, as fit() runs it; the whole 26-cluster panel happens not to
    lose any regressor)."""
    d = pd.read_csv(DATA / "e2e_cluster_year.csv", dtype={"city_code": str}, float_precision="round_trip")
    return d[d["city_code"].isin(sorted(d["city_code"].unique())[:18])].reset_index(drop=True)


def test_e2e_table4_model3_omissions_and_degenerate_flag():
    """Table 4 Model 3 on a rank-deficient system: ic, ie and _cons came back as 0 with SE 0
    and the other SEs ~1e8 (xtabond2 prints them so). Here they are omitted (NaN) and the
    fit is flagged degenerate; Model 1 on all 26 clusters (invertible) is not flagged.
    Which regressors a rank-deficient system loses is a knife-edge of the generalized
    inverse (xtabond2 shares it): on these data Model 1 loses the same three at 18
    clusters and none at 26, Model 3 the reverse; fit() makes it reproducible, not
    meaningful, hence the flag."""
    d = e2e_first_18_clusters()
    with pytest.warns(DegenerateCovarianceWarning):
        r3 = GMMSpec.from_yaml(STUDY1, "model3").fit(d, ginv="invsym")
    assert r3.omitted == ["ic", "ie", "_cons"] and r3.n_instruments > 18
    assert r3.params[["ic", "ie", "_cons"]].isna().all() and r3.std_errors[["ic", "ie", "_cons"]].isna().all()
    assert r3.degenerate_cov and r3.std_errors.max() > 1e5
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateCovarianceWarning)
        warnings.simplefilter("ignore", SingularMomentsWarning)
        warnings.simplefilter("ignore", TooManyInstrumentsWarning)
        full = pd.read_csv(DATA / "e2e_cluster_year.csv", dtype={"city_code": str}, float_precision="round_trip")
        r1 = GMMSpec.from_yaml(STUDY1, "model1").fit(full, ginv="invsym")
    assert r1.omitted == [] and not r1.degenerate_cov and r1.moments_singular


def test_cond_tol_controls_the_flag(empl):
    m, kw = _models(empl)["pydynpd_bench_diff"]
    with pytest.warns(DegenerateCovarianceWarning, match="reciprocal condition number"):
        r = m.fit(**kw, cond_tol=0.5)
    assert r.degenerate_cov and r.omitted == []
    with pytest.raises(ValueError, match="cond_tol"):
        m.fit(**kw, cond_tol=-1)


def test_row_order_does_not_change_a_near_singular_fit():
    """Table 4 Model 3 on the e2e panel is near-singular (74 instruments, 26 groups), so an
    ulp of difference in the centred IP x NC (a mean summed in row order) used to move IP
    by 0.03 and L.TI by 0.07 when the same rows came in another order (as Spark returns
    them). The centring mean is correctly rounded now: any row order, identical numbers."""
    d = pd.read_csv(DATA / "e2e_cluster_year.csv", dtype={"city_code": str}, float_precision="round_trip")
    spec = GMMSpec.from_yaml(STUDY1, "model3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = spec.fit(d)
        for seed in range(3):
            r = spec.fit(d.sample(frac=1, random_state=seed))
            pd.testing.assert_series_equal(r.params, ref.params, rtol=0, atol=0)
            pd.testing.assert_series_equal(r.std_errors, ref.std_errors, rtol=0, atol=0)
