"""The report stage end to end on small gold tables written with the TableStore: every
artefact's files, index.html links, lineage sidecars matching the store's versions, time
travel to the version a table was built from, re-runs without duplicates, planted values."""
from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from patentpanel import __version__
from patentpanel.cli import RunContext
from patentpanel.config import load_config
from patentpanel.econ.fe import run_models
from patentpanel.econ.gmm import GMMSpec
from patentpanel.econ.iv import run_iv_models
from patentpanel.econ.job import ESTIMATE_COLUMNS, result_rows
from patentpanel.econ.nb import run_nb_models
from patentpanel.report import job

from report_fixtures import city120_year, cluster_year, descriptives_frame, network_frames


def _args(argv=()):
    p = argparse.ArgumentParser()
    job.add_arguments(p)
    return p.parse_args(list(argv))


def _estimates(cfg, cl, c120) -> pd.DataFrame:
    rows = []
    specs = GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"))
    for m in ("model2", "model3"):
        rows += result_rows("study1", "Table 4", m, specs[m].fit(cl))
    est = cfg.section("estimate")
    nb = run_nb_models(cl, {**est["nb"], "models": est["nb"]["models"][1:2]})
    for k, r in nb.items():
        rows += result_rows("study1", "Table 6", k, r)
    for k, r in run_models(c120, est["fe"], entity="city_code", time="year",
                           only=["t5_m1", "t5_m2", "t5_m3", "t5_m4", "t5_m5"]).items():
        rows += result_rows("study2", "Table 5", k, r)
    for k, r in run_iv_models(c120, {**est["iv"], "models": est["iv"]["models"][:1]}, est["fe"]).items():
        rows += result_rows("study2", "Table 7", k, r)
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)


PLACEBO_SUMMARY = ("model string, scheme string, term string, seed string, replications long, succeeded long, "
                   "failed long, real_coef double, mean double, p_two_sided double, density_x array<double>, "
                   "density array<double>")


@pytest.fixture(scope="module")
def built(spark, engines, tmp_path_factory):
    """Built once for the module (the tests run in file order: first run, subset, re-run)."""
    tmp_path = tmp_path_factory.mktemp("report")
    lake = tmp_path / "lake"
    cfg = load_config(sets=[f"lake.root={lake}", "spark.master=local[2]", f"outputs.reports={tmp_path / 'reports'}",
                            f"inputs.simulated={tmp_path / 'sim'}", "run.seed=4242"])
    ctx = RunContext(cfg, _spark=spark, _engines=engines)
    store = ctx.store
    cl, c120 = cluster_year(cfg, 21), city120_year(23, 30)
    store.write(spark.createDataFrame(cl), "gold.cluster_year", metadata={"stage": "panels"})
    for name, pdf in network_frames(cfg).items():
        store.write(spark.createDataFrame(pdf), name, metadata={"stage": "network"})
    store.write(spark.createDataFrame(descriptives_frame(cl, c120)), "gold.descriptives")
    est = _estimates(cfg, cl, c120)
    store.write(spark.createDataFrame(est), "gold.estimates", metadata={"stage": "estimate", "seed": 4242})
    rng = np.random.default_rng(0)
    draws = rng.normal(0.0, 0.01, 200)
    x = np.linspace(-0.04, 0.04, 64)
    from scipy import stats
    real = float(est.query("model == 'model2' and term == 'ip'")["coef"].iloc[0])
    summ = [("model2", "within_year", "ip", "4242", 200, 200, 0, real, float(draws.mean()), 0.01,
             [float(v) for v in x], [float(v) for v in stats.gaussian_kde(draws)(x)])]
    store.write(spark.createDataFrame(summ, PLACEBO_SUMMARY), "gold.placebo_summary")
    # a truth manifest as the simulator writes it (recovery section)
    truth = tmp_path / "sim" / "truth"
    truth.mkdir(parents=True)
    planted = {"ti_lag": 0.809, "ip": 0.065, "nc": -0.099, "ip_x_nc": -0.061, "ed": 0.546, "ic": 0.248, "ie": 0.095,
               "const": -6.542}
    (truth / "manifest.json").write_text(json.dumps({
        "seed": 7, "records": 1000, "clusters_planted": [],
        "recovery": {"study1_eq3": {"planted": planted, "estimator": "System GMM.", "tolerance": "2.5 SE"}}}))
    summary = job.run(ctx, _args())
    return ctx, summary, est, planted


