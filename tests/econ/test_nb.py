"""NB2 against a published result (RAND HIE, as in statsmodels' test suite: R MASS glm.nb
coefficients, Stata nbreg lnalpha and its SE) and an independent scipy MLE of the NB2
likelihood; the HHG conditional likelihood against a brute-force NB probability ratio and
planted-parameter recovery."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.special import gammaln
from statsmodels.datasets import randhie

from patentpanel.econ.fe import PanelDataError, SingularDesignError
from patentpanel.econ.nb import (NBConvergenceError, NegativeBinomialFE, _check_fit, hhg_loglike,
                                 lr_test_alpha, overdispersion, run_nb_models)

# statsmodels/discrete/tests/results/results_discrete.py, RandHIE.negativebinomial_nb2_bfgs:
# nbreg mdvis lncoins idp lpi fmde physlm disea hlthg hlthf hlthp
PUBLISHED = [-0.0579469537244314, -0.267787718814838, 0.0412060770911646, -0.0381376804392121,
             0.268915772213171, 0.0381637446219235, -0.0441338846217674, 0.0172521803400544,
             0.177960787443151, 0.663556087183864]
PUBLISHED_LNALPHA, PUBLISHED_LNALPHA_SE = 0.256929012449, 0.0143932


def test_nb2_reproduces_published_randhie():
    d = randhie.load_pandas().data
    exog = list(d.columns[1:])
    res = NegativeBinomialFE(d, "mdvis", exog).fit()
    got = res.params[exog + ["const"]].to_numpy()
    np.testing.assert_allclose(got, PUBLISHED, rtol=1e-6, atol=1e-8)
    assert res.model_info["lnalpha"] == pytest.approx(PUBLISHED_LNALPHA, rel=1e-6)
    assert res.model_info["lnalpha_se"] == pytest.approx(PUBLISHED_LNALPHA_SE, rel=1e-4)  # Stata prints 7 digits
    assert res.model_info["lr_alpha"] > 0 and res.model_info["lr_alpha_pvalue"] < 1e-10


def make_counts(seed=3, n_clusters=12, n_years=10):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([(g, t) for g in range(n_clusters) for t in range(2011, 2011 + n_years)],
                      columns=["cluster", "year"])
    n = len(df)
    df["x1"] = rng.normal(size=n)
    df["x2"] = rng.normal(size=n)
    fe = rng.normal(scale=0.5, size=n_clusters)[df.cluster]
    mu = np.exp(1.0 + 0.6 * df.x1 - 0.3 * df.x2 + fe)
    alpha = 0.5
    df["y"] = rng.poisson(rng.gamma(1 / alpha, mu * alpha)).astype(float)
    return df


def nb2_negll(theta, y, x):
    b, alpha = theta[:-1], np.exp(theta[-1])
    mu = np.exp(x @ b)
    r = 1 / alpha
    return -np.sum(gammaln(y + r) - gammaln(r) - gammaln(y + 1) + r * np.log(r / (r + mu))
                   + y * np.log(mu / (r + mu)))


def test_nb2_with_dummies_matches_independent_mle():
    df = make_counts()
    res = NegativeBinomialFE(df, "y", ["x1", "x2"], entity="cluster", time="year").fit()
    x = np.column_stack([np.ones(len(df)), df[["x1", "x2"]],
                         pd.get_dummies(df.cluster, drop_first=True, dtype=float)])
    opt = optimize.minimize(nb2_negll, np.zeros(x.shape[1] + 1), args=(df.y.to_numpy(), x),
                            method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    np.testing.assert_allclose(res.params[["const", "x1", "x2"]], opt.x[:3], atol=1e-5)
    assert res.model_info["alpha"] == pytest.approx(np.exp(opt.x[-1]), rel=1e-4)
    assert res.model_info["loglik"] == pytest.approx(-opt.fun, rel=1e-9)
    assert "cluster_1" not in res.params.index  # dummies kept out of the reported table
    # overdispersion evidence
    od = overdispersion(df.y)
    assert od["mean"] == pytest.approx(df.y.mean()) and od["variance"] == pytest.approx(df.y.var())
    assert res.model_info["lr_alpha"] == pytest.approx(
        2 * (res.model_info["loglik"] - res.model_info["loglik_poisson"]))


def test_chibar_pvalue():
    from scipy import stats
    assert lr_test_alpha(-100.0, -102.0)["pvalue"] == pytest.approx(0.5 * stats.chi2.sf(4.0, 1))
    assert lr_test_alpha(-100.0, -100.0)["pvalue"] == 1.0


def test_refuses_nan_fit_reported_as_converged():
    fake = SimpleNamespace(params=np.array([0.1, np.nan]), llf=-10.0, mle_retvals={"converged": True})
    with pytest.raises(NBConvergenceError, match="non-finite"):
        _check_fit(fake.params, fake.llf, "NB2")


def nb_pmf(y, lam, delta):
    return np.exp(gammaln(lam + y) - gammaln(lam) - gammaln(y + 1)
                  + lam * np.log(1 / (1 + delta)) + y * np.log(delta / (1 + delta)))


@pytest.mark.parametrize("delta", [0.3, 2.5])
def test_hhg_loglike_equals_brute_force_conditional_probability(delta):
    """P(y_1..y_T | sum y) from the NB p.m.f. (sum of NB(lam_t, delta) is NB(sum lam, delta));
    it must not depend on delta."""
    y = np.array([2.0, 0.0, 3.0, 1.0, 4.0])
    groups = np.array([0, 0, 0, 1, 1])
    x = np.array([[1, 0.2], [1, -0.5], [1, 1.0], [1, 0.3], [1, -1.2]])
    beta = np.array([0.1, 0.7])
    lam = np.exp(x @ beta)
    brute = 0.0
    for g in (0, 1):
        m = groups == g
        brute += np.log(np.prod(nb_pmf(y[m], lam[m], delta)) / nb_pmf(y[m].sum(), lam[m].sum(), delta))
    assert hhg_loglike(beta, y, x, groups) == pytest.approx(brute, rel=1e-12)
    # analytic gradient and Hessian against central differences
    _, g, h = hhg_loglike(beta, y, x, groups, derivs=True)
    eps = 1e-6
    num_g = [(hhg_loglike(beta + eps * e, y, x, groups) - hhg_loglike(beta - eps * e, y, x, groups)) / (2 * eps)
             for e in np.eye(2)]
    num_h = [(hhg_loglike(beta + eps * e, y, x, groups, True)[1] - hhg_loglike(beta - eps * e, y, x, groups, True)[1])
             / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(g, num_g, rtol=1e-6)
    np.testing.assert_allclose(h, np.array(num_h), rtol=1e-5)


def test_hhg_recovers_planted_parameters():
    rng = np.random.default_rng(11)
    n_groups, n_t = 1000, 6
    df = pd.DataFrame([(g, t) for g in range(n_groups) for t in range(n_t)], columns=["id", "t"])
    df["x1"] = rng.normal(size=len(df))
    df["x2"] = rng.normal(size=len(df))
    lam = np.exp(0.3 + 0.5 * df.x1 - 0.4 * df.x2)
    delta = rng.gamma(2.0, 0.5, size=n_groups)[df.id]
    df["y"] = rng.poisson(rng.gamma(lam, delta)).astype(float)  # NB(lam, delta) of HHG
    res = NegativeBinomialFE(df, "y", ["x1", "x2"], entity="id", time="t").fit("conditional")
    # tolerance 0.06 on the slopes (about 3.5 standard errors of 0.017), 0.15 on the constant
    np.testing.assert_allclose(res.params[["x1", "x2"]], [0.5, -0.4], atol=0.06)
    assert res.params["const"] == pytest.approx(0.3, abs=0.15)
    assert res.model_info["groups_dropped"] == int((df.groupby("id").y.sum() == 0).sum())


def test_noninteger_counts_and_bad_input():
    df = make_counts()
    frac = df.assign(y=df.y / 3)
    res = NegativeBinomialFE(frac, "y", ["x1"], entity="cluster", time="year").fit()
    assert any("non-integer" in n for n in res.notes)
    with pytest.raises(PanelDataError, match="integer counts"):
        NegativeBinomialFE(frac, "y", ["x1"], entity="cluster", time="year", noninteger="error")
    with pytest.raises(PanelDataError, match="non-negative"):
        NegativeBinomialFE(df.assign(y=-df.y), "y", ["x1"], entity="cluster", time="year")
    with pytest.raises(PanelDataError, match="share an"):
        NegativeBinomialFE(pd.concat([df, df.iloc[[0]]]), "y", ["x1"], entity="cluster", time="year")
    with pytest.raises(PanelDataError, match="'x9'"):
        NegativeBinomialFE(df, "y", ["x9"], entity="cluster", time="year")
    with pytest.raises(SingularDesignError, match="collinear"):
        NegativeBinomialFE(df.assign(c=df.cluster * 1.0), "y", ["x1", "c"], entity="cluster",
                           time="year").fit()


def test_run_nb_models_from_config_shape():
    cfg = {"entity": "cluster", "time": "year", "dependent": "y", "noninteger": "allow",
           "center_interactions": True, "method": "dummies",
           "models": [{"name": "m3", "terms": ["x1", "x2", "x1:x2"]}]}
    res = run_nb_models(make_counts(), cfg)["m3"]
    assert list(res.params.index) == ["const", "x1", "x2", "x1:x2"]
    assert any("centred" in n for n in res.notes)


# --- cluster panels of study 1 (gold.cluster_year shape) -----------------------------------
DATA = __import__("pathlib").Path(__file__).resolve().parent / "data"


def cluster_panel(seed, n_clusters=29, n_years=10, alpha=0.15, level=-9.5, fractional=True):
    """A seeded cluster-year panel shaped like gold.cluster_year: raw log regressors
    (ed ~ 11, ie ~ 14, as the panels stage writes them), cluster effects correlated with
    size, NB2 counts (alpha > 0: overdispersed) or binomial ones with variance mu/2
    (alpha = 0: underdispersed), with ``fractional`` a third of them divided by 3, as
    fractional counting gives."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame([(str(110000 + 100 * g), t) for g in range(n_clusters) for t in range(2011, 2011 + n_years)],
                      columns=["city_code", "year"])
    g = df.city_code.factorize()[0]
    t = df.year.to_numpy() - 2011
    n = len(df)
    size = rng.normal(size=n_clusters)
    df["ip"] = np.log1p(rng.poisson(np.exp(1.5 + 0.1 * t + 0.5 * size[g])))
    df["nc"] = 1.7 + 0.3 * size[g] + rng.normal(0, 0.1, n)
    df["ed"] = 11.3 + 0.28 * size[g] + 0.065 * t + rng.normal(0, 0.03, n)
    df["ic"] = 2.45 + 0.06 * size[g] + 0.025 * t + rng.normal(0, 0.05, n)
    df["ie"] = 13.5 + 1.0 * size[g] + 0.11 * t + rng.normal(0, 0.08, n)
    fe = size[g] + rng.normal(0, 0.3, n_clusters)[g]
    mu = np.exp(level + 0.3 * df.ip + 0.2 * df.nc + 1.0 * df.ed + 0.3 * df.ic + 0.05 * df.ie + fe)
    if alpha > 0:
        y = rng.poisson(rng.gamma(1 / alpha, mu * alpha)).astype(float)
    else:
        trials = np.ceil(2 * mu)
        y = rng.binomial(trials.astype(np.int64), np.where(trials > 0, mu / np.maximum(trials, 1), 0)).astype(float)
    frac = (rng.random(n) < 1 / 3) & fractional
    df["ti_count"] = np.where(frac, y / 3, y)
    return df


