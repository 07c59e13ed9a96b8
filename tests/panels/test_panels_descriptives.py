"""Descriptives against independent references: numpy/pandas moments, scipy.stats.pearsonr
(r and p), statsmodels' variance_inflation_factor."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.outliers_influence import variance_inflation_factor

from patentpanel.panels.descriptives import DescriptiveTables, correlations, summary_stats, vif
from patentpanel.panels.validate import DESCRIPTIVES


@pytest.fixture
def panel():
    rng = np.random.default_rng(7)
    n = 60
    a = rng.normal(size=n)
    b = 0.6 * a + rng.normal(size=n)
    c = rng.normal(size=n) - 0.3 * b
    d = pd.DataFrame({"a": a, "b": b, "c": c})
    d.loc[[3, 17], "b"] = np.nan           # unbalanced: pairwise counts differ
    d.loc[[5], "c"] = np.nan
    return d


def test_summary_stats_match_pandas(panel):
    s = summary_stats(panel, ["a", "b"]).set_index("variable")
    b = panel["b"].dropna()
    assert s.loc["b", "obs"] == 58
    assert s.loc["b", "mean"] == pytest.approx(b.mean(), abs=1e-15)
    assert s.loc["b", "sd"] == pytest.approx(np.std(b.to_numpy(), ddof=1), rel=1e-13)
    assert (s.loc["b", "min"], s.loc["b", "max"]) == (b.min(), b.max())


def test_pairwise_correlations_and_p_values_match_scipy(panel):
    c = correlations(panel, ["a", "b", "c"]).set_index(["variable", "other"])
    for x, y in (("b", "a"), ("c", "a"), ("c", "b")):
        m = panel[x].notna() & panel[y].notna()
        ref = stats.pearsonr(panel.loc[m, x], panel.loc[m, y])
        assert c.loc[(x, y), "r"] == pytest.approx(ref.statistic, abs=1e-13)
        assert c.loc[(x, y), "p_value"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
        assert c.loc[(x, y), "n"] == int(m.sum())
    assert c.loc[("c", "b"), "n"] == 57 and c.loc[("a", "a"), "r"] == 1.0
    lw = correlations(panel, ["a", "b", "c"], missing="listwise")
    assert set(lw["n"]) == {57}


def test_vif_matches_statsmodels(panel):
    cols = ["a", "b", "c"]
    v = vif(panel, cols).set_index("variable")
    d = panel[cols].dropna()
    X = np.column_stack([np.ones(len(d)), d.to_numpy()])
    for j, col in enumerate(cols, start=1):
        assert v.loc[col, "vif"] == pytest.approx(variance_inflation_factor(X, j), rel=1e-11)
    assert (v["n"] == len(d)).all()


def test_long_table_validates_and_keeps_order(panel):
    t = DescriptiveTables()
    t.add_summary("t2", "gold.x", panel, ["a", "b"], ["A", "B"])
    t.add_correlations("t3", "gold.x", panel, ["a", "b"], ["A", "B"])
    t.add_vif("vif", "gold.x", panel, ["a", "b", "c"])
    f = DESCRIPTIVES.validate(t.frame())
    row = f[(f["table"] == "t3") & (f["variable"] == "b") & (f["other"] == "a") & (f["statistic"] == "p_value")]
    assert len(row) == 1 and 0 <= row["value"].iloc[0] <= 1
    assert f.loc[f["table"] == "t2", "label"].unique().tolist() == ["A", "B"]
    assert f.loc[(f["table"] == "t2") & (f["variable"] == "b"), "position"].unique().tolist() == [1]
