"""The estimate stage end to end on small seeded panels written with the TableStore."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
import yaml

from patentpanel.cli import RunContext
from patentpanel.config import load_config
from patentpanel.econ import job
from patentpanel.econ.gmm import GMMSpec
from patentpanel.storage import TableStore

from econ_sim_panels import city120_year, cluster_year, firm_year


def _args(argv):
    p = argparse.ArgumentParser()
    job.add_arguments(p)
    return p.parse_args(argv)


@pytest.fixture
def ctx(spark, engines, lake, tmp_path, cfg):
    # collapsed copies of the study-1 specs keep the firm-panel fits small and fast
    doc = yaml.safe_load(open(cfg.path("estimate.gmm.models_file"), encoding="utf-8"))
    for m in doc["models"].values():
        for g in m.get("gmm", []):
            g["collapse"] = True
    models = tmp_path / "study1_collapsed.yaml"
    models.write_text(yaml.safe_dump(doc), encoding="utf-8")
    c = load_config(sets=[f"lake.root={lake}", "spark.master=local[2]",
                          f"estimate.gmm.models_file={models}", "estimate.mediation.bootstrap=4",
                          "estimate.placebo.replications=12", "estimate.placebo.partitions=2",
                          "run.seed=99",
                          # three of the FE models (one per kind of term handling) keep it short
                          'estimate.fe.models=[{name: t5_m1, table: "Table 5", terms: [ft]}, '
                          '{name: t6_l2_ct, table: "Table 6", terms: [L2.ct]}, '
                          '{name: rob_no_largest, table: Robustness, terms: [ft, ct, gpt, "ft:ct"], '
                          'sample: {exclude_largest: {by: population, n: 10}}}]'])
    return RunContext(c, _spark=spark, _engines=engines)


def test_selected_groups():
    assert job.selected_groups([], None) == ["table4", "mediation", "nb", "fe", "iv", "placebo"]
    assert job.selected_groups(["study2,placebo"], 5) == ["fe", "iv", "placebo", "montecarlo"]
    with pytest.raises(ValueError, match="unknown group 'tables'"):
        job.selected_groups(["tables"], None)


def test_missing_panels_are_skipped_with_reason(ctx):
    s = job.run(ctx, _args(["--only", "table4,fe"]))
    assert s["models_estimated"] == 0 and s["estimate_rows"] == 0
    reasons = {d["model"]: d["reason"] for d in s["skipped"]}
    assert "gold.cluster_year is missing" in reasons["model1"]
    assert any("gold.city120_year is missing" in r for m, r in reasons.items() if m.startswith("fe:"))


def test_stage_end_to_end(ctx, spark, cfg):
    store = ctx.store
    cl, fy, c120 = cluster_year(cfg, seed=21), firm_year(seed=22, n_firms=40), city120_year(seed=23)
    for name, pdf in (("gold.cluster_year", cl), ("gold.firm_year", fy), ("gold.city120_year", c120)):
        store.write(spark.createDataFrame(pdf), name)
    s = job.run(ctx, _args(["--montecarlo", "2"]))
    assert s["failed"] == [] and s["skipped"] == [], (s["failed"], s["skipped"])
    assert {"gold.estimates", "gold.placebo", "gold.placebo_summary", "gold.montecarlo",
            "gold.montecarlo_summary"} <= set(s["tables_written"])
    est = store.read("gold.estimates").toPandas()
    # Table 4 Model 2 is the System-GMM fit of the spec on the panel, term by term
    spec = GMMSpec.from_yaml(ctx.cfg.path("estimate.gmm.models_file"), "model2")
    with threadpool_limits(limits=1):   # the stage fits under estimate.driver_blas_threads: 1
        ref = spec.fit(cl)
    m2 = est[(est["table"] == "Table 4") & (est["model"] == "model2")].set_index("term")
    np.testing.assert_allclose(m2.loc[ref.params.index, "coef"], ref.params, rtol=1e-9)
    np.testing.assert_allclose(m2.loc[ref.params.index, "p"], ref.pvalues, rtol=1e-7)
    stats = json.loads(m2["stats"].iloc[0])
    assert stats["n_instruments"] == ref.n_instruments and stats["ar2_p"] == pytest.approx(ref.ar_tests[2].pvalue)
    assert set(m2["stat_kind"]) == {"z"}
    # every configured model has rows
    assert {"model1", "model2", "model3", "model4", "model5", "model6", "mediation", "t6_m1",
            "t5_m1", "t6_l2_ct", "t7_ft", "rob_no_largest"} <= set(est["model"])
    med = est[est["model"] == "mediation"].set_index("term")
    assert med.loc["indirect", "coef"] == pytest.approx(med.loc["a", "coef"] * med.loc["b", "coef"], rel=1e-12)
    fe = est[(est["model"] == "t5_m1")]
    assert set(fe["stat_kind"]) == {"t"} and fe["stats"].map(lambda x: json.loads(x)["r2"]).notna().all()
    # placebo rows and summary
    pl = store.read("gold.placebo").toPandas().sort_values("replication")
    assert len(pl) == 12 and (pl["status"] == "ok").all()
    ps = store.read("gold.placebo_summary").toPandas().iloc[0]
    b = ps["real_coef"]
    assert ps["p_two_sided"] == (1 + (np.abs(pl["coef"]) >= abs(b)).sum()) / 13
    assert len(ps["density"]) == 512 and min(ps["density_x"]) <= b <= max(ps["density_x"])
    assert b == pytest.approx(m2.loc["ip", "coef"], rel=1e-6)  # placebo's real fit = Table 4's (no diagnostics)
    mcs = store.read("gold.montecarlo_summary").toPandas()
    assert set(mcs["estimator"]) == {e["name"] for e in ctx.cfg.get("estimate.montecarlo.estimators")}
    # re-running one group replaces its rows and keeps the others
    n_before = len(est)
    s2 = job.run(ctx, _args(["--only", "table4"]))
    est2 = store.read("gold.estimates").toPandas()
    assert len(est2) == n_before and s2["models_estimated"] == 3


def test_failure_rows_and_omitted_terms_in_gold_estimates(spark, engines, lake, cfg):
    """Table 4 with the paper's (uncollapsed) specifications on the e2e cluster panel
    (its first 18 clusters, see test_gmm.e2e_first_18_clusters): Model 3's ic, ie, _cons are written with null numbers and listed in
    stats.omitted, with degenerate_cov. Then a panel without nc: Models 3 fails, its old
    rows are replaced by one failure row carrying the reason, and the summary names it."""
    from pathlib import Path
    import pandas as pd
    # xtabond2's invsym (the project's study-1 specs use pinv), whose knife-edge omissions are the case here
    models = Path(lake).parent / "study1_invsym.yaml"
    spec_text = (Path(__file__).resolve().parents[2] / "conf" / "models" / "study1.yaml").read_text(encoding="utf-8")
    assert "ginv: pinv" in spec_text
    models.write_text(spec_text.replace("ginv: pinv", "ginv: invsym"), encoding="utf-8")
    ctx = RunContext(load_config(sets=[f"lake.root={lake}", "spark.master=local[2]", "run.seed=99",
                                       f"estimate.gmm.models_file={models}"]),
                     _spark=spark, _engines=engines)
    from test_gmm import e2e_first_18_clusters
    d = e2e_first_18_clusters()
    ctx.store.write(spark.createDataFrame(d), "gold.cluster_year")
    s = job.run(ctx, _args(["--only", "table4"]))
    assert s["failed"] == [] and s["models_estimated"] == 3
    est = ctx.store.read("gold.estimates").toPandas()
    m3 = est[est["model"] == "model3"].set_index("term")
    stats = json.loads(m3["stats"].iloc[0])
    assert stats["status"] == "ok" and stats["omitted"] == ["ic", "ie", "_cons"]
    assert stats["degenerate_cov"] is True and "numerically singular" in stats["degenerate_cov_reason"]
    assert m3.loc[["ic", "ie", "_cons"], ["coef", "se", "stat", "p"]].isna().all().all()
    assert m3.loc[["L1.ti", "ip"], "coef"].notna().all()
    for model in ("model1", "model2", "model3"):   # the flags are the estimator's, model by model
        ref = GMMSpec.from_yaml(ctx.cfg.path("estimate.gmm.models_file"), model).fit(d)
        st = json.loads(est.loc[est["model"] == model, "stats"].iloc[0])
        assert (st["omitted"], st["degenerate_cov"]) == (ref.omitted, ref.degenerate_cov), model
    # the same panel without nc: Model 3 cannot be estimated
    ctx.store.write(spark.createDataFrame(d.drop(columns=["nc", "ip_x_nc"])), "gold.cluster_year")
    s2 = job.run(ctx, _args(["--only", "table4"]))
    assert [f["model"] for f in s2["failed"]] == ["model3"] and s2["models_estimated"] == 2
    assert "'nc'" in s2["failed"][0]["reason"]
    assert s2["failed"][0]["estimates"] == [{"study": "study1", "table": "Table 4", "model": "model3"}]
    est2 = ctx.store.read("gold.estimates").toPandas()
    row = est2[est2["model"] == "model3"]
    assert len(row) == 1 and row["term"].isna().all() and row["coef"].isna().all()
    assert row["estimator"].iloc[0] == "not estimated"
    fail = json.loads(row["stats"].iloc[0])
    assert fail == {"status": "failed", "reason": s2["failed"][0]["reason"]}
    assert set(est2.loc[est2["model"] == "model1", "term"]) == set(est.loc[est["model"] == "model1", "term"])
