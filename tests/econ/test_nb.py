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
