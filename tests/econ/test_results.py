"""Result container and comparison table: stars, parentheses, statistics rows, duck typing."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from patentpanel.econ.results import EstimationResult, compare, stars


def make_result(b=(0.5, -0.2), se=(0.1, 0.2), df=20, **info):
    idx = ["ft", "ct"][:len(b)]
    return EstimationResult(params=pd.Series(b, index=idx),
                            cov=pd.DataFrame(np.diag(np.square(se)), index=idx, columns=idx),
                            nobs=1404, model_info={"entity_effects": True, "time_effects": True,
                                                   "rsquared": 0.974, **info}, df=df)


def test_inference_uses_t_with_df_or_normal():
    r = make_result()
    assert r.tstats["ft"] == pytest.approx(5.0)
    assert r.pvalues["ct"] == pytest.approx(2 * stats.t.sf(1.0, 20))
    z = make_result(df=None)
    assert z.pvalues["ct"] == pytest.approx(2 * stats.norm.sf(1.0))
    ci = r.conf_int()
    assert ci.loc["ft", "upper"] == pytest.approx(0.5 + stats.t.ppf(0.975, 20) * 0.1)
    assert "ft" in r.summary


def test_stars():
    assert stars(0.005) == "***" and stars(0.03) == "**" and stars(0.07) == "*" and stars(0.2) == ""
    assert stars(float("nan")) == ""


def test_compare_layout_and_duck_typing():
    a = make_result()
    other = SimpleNamespace(params=pd.Series({"gpt": 0.9}), std_errors=pd.Series({"gpt": 0.3}),
                            pvalues=pd.Series({"gpt": 0.004}), nobs=1287,
                            model_info={"entity_effects": True, "time_effects": False})
    t = compare({"Model 1": a, "Model 2": other}).table
    assert t.loc["ft", "Model 1"] == "0.500***"
    assert t.loc["ft ", "Model 1"] == "(5.000)"
    assert t.loc["gpt", "Model 2"] == "0.900***" and t.loc["gpt ", "Model 2"] == "(3.000)"
    assert t.loc["ft", "Model 2"] == ""
    assert t.loc["Observations", "Model 1"] == "1,404" and t.loc["Observations", "Model 2"] == "1,287"
    assert t.loc["R-squared", "Model 1"] == "0.974" and t.loc["R-squared", "Model 2"] == ""
    assert t.loc["Year FE", "Model 2"] == "No" and t.loc["City FE", "Model 2"] == "Yes"
    se = compare([a], stat="std_errors").table
    assert se.loc["ct ", "(1)"] == "(0.200)"
    with pytest.raises(ValueError, match="stat"):
        compare([a], stat="z")
    with pytest.raises(TypeError, match="model_info"):
        compare([SimpleNamespace(params=1, std_errors=1, pvalues=1, nobs=1)])
