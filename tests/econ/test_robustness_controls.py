"""Study 2's robustness model `rob_more_controls` needs the yearbook's industrial
diversification and financial development (conf/panels.yaml robustness_controls): the
simulator writes them (true coefficient 0), and the panels stage reads every configured
robustness column the yearbook header has."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patentpanel.panels.city120 import City120Panel
from patentpanel.panels.inputs import read_yearbook
from patentpanel.simulate.dgp import DGPSpec, build_world
from patentpanel.simulate.inputs import yearbook_frame


@pytest.fixture(scope="module")
def world(cfg):
    return build_world(DGPSpec.from_config(cfg, records=20_000, seed=5))


def test_simulated_yearbook_has_the_robustness_controls(world, cfg, tmp_path):
    yb, gaps = yearbook_frame(world)
    panel = City120Panel.from_config(cfg)
    wanted = [v["column"] for v in panel.robustness_controls.values()]
    assert {"diversification", "findev"} <= set(wanted) <= set(yb.columns)
    reg = world.regions
    study2 = yb["adcode"].isin(reg.loc[reg["study2"], "adcode"])
    s2 = yb[study2]
    assert len(s2) == int(reg["study2"].sum()) * len(world.years)
    assert s2[["diversification", "findev"]].notna().all().all()    # study samples carry no gaps
    # entropy over 19 sections: 0 < H <= ln 19; loans/GDP positive and varying across cities
    assert (s2["diversification"] > 0).all() and (s2["diversification"] <= np.log(19) + 1e-4).all()
    assert (s2["findev"] > 0).all()
    for c in ("diversification", "findev"):
        assert s2.groupby("year")[c].std().min() > 0 and s2.groupby("adcode")[c].std().max() > 0
    # gaps elsewhere are recorded with their true values
    g = gaps[gaps["column"].isin(["diversification", "findev"])]
    truth = world.yearbook.set_index(["adcode", "year"])
    if len(g):
        got = truth.loc[list(zip(g["adcode"], g["year"]))]
        for c in ("diversification", "findev"):
            m = (g["column"] == c).to_numpy()
            np.testing.assert_allclose(got.loc[m, c].to_numpy() if m.any() else [], g.loc[m, "true_value"], rtol=0)
    # the panels stage keeps a configured robustness column when the yearbook header has it
    path = tmp_path / "city_year.csv"
    yb.to_csv(path, index=False)
    hdr = pd.read_csv(path, nrows=0).columns
    rob = [c for c in wanted if c in hdr]
    read = read_yearbook(path, panel.yearbook_columns() + rob)
    assert rob == wanted and read.loc[study2.to_numpy(), ["diversification", "findev"]].notna().all().all()


def test_robustness_controls_have_true_coefficient_zero(world, cfg):
    """They do not enter the study-2 outcome (the seven Table 2 controls do), and the
    truth records their coefficient as 0."""
    s2 = world.params["study2"]
    assert set(s2["gamma_config"]) == set(cfg.get("simulate.study2.gamma"))
    assert not {"diversification", "findev"} & set(s2["gamma_config"])
    assert s2["gamma_effective"]["diversification"] == 0.0 and s2["gamma_effective"]["findev"] == 0.0