def test_stage_writes_every_artefact_with_lineage(built):
    ctx, s, est, planted = built
    out = Path(s["out"])
    assert s["failed"] == {}, s["failed"]
    # models not estimated here (Table 5 of study 1, Tables 6/8, ...) are reported, not faked
    assert "s2_table6" in s["unavailable"] and "run the estimate stage" in s["unavailable"]["s2_table6"]
    assert "s1_fig6" not in s["unavailable"]          # draws table absent: density only
    ok = ["s1_table1", "s1_table2", "s1_table3", "s1_supp_a", "s1_supp_b", "s2_table4", "s1_table4",
          "s1_table6", "s2_table5", "s2_table7"]
    for key in ok:
        for fmt in ("md", "tex", "html", "csv", "docx"):
            assert (out / "tables" / f"{key}.{fmt}").is_file(), (key, fmt)
    for key in ("s1_fig2", "s1_fig3", "s1_fig4", "s1_fig5", "s1_fig6", "s2_fig_tiers", "s2_fig_interactions"):
        assert (out / "figures" / f"{key}.png").is_file() and (out / "figures" / f"{key}.svg").is_file(), key
    # index.html: every link and image resolves to a file
    html = (out / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:href|src)="([^"#]+)"', html)
    assert len(refs) > 60
    for r in refs:
        assert (out / r).is_file(), r
    assert "<script" not in html and "stylesheet" not in html
    assert "Planted values" in html and "Not available in this run" in html
    # lineage: versions as in the store, config fingerprint, package version, seeds
    store = ctx.store
    lin = json.loads((out / "tables" / "s1_table4.lineage.json").read_text())
    assert lin["inputs"]["gold.estimates"]["version"] == store.version("gold.estimates")
    assert lin["config_fingerprint"] == ctx.cfg.fingerprint() and lin["package_version"] == __version__
    assert lin["seeds"]["run.seed"] == 4242 and lin["seeds"]["gold.estimates"] == 4242
    fig = json.loads((out / "figures" / "s1_fig4.lineage.json").read_text())
    assert set(fig["inputs"]) == {"gold.estimates", "gold.cluster_year"}
    assert fig["inputs"]["gold.cluster_year"]["version"] == store.version("gold.cluster_year")
    run = json.loads((out / "lineage.json").read_text())
    assert run["inputs_missing"].keys() == {"gold.placebo"}
    # the GMM table's coefficient is the estimate to full precision in the CSV
    m2 = est.query("model == 'model2' and term == 'ip'").iloc[0]
    rows = list(csv.DictReader(open(out / "tables" / "s1_table4.csv", encoding="utf-8")))
    cell = next(r for r in rows if r["row"] == "IP" and r["row_kind"] == "coef" and r["column"].endswith("Model 2"))
    assert float(cell["value"]) == m2["coef"] and float(cell["p"]) == m2["p"]
    # planted values beside the estimates
    truth = list(csv.DictReader(open(out / "tables" / "sim_truth.csv", encoding="utf-8")))
    ip = next(r for r in truth if r["row"].endswith(": IP") and r["column"] == "Planted")
    assert float(ip["value"]) == planted["ip"]
    est3 = next(r for r in truth if r["row"].endswith(": IP") and r["column"] == "Estimate")
    assert float(est3["value"]) == est.query("model == 'model3' and term == 'ip'")["coef"].iloc[0]


def test_only_some_artefacts_and_unknown_keys(built):
    ctx, s, _, _ = built
    n_files = len(list((Path(s["out"]) / "tables").iterdir()))
    s2 = job.run(ctx, _args(["--tables", "s1_table2", "--figures", "s1_fig2"]))
    assert s2["produced"] == 2 and s2["stale_removed"] == 0
    assert len(list((Path(s["out"]) / "tables").iterdir())) == n_files   # the others are kept
    with pytest.raises(Exception, match="unknown table/figure key"):
        job.run(ctx, _args(["--tables", "table99"]))


def test_rerun_overwrites_and_lineage_time_travels(built):
    ctx, s, est, _ = built
    out = Path(s["out"])
    store, spark = ctx.store, ctx.spark
    v0 = store.version("gold.estimates")
    before = sorted(p.name for p in (out / "tables").iterdir())
    (out / "tables" / "stale_from_old_run.md").write_text("old")
    changed = est.copy()
    changed.loc[(changed["model"] == "model2") & (changed["term"] == "ip"), "coef"] *= 2
    store.write(spark.createDataFrame(changed), "gold.estimates")
    s2 = job.run(ctx, _args())
    assert s2["stale_removed"] == 1
    assert sorted(p.name for p in (out / "tables").iterdir()) == before
    lin = json.loads((out / "tables" / "s1_table4.lineage.json").read_text())
    assert lin["inputs"]["gold.estimates"]["version"] == v0 + 1
    # the earlier version is still what the first report showed
    old = store.read("gold.estimates", version=v0).toPandas()
    assert old.query("model == 'model2' and term == 'ip'")["coef"].iloc[0] == est.query(
        "model == 'model2' and term == 'ip'")["coef"].iloc[0]
    md = (out / "tables" / "s1_table4.md").read_text()
    new = changed.query("model == 'model2' and term == 'ip'")["coef"].iloc[0]
    assert f"{new:.3f}" in md
