"""Panels against the simulator's truth manifest (small N): every panel value the truth
defines is compared, counts exactly and transformed values to 1e-12. Two sources:

* ``plan``: silver.patents/applicants/ai_patents built directly from the simulator's
  plan (the applications as generated, each applicant at the city a pipeline can place it
  in, study 1's AI flag from the planned IPC codes), gold.clusters and gold.centrality
  from the truth: checks the panels stage alone.
* ``pipeline``: simulate -> ingest -> clean -> classify (study 1's rule, is_ai = the SEI
  code list) -> network -> panels. The network stage takes ``is_ai`` as its AI
  definition, so it runs on the classifier's code-defined flag (study 1); the panels then
  get the truth's planted labels and tiers as is_ai/tier (study 2's classifier accuracy is
  scored by the classify stage, not here) next to the classifier's is_ai_ipc. Skips,
  naming the missing table and the stage's error, while an upstream stage is not
  available or fails.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from stagerun import run_stage

from patentpanel.cli import RunContext

pytestmark = pytest.mark.slow

N = 20_000
SEED = 11
REL = 1e-12


def _truth(sim):
    return {n: pd.read_parquet(sim / f"truth/{n}.parquet") for n in
            ("region_year", "lq", "centrality", "study1_panel", "study2_panel", "policy_counts",
             "yearbook_truth", "firm_panel", "region_edges")} | {
        "applications": pd.read_parquet(sim / "truth/applications.parquet",
                                        columns=["app_no", "survives", "is_ai_ipc"])}


@pytest.fixture(scope="module")
def plan_built(spark, engines, cfg, tmp_path_factory):
    from patentpanel.panels.job import build_panels
    from patentpanel.simulate.dgp import DGPSpec, build_world
    from patentpanel.simulate.entities import build_entities
    from patentpanel.simulate.job import simulate
    from patentpanel.simulate.plan import iter_plan
    from patentpanel.simulate.truth import TruthAccumulator, canonical_app_no
    root = tmp_path_factory.mktemp("plan")
    sim, lake = root / "sim", root / "lake"
    c = cfg.with_overrides([f"lake.root={lake}", f"inputs.simulated={sim}"])
    simulate(c, sim, records=N, seed=SEED, render=False)
    spec = DGPSpec.from_config(c, records=N, seed=SEED)
    world = build_world(spec)
    cells = world.cells
    located = (cells[cells["region_id"] >= 0].groupby("region_id")["n_ok"].sum()
               .reindex(range(len(world.regions)), fill_value=0).to_numpy()) / len(world.years)
    ents = build_entities(spec, world.regions, located)
    ent = ents.frame
    kind = ent["kind"].to_numpy(dtype=object)
    adcode = world.regions["adcode"].to_numpy(dtype=object)
    chunks = list(iter_plan(world, ents, 1))
    acc = TruthAccumulator(world, ents, None)       # where a pipeline can place each applicant
    for ch in chunks:
        acc.add(ch)
    pats, apps, ais = [], [], []
    for ch in chunks:
        f, ids = ch.frame, ch.applicants
        ok = f["corruption"].isna().to_numpy()
        f, ids = f[ok].reset_index(drop=True), ids[ok]
        reg, _ = acc._locate(f, ids, final=True)
        city = np.where(reg >= 0, adcode[np.maximum(reg, 0)], None)
        app_no = canonical_app_no(f["app_year"], f["type_digit"], f["serial"])
        valid = ids >= 0
        k = valid.sum(axis=1)
        kinds = np.where(valid, kind[np.maximum(ids, 0)], None)
        pats.append(pd.DataFrame({
            "app_no": app_no, "patent_type": f["patent_type"].to_numpy(), "app_year": f["app_year"].to_numpy(),
            "pct": np.isin(f["type_digit"].to_numpy(), [8, 9]), "n_applicants": k,
            "has_individual": (kinds == "individual").any(axis=1),
            "all_mainland": ~np.isin(kinds, ["foreign", "hmt"]).any(axis=1),
            "n_publications": f["n_publications"].to_numpy()}))
        r, j = np.nonzero(valid)
        apps.append(pd.DataFrame({"app_no": app_no[r], "position": j + 1, "city_code": city[r, j],
                                  "share": 1.0 / k[r]}))
        ais.append(pd.DataFrame({"app_no": app_no, "is_ai": f["is_ai"].to_numpy(bool),
                                 "is_ai_ipc": [acc.codes.is_ai(c) for c in f["ipc_codes"]],
                                 "tier": f["tier"].where(f["is_ai"], None).to_numpy(dtype=object)}))
    ctx = RunContext(c, _spark=spark, _engines=engines)
    for name, parts in (("silver.patents", pats), ("silver.applicants", apps), ("silver.ai_patents", ais)):
        ctx.store.write(spark.createDataFrame(pd.concat(parts, ignore_index=True)), name, mode="overwrite")
    truth = _truth(sim)
    lq = truth["lq"].rename(columns={"adcode": "city_code"})
    ctx.store.write(spark.createDataFrame(lq[["city_code", "cluster"]].rename(columns={"cluster": "is_cluster"})),
                    "gold.clusters", mode="overwrite")
    cen = truth["centrality"].rename(columns={"adcode": "city_code", "year": "app_year"})
    ctx.store.write(spark.createDataFrame(cen[["city_code", "app_year", "nc"]]), "gold.centrality", mode="overwrite")
    built = build_panels(spark, ctx.store, c)
    run_stage("patentpanel.panels.job", ctx)          # the stage itself: validate and write
    return built, truth, ctx.store


@pytest.fixture(scope="module")
def pipeline(spark, engines, cfg, tmp_path_factory):
    from patentpanel.simulate.job import simulate
    root = tmp_path_factory.mktemp("e2e")
    sim, lake = root / "sim", root / "lake"
    c = cfg.with_overrides([f"lake.root={lake}", f"inputs.simulated={sim}", "inputs.raw="])
    simulate(c, sim, records=N, seed=SEED)
    ctx = RunContext(c, _spark=spark, _engines=engines)
    run_stage("patentpanel.ingest.job", ctx)
    run_stage("patentpanel.clean.job", ctx)
    for t in ("silver.patents", "silver.applicants"):
        if not ctx.store.exists(t):
            raise AssertionError(f"{t} missing: the clean stage did not write it")
    # study 1: the classifier under study 1's rule (is_ai = the SEI code list), then networks
    c1 = c.with_overrides(["classify.is_ai_rule=ipc"])
    run_stage("patentpanel.classify.job", RunContext(c1, _spark=spark, _engines=engines))
    classified = ctx.store.read("silver.ai_patents").select("app_no", "is_ai", "is_ai_ipc").toPandas()
    run_stage("patentpanel.network.job", ctx,
              ["--skip-org-graph", "--skip-export"])
    for t in ("gold.clusters", "gold.centrality", "gold.collaboration_counts"):
        if not ctx.store.exists(t):
            raise AssertionError(f"{t} missing: the network stage did not write it")
    network = {t: ctx.store.read(f"gold.{t}").toPandas() for t in ("clusters", "collaboration_counts")}
    # study 2: planted labels and tiers (the classifier's accuracy is not under test here)
    labels = pd.read_parquet(sim / "truth/applications.parquet",
                             columns=["app_no", "app_year", "is_ai", "tier", "survives"])
    labels = labels[labels["survives"]].drop(columns="survives")
    labels = labels.merge(classified[["app_no", "is_ai_ipc"]], on="app_no", how="left")
    ctx.store.write(spark.createDataFrame(labels), "silver.ai_patents", mode="overwrite")
    from patentpanel.panels.job import build_panels
    return build_panels(spark, ctx.store, c), _truth(sim), ctx.store, {"classified": classified, **network}


SOURCES = ["plan_built", "pipeline"]

def _same(m, mine, theirs, what, keys=("city_code", "year")):
    """Exact equality, failing with the keys of the first mismatching rows."""
    bad = m[~(m[mine].astype(float) == m[theirs].astype(float))]
    assert bad.empty, (f"{what}: {len(bad)} of {len(m)} rows differ, e.g. "
                       f"{bad[list(keys) + [mine, theirs]].head(5).to_dict('records')}")


def _close(a, b, what):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, rtol=REL, atol=REL, err_msg=what)


@pytest.mark.parametrize("source", SOURCES)
def test_clusters_and_cluster_year(source, request):
    built, truth = request.getfixturevalue(source)[:2]
    f, meta = built["cluster_year"]
    lq = truth["lq"]
    assert sorted(f["city_code"].unique()) == sorted(lq.loc[lq["cluster"], "adcode"])
    k = ["city_code", "year"]
    ry = truth["region_year"].rename(columns={"adcode": "city_code"})[k + ["ti_ipc_fractional"]]
    m = f.merge(ry, on=k, how="left")
    d = m[~np.isclose(m["ti_count"], m["ti_ipc_fractional"].fillna(0.0), rtol=REL, atol=REL)]
    assert d.empty, f"ti_count: {len(d)} cluster-years differ, e.g. {d[k + ['ti_count', 'ti_ipc_fractional']].head(5).to_dict('records')}"
    pc = truth["policy_counts"].rename(columns={"adcode": "city_code", "ip": "t_ip", "ip_city": "t_city",
                                                "ip_province": "t_prov"})
    m = f.merge(pc[k + ["t_ip", "t_city", "t_prov"]], on=k, how="left")
    _same(m, "ip_count", "t_ip", "ip_count")
    _same(m, "ip_city", "t_city", "ip_city")
    _same(m, "ip_province", "t_prov", "ip_province")
    cen = truth["centrality"].rename(columns={"adcode": "city_code", "nc": "t_nc"})[k + ["t_nc"]]
    m = f.merge(cen, on=k, how="left")
    assert (m["nc_raw"].isna() == m["t_nc"].isna()).all(), "NC present in exactly the truth's network years"
    _close(m["nc_raw"].dropna(), m["t_nc"].dropna(), "nc_raw")
    yb = truth["yearbook_truth"].rename(columns={"adcode": "city_code"})
    m = f.merge(yb, on=k, how="left")
    for mine, theirs in (("ed_raw", "gdp_per_capita"), ("ic_raw", "road_area_per_capita"),
                         ("ie_raw", "st_expenditure")):
        _same(m, mine, theirs, mine)
    # logged values: the documented rule applied to the truth's raw values; and the
    # truth's own ln_* where its rule is the same (planted clusters)
    plus = set(meta["log_plus_one"])
    for v, raw in (("ti", "ti_count"), ("ip", "ip_count"), ("nc", "nc_raw"), ("ed", "ed_raw")):
        x = f[raw].astype(float)
        _close(f[v].dropna(), (np.log1p(x) if v in plus else np.log(x.where(x > 0))).dropna(), v)
    s1 = truth["study1_panel"].rename(columns={"adcode": "city_code"})
    s1 = s1[k + ["ln_ti", "ln_ip", "ln_nc", "ln_ed", "ln_ic", "ln_ie", "ip_x_nc_c"]]
    m = f.merge(s1, on=k, how="inner")
    assert len(m) > 0
    for v in ("ed", "ic", "ie", "nc"):
        _close(m[v].dropna(), m[f"ln_{v}"].dropna(), v)
    if "ti" not in plus and np.isfinite(m["ln_ti"]).all():
        _close(m["ti"], m["ln_ti"], "ti vs truth ln_ti")
    if sorted(f["city_code"].unique()) == sorted(s1["city_code"].unique()):
        _close(m["ip_x_nc"].dropna(), m["ip_x_nc_c"].dropna(), "ip_x_nc vs truth (centred on 2012-2020)")


@pytest.mark.parametrize("source", SOURCES)
def test_city120_year(source, request):
    built, truth = request.getfixturevalue(source)[:2]
    f, meta = built["city120_year"]
    s2 = truth["study2_panel"].rename(columns={"adcode": "city_code"})
    assert len(f) == len(s2) == 120 * 12
    m = f.merge(s2, on=["city_code", "year"], how="inner", suffixes=("", "_t"))
    assert len(m) == len(f)
    for c in ("ft_count", "ct_count", "gpt_count"):
        _same(m, c, f"{c}_t", c)
    for c in ("ft", "ct", "gpt"):
        _close(m[c], m[f"{c}_t"], c)
    _close(m["population"], m["population_10k"], "population")
    _close(m["innovation_index"], m["index"], "innovation index")
    if "_log_innovation" not in meta["log_plus_one"]:
        _close(m["innovation"], m["innovation_t"], "innovation")
    for c in ("ecodevelop", "fdi", "open", "eduexp", "indstru", "techlevel"):
        _close(m[c], m[f"{c}_t"], c)
    for mine, theirs in (("coastal", "coastal_t"), ("capital", "capital_t"), ("transport", "transport_hub"),
                         ("cityscale", "city_scale")):
        assert (m[mine] == m[theirs]).all(), mine
    ry = truth["region_year"].rename(columns={"adcode": "city_code"})
    m = f.merge(ry, on=["city_code", "year"])
    for t in ("invention", "utility", "design"):
        _same(m, f"{t}_count", f"all_{t}", f"{t}_count")


@pytest.mark.parametrize("source", SOURCES)
def test_firm_year(source, request):
    built, truth = request.getfixturevalue(source)[:2]
    f, meta = built["firm_year"]
    fp = truth["firm_panel"]
    fp["firm_id"] = fp["firm_id"].astype(str)
    clusters = set(built["cluster_year"][0]["city_code"])
    keep = fp[fp["complete_firm"] & fp["adcode"].isin(clusters)].drop(columns=["gs"])
    assert sorted(f["firm_id"].unique()) == sorted(keep["firm_id"].unique())
    m = f.merge(keep, on=["firm_id", "year"])
    assert len(m) == len(f)
    _same(m, "ti_count", "invention_applications", "TI^ counts", keys=("firm_id", "year"))
    if "ti" in meta["log_plus_one"]:
        _close(m["ti"], m["ti_hat"], "TI^ = log(1 + applications)")
    if "ip" in meta["log_plus_one"]:
        _close(m["ip"], m["ip_log1p"], "IP = log(1 + city IP)")
    _close(m["gs"], np.log(m["subsidies"]), "GS = log(subsidies)")


def test_stage_writes_gold_tables_with_metadata(plan_built):
    built, _, store = plan_built
    for name in ("cluster_year", "city120_year", "firm_year", "descriptives"):
        df = store.read(f"gold.{name}")
        assert df.count() == len(built[name][0]), name
    meta = store.history("gold.cluster_year")[0]["metadata"]
    assert meta["stage"] == "panels" and sorted(meta["log_plus_one"]) == sorted(built["cluster_year"][1]["log_plus_one"])
    d = store.read("gold.descriptives").toPandas()
    assert set(d["table"]) == {"study1_table2", "study1_table3", "study1_vif", "study2_table4"}
    t2 = d[(d["table"] == "study1_table2") & (d["statistic"] == "mean")].set_index("variable")["value"]
    f = built["cluster_year"][0]
    assert t2["ti"] == pytest.approx(f["ti"].mean(), rel=1e-14)


def test_pipeline_ai_ipc_equals_truth(pipeline):
    """Clean's IPC normalisation + the classifier's SEI matching = the simulator's own
    code-list check, application by application."""
    got = pipeline[3]["classified"]
    apps = pipeline[1]["applications"]
    apps = apps[apps["survives"]]
    m = apps.merge(got, on="app_no", how="outer", indicator=True)
    assert (m["_merge"] == "both").all(), m.loc[m["_merge"] != "both", ["app_no", "_merge"]].head()
    bad = m[m["is_ai_ipc_x"] != m["is_ai_ipc_y"]]
    assert bad.empty, f"{len(bad)} applications differ, e.g. {bad['app_no'].head(5).tolist()}"
    assert (m["is_ai"] == m["is_ai_ipc_y"]).all(), "study 1's rule: is_ai = is_ai_ipc"


def _truth_collaborations(truth):
    e = truth["region_edges"]
    e = e[e["year"].between(2011, 2020)]
    intra = e[e["a"] == e["b"]].groupby(["a", "year"])["n_collab"].sum()
    x = e[e["a"] != e["b"]]
    inter = pd.concat([x[["a", "year", "n_collab"]],
                       x[["b", "year", "n_collab"]].rename(columns={"b": "a"})]).groupby(["a", "year"])["n_collab"].sum()
    out = pd.concat([intra.rename("t_intra"), inter.rename("t_inter")], axis=1).fillna(0).astype(np.int64)
    out.index.names = ["city_code", "year"]
    return out.reset_index()


def test_pipeline_collaborations_and_clusters(pipeline):
    """Table 1 (intra/inter collaborations per city-year) and the cluster set of the
    network stage equal the truth's (study 1's code-defined AI)."""
    _, truth, _, net = pipeline
    cc = net["collaboration_counts"].rename(columns={"app_year": "year"})
    cc = cc[cc["year"].between(2011, 2020)]
    t = _truth_collaborations(truth)
    m = cc.merge(t, on=["city_code", "year"], how="outer").fillna(0)
    assert len(m) > 50
    _same(m, "intra", "t_intra", "intra collaborations")
    _same(m, "inter", "t_inter", "inter collaborations")
    lq = truth["lq"]
    got = sorted(net["clusters"].loc[net["clusters"]["is_cluster"].astype(bool), "city_code"])
    assert got == sorted(lq.loc[lq["cluster"], "adcode"])