NB_CFG = {"entity": "city_code", "time": "year", "dependent": "ti_count", "noninteger": "allow",
          "center_interactions": True, "method": "dummies", "max_iter": 500,
          "models": [{"name": "t6_m1", "terms": ["ed", "ic", "ie"]},
                     {"name": "t6_m2", "terms": ["ip", "ed", "ic", "ie"]},
                     {"name": "t6_m3", "terms": ["ip", "nc", "ip:nc", "ed", "ic", "ie"]}]}


def _design(df, exog):
    x = np.column_stack([np.ones(len(df)), df[exog].to_numpy(),
                         pd.get_dummies(df.city_code, drop_first=True, dtype=float).to_numpy()])
    return x


@pytest.mark.parametrize("alpha,y", [(0.4, np.array([0.0, 1, 2, 7, 30, 250.0])),
                                     (2e-9, np.array([0.0, 1, 2, 7, 30, 250.0])),
                                     (0.05, np.array([0.0, 1 / 3, 2.5, 7, 30.5, 1200.0]))])
def test_nb2_loglike_against_statsmodels_and_finite_differences(alpha, y):
    """The (b, ln alpha) log-likelihood equals statsmodels' NB2 loglike (and, near the
    Poisson limit, the exact product form of Gamma(y+r)/Gamma(r) for integer y); the
    analytic gradient and Hessian equal central differences."""
    import statsmodels.api as sm
    from patentpanel.econ.nb import nb2_loglike
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(len(y)), rng.normal(size=(len(y), 2))])
    b = np.array([2.0, 0.5, -0.3])
    theta = np.append(b, np.log(alpha))
    ll, g, H = nb2_loglike(theta, y, X)
    if alpha > 1e-3:
        # a freshly built statsmodels NegativeBinomial reads its last parameter as ln(alpha)
        ref = sm.NegativeBinomial(y, X, loglike_method="nb2").loglike(theta)
        assert ll == pytest.approx(ref, rel=1e-12)
    else:  # statsmodels' gammaln difference loses ~1e-6 here: exact sum of logs instead
        r = 1 / alpha
        mu = np.exp(X @ b)
        exact = sum(np.sum(np.log(r + np.arange(int(yi)))) - gammaln(yi + 1) - r * np.log1p(alpha * m)
                    + yi * np.log(alpha * m / (1 + alpha * m)) for yi, m in zip(y, mu))
        assert ll == pytest.approx(exact, abs=1e-9)
    eps = 1e-5
    E = np.eye(len(theta))
    num_g = np.array([(nb2_loglike(theta + eps * e, y, X)[0] - nb2_loglike(theta - eps * e, y, X)[0]) / (2 * eps) for e in E])
    num_h = np.array([(nb2_loglike(theta + eps * e, y, X)[1] - nb2_loglike(theta - eps * e, y, X)[1]) / (2 * eps) for e in E])
    np.testing.assert_allclose(g, num_g, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(H, num_h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nb2_cluster_fe_overdispersed_panel_matches_independent_mle(seed):
    """29 clusters x 10 years, counts in the hundreds to thousands, alpha = 0.15, raw log
    regressors: every Table 6 model converges, and Model 3 equals an independent scipy
    BFGS maximisation of the NB2 likelihood (centred design, ln alpha) to 1e-4."""
    df = cluster_panel(seed)
    assert df.ti_count.median() > 50 and df.ti_count.max() > 1000
    out = run_nb_models(df, NB_CFG)
    for name, res in out.items():
        assert not res.model_info["alpha_at_boundary"], name
        assert np.isfinite(res.params).all() and (res.std_errors > 0).all()
    res = out["t6_m3"]
    src = df.copy()
    for v in ("ip", "nc"):
        src[v + "_c"] = src[v] - src[v].mean()
    src["ip:nc"] = src.ip_c * src.nc_c
    exog = ["ip", "nc", "ip:nc", "ed", "ic", "ie"]
    X = _design(src, exog)
    m, s = X[:, 1:7].mean(axis=0), X[:, 1:7].std(axis=0)
    Xc = X.copy()
    Xc[:, 1:7] = (X[:, 1:7] - m) / s
    opt = optimize.minimize(nb2_negll, np.append(np.log(df.ti_count.mean()), np.zeros(X.shape[1])),
                            args=(df.ti_count.to_numpy(), Xc), method="BFGS", options={"gtol": 1e-8, "maxiter": 20000})
    slopes = opt.x[1:7] / s
    np.testing.assert_allclose(res.params[exog], slopes, rtol=1e-4, atol=1e-5)
    assert res.params["const"] == pytest.approx(opt.x[0] - slopes @ m, abs=1e-3)
    assert res.model_info["alpha"] == pytest.approx(np.exp(opt.x[-1]), rel=1e-4)
    assert res.model_info["loglik"] == pytest.approx(-opt.fun, rel=1e-9)
    assert res.model_info["lr_alpha_pvalue"] < 1e-10


def test_nb2_at_the_alpha_boundary_reduces_to_poisson():
    """Underdispersed counts given the cluster effects (as in the simulated e2e run):
    statsmodels' path ran alpha to NaN here; the fit now stops at the boundary alpha = 0
    with the Poisson estimates and SEs, which must equal statsmodels' Poisson GLM with
    the same dummies, chibar2 = 0 and p = 1."""
    import statsmodels.api as sm
    df = cluster_panel(5, n_clusters=26, alpha=0.0, level=-12.0, fractional=False)
    assert df.ti_count.max() < 1000 and df.groupby("city_code").ti_count.sum().min() > 0
    res = NegativeBinomialFE(df, "ti_count", ["ip", "ed", "ic", "ie"], entity="city_code", time="year").fit()
    info = res.model_info
    assert info["alpha_at_boundary"] and info["alpha"] == 0.0 and info["alpha_score_at_zero"] <= 0
    assert info["lr_alpha"] == 0.0 and info["lr_alpha_pvalue"] == 1.0
    assert any("boundary 0" in n for n in res.notes)
    X = _design(df, ["ip", "ed", "ic", "ie"])
    glm = sm.GLM(df.ti_count.to_numpy(), X, family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(res.params.to_numpy(), glm.params[:5], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res.std_errors.to_numpy(), glm.bse[:5], rtol=1e-6)
    assert info["loglik"] == pytest.approx(glm.llf, rel=1e-10)


def test_nb2_on_the_e2e_cluster_panel():
    """gold.cluster_year of the simulated end-to-end run (26 clusters, 2011-2020;
    tests/econ/data): all three Table 6 models failed with a NaN optimum before; now each
    ends at alpha = 0 (the profile likelihood falls monotonically in alpha) with the
    Poisson estimates, checked against statsmodels' Poisson GLM."""
    import statsmodels.api as sm
    df = pd.read_csv(DATA / "e2e_cluster_year.csv", dtype={"city_code": str}, float_precision="round_trip")
    out = run_nb_models(df, NB_CFG)
    assert set(out) == {"t6_m1", "t6_m2", "t6_m3"}
    for name, spec in zip(out, NB_CFG["models"]):
        res = out[name]
        assert res.model_info["alpha_at_boundary"], name
        if ":" in "".join(spec["terms"]):
            continue
        sub = df.dropna(subset=spec["terms"])
        glm = sm.GLM(sub.ti_count.to_numpy(), _design(sub, spec["terms"]), family=sm.families.Poisson()).fit(tol=1e-12)
        k = 1 + len(spec["terms"])
        np.testing.assert_allclose(res.params.to_numpy(), glm.params[:k], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(res.std_errors.to_numpy(), glm.bse[:k], rtol=1e-6)


def test_all_zero_cluster_is_dropped():
    df = cluster_panel(6, n_clusters=12)
    df.loc[df.city_code == df.city_code.iloc[0], "ti_count"] = 0.0
    res = NegativeBinomialFE(df, "ti_count", ["ip", "ed"], entity="city_code", time="year").fit()
    assert res.model_info["n_clusters_dropped_all_zero"] == 1 and res.nobs == len(df) - 10
    assert any("all-zero" in n for n in res.notes)
    kept = df[df.city_code != df.city_code.iloc[0]]
    ref = NegativeBinomialFE(kept, "ti_count", ["ip", "ed"], entity="city_code", time="year").fit()
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-10)
