"""The network stage through the whole pipeline against the simulator's truth manifest.

simulate (N applications, fixed seed) -> ingest -> clean -> classify under study 1's rule
(``classify.is_ai_rule=ipc``) -> network. The truth (lib/patentpanel/simulate/truth.py)
is computed independently from the simulator's plan with numpy: study 1's code-defined
AI patents, eligible (every applicant a mainland organisation) and located where the
records let a pipeline place them. Compared, over the window 2011-2020:

* gold.region_edges   == truth region_edges (year, a, b, n_collab), every row;
* gold.collaboration_counts == Table 1 per region-year derived from the truth's edges;
* gold.region_lq      AI / all application totals exactly, LQ to 1e-12, the threshold
  and the four flags (LQ > 1, threshold, potential, cluster) for all 337 regions;
* gold.clusters       the cluster set and each potential cluster's intra / inter totals.

Mismatches are reported with the region codes (and years) that differ. At this N the
truth's own cluster set has fewer than the 29 planted clusters (too few applications for
every planted cluster to pass the threshold), so the planted set is not the reference
here; on the 600k simulated lake the pipeline's cluster set equals the planted 29
(docs/network.md).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from stagerun import run_stage

from patentpanel.cli import RunContext

pytestmark = pytest.mark.slow

N = 12_000
SEED = 5
WINDOW = (2011, 2020)


@pytest.fixture(scope="module")
def run(spark, engines, cfg, tmp_path_factory):
    from patentpanel.simulate.job import simulate
    root = tmp_path_factory.mktemp("network_truth")
    sim, lake = root / "sim", root / "lake"
    c = cfg.with_overrides([f"lake.root={lake}", f"inputs.simulated={sim}", "inputs.raw=",
                            f"outputs.reports={root / 'reports'}"])
    simulate(c, sim, records=N, seed=SEED)
    ctx = RunContext(c, _spark=spark, _engines=engines)
    run_stage("patentpanel.ingest.job", ctx)
    run_stage("patentpanel.clean.job", ctx)
    c1 = c.with_overrides(["classify.is_ai_rule=ipc"])
    run_stage("patentpanel.classify.job", RunContext(c1, _spark=spark, _engines=engines))
    summary = run_stage("patentpanel.network.job", ctx, ["--skip-org-graph", "--skip-export"])
    gold = {t: ctx.store.read(f"gold.{t}").toPandas()
            for t in ("region_edges", "collaboration_counts", "region_lq", "clusters")}
    truth = {t: pd.read_parquet(sim / f"truth/{t}.parquet") for t in ("region_edges", "lq")}
    truth["manifest"] = json.loads((sim / "truth/manifest.json").read_text())
    return gold, truth, summary


def _window(df: pd.DataFrame, col: str) -> pd.DataFrame:
    return df[df[col].between(*WINDOW)]


def _diff_rows(m: pd.DataFrame, pairs, keys) -> pd.DataFrame:
    bad = np.zeros(len(m), bool)
    for mine, theirs in pairs:
        bad |= m[mine].fillna(-1).astype(float).to_numpy() != m[theirs].fillna(-1).astype(float).to_numpy()
    return m.loc[bad, list(keys) + [c for p in pairs for c in p]]


def test_study1_ai_definition_is_used(run):
    _, _, summary = run
    assert summary["ai_flag"] == "is_ai_ipc"
    assert summary["collaborations"] > 0 and summary["clusters"] > 0


def test_region_edges_equal_truth(run):
    gold, truth, _ = run
    mine = _window(gold["region_edges"], "app_year").rename(
        columns={"app_year": "year", "region_a": "a", "region_b": "b"})
    theirs = _window(truth["region_edges"], "year")
    m = mine[["year", "a", "b", "n_collab"]].merge(theirs[["year", "a", "b", "n_collab"]],
                                                  on=["year", "a", "b"], how="outer",
                                                  suffixes=("", "_truth"))
    bad = _diff_rows(m, [("n_collab", "n_collab_truth")], ["year", "a", "b"])
    assert bad.empty, f"{len(bad)} of {len(m)} region-pair-years differ: {bad.head(8).to_dict('records')}"
    assert (mine["is_intra"] == (mine["a"] == mine["b"])).all()


def test_table1_counts_equal_truth(run):
    gold, truth, _ = run
    e = _window(truth["region_edges"], "year")
    intra = e[e["a"] == e["b"]].groupby(["a", "year"])["n_collab"].sum().rename("intra")
    x = e[e["a"] != e["b"]]
    inter = (pd.concat([x.groupby(["a", "year"])["n_collab"].sum(),
                        x.groupby(["b", "year"])["n_collab"].sum().rename_axis(["a", "year"])])
             .groupby(level=[0, 1]).sum().rename("inter"))
    t1 = (pd.concat([intra, inter], axis=1).fillna(0).reset_index()
          .rename(columns={"a": "city_code"}))
    cc = _window(gold["collaboration_counts"], "app_year").rename(columns={"app_year": "year"})
    m = cc[["city_code", "year", "intra", "inter"]].merge(t1, on=["city_code", "year"], how="outer",
                                                          suffixes=("", "_truth"))
    bad = _diff_rows(m, [("intra", "intra_truth"), ("inter", "inter_truth")], ["city_code", "year"])
    assert bad.empty, f"Table 1: {len(bad)} of {len(m)} region-years differ: {bad.head(8).to_dict('records')}"
    # the window totals the truth's LQ table carries
    tot = cc.groupby("city_code")[["intra", "inter"]].sum()
    lq = truth["lq"].set_index("adcode")
    j = lq[["intra", "inter"]].join(tot, rsuffix="_gold").fillna(0)
    assert (j["intra"] == j["intra_gold"]).all() and (j["inter"] == j["inter_gold"]).all()


def _lq_merged(run):
    gold, truth, _ = run
    rl = gold["region_lq"]
    t = truth["lq"].rename(columns={"adcode": "city_code"})
    assert len(rl) == len(t) == t["city_code"].nunique()
    m = rl.merge(t, on="city_code", how="outer", suffixes=("", "_truth"), indicator=True)
    assert (m["_merge"] == "both").all(), m.loc[m["_merge"] != "both", "city_code"].tolist()
    return m


def test_all_application_totals_equal_truth(run):
    m = _lq_merged(run)
    bad = _diff_rows(m, [("all_total", "all_applications")], ["city_code"])
    assert bad.empty, f"all applications: {len(bad)} regions differ: {bad.to_dict('records')}"


def test_region_lq_equals_truth(run):
    gold, truth, _ = run
    m = _lq_merged(run)
    bad = _diff_rows(m, [("ai_total", "ai_applications")], ["city_code"])
    assert bad.empty, f"AI applications: {len(bad)} regions differ: {bad.head(8).to_dict('records')}"
    np.testing.assert_allclose(m["lq"].astype(float), m["lq_truth"].astype(float),
                               rtol=1e-12, atol=1e-12, equal_nan=True)
    info = truth["manifest"]["lq"]
    assert gold["region_lq"]["threshold"].iloc[0] == pytest.approx(info["threshold"], rel=1e-12, abs=1e-12)
    for mine, theirs in (("lq_gt1", "lq_gt_1"), ("meets_threshold", "above_threshold"),
                         ("potential", "potential_cluster"), ("is_cluster", "cluster")):
        d = m.loc[m[mine].astype(bool) != m[theirs].astype(bool), "city_code"].tolist()
        assert not d, f"{mine}: regions {d} differ from the truth's {theirs}"


def test_clusters_equal_truth(run):
    gold, truth, _ = run
    cl = gold["clusters"]
    t = truth["lq"]
    assert sorted(cl.loc[cl["is_cluster"], "city_code"]) == sorted(t.loc[t["cluster"], "adcode"])
    assert sorted(cl["city_code"]) == sorted(t.loc[t["potential_cluster"], "adcode"])
    m = cl.merge(t.rename(columns={"adcode": "city_code"}), on="city_code", suffixes=("", "_truth"))
    bad = _diff_rows(m, [("intra", "intra_truth"), ("inter", "inter_truth")], ["city_code"])
    assert bad.empty, f"cluster collaboration totals differ: {bad.to_dict('records')}"
    # the manifest's cluster list (names) is the same set
    names = dict(zip(t["adcode"], t["name_en"]))
    assert sorted(names[c] for c in cl.loc[cl["is_cluster"], "city_code"]) == \
        sorted(truth["manifest"]["clusters_truth"])

