"""Network stage per step, on a real lake (``--lake``) or a seeded synthetic table (Spark local[2]).

``--lake DIR`` (e.g. /tmp/pp_bench/lake_600000 from bench_pipeline.py; read-only: its
silver tables are copied under --work): the network stage itself (network.job.run, as
run-all calls it) twice in one session, cold (first Spark jobs of the JVM) and warm, with
wall and CPU seconds (Python driver, JVM incl. executor threads, Python workers) and the
1-minute load average per step (the stage's own step log: eligible applications + region
counts, pairs + region pairs, LQ/clusters/sensitivity, centralities of every year,
exclusion counts, organisation graph, each Delta write, GEXF/GraphML export); then the
organisation graph of the window on each engine (driver: igraph/scipy; DataFrame:
iterative Spark joins) per algorithm, with the partition-independence of the DataFrame
engine's PageRank (shuffle partitions 2 vs 7: bit-identical expected).

Without ``--lake``, the synthetic mode below:

Synthetic data (numpy, one seed): ~46k cooperative AI patents over 10 years (growing
~25 %/year), ~42k organisations (~30k of them active) over the 337 regions of conf/geo/regions_2020.csv.
Region sizes are Pareto-distributed with municipalities and provincial capitals as hubs;
organisation activity is log-normal; k applicants per patent is 2 (80 %), 3 (15 %) or
4-5 (5 %); a co-applicant is in the first applicant's region with probability 0.4, else
in a region drawn by gravity (size x exp(-distance / 600 km)).

Timed steps (each forcing full evaluation):

* ``edges``           eligible applicants -> pairs -> org edges, region edges, Table 1 counts
* ``centrality``      igraph centralities of the 10 yearly region networks (driver), and
                      networkx closeness of the same networks for comparison
* ``org_degree`` / ``org_pagerank`` / ``org_components`` / ``org_landmarks``
                      the organisation graph of the whole window, DataFrame engine

It also reports, per closeness convention and scale, the range of log NC over the
cluster-like nodes (the 29 regions with most AI applications, as in study 1's count)
across the yearly networks, to compare with study 1's -0.54 .. 3.63 (Table 2).

    .venv/bin/python benchmarks/bench_network.py [--patents 46000] [--orgs 42000] [--seed 7]

Writes benchmarks/results/network.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from patentpanel.config import conf_dir, load_config
from patentpanel.network.centrality import CONVENTIONS, CentralitySpec, yearly_centralities
from patentpanel.network.edges import (PatentFilter, collaboration_counts, eligible_applicants,
                                       org_edges, patent_pairs, region_edges)
from patentpanel.network.graph import OrgGraph
from patentpanel.session import build_session


def synthetic(n_patents: int, n_orgs: int, seed: int, regions: pd.DataFrame):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    r = len(regions)
    hub = (regions["is_municipality"].astype(bool) | regions["is_provincial_capital"].astype(bool)).to_numpy()
    size = rng.pareto(1.2, r) + 1.0
    size = size * np.where(hub, 8.0, 1.0)
    size /= size.sum()
    org_region = rng.choice(r, n_orgs, p=size)
    activity = rng.lognormal(0.0, 1.2, n_orgs)
    by_region = [np.flatnonzero(org_region == i) for i in range(r)]
    region_p = np.array([activity[o].sum() if len(o) else 0.0 for o in by_region])
    region_p /= region_p.sum()
    cum = [np.cumsum(activity[o]) / activity[o].sum() if len(o) else None for o in by_region]
    lon, lat = np.radians(regions["lon"].to_numpy()), np.radians(regions["lat"].to_numpy())
    dlon, dlat = lon[:, None] - lon[None, :], lat[:, None] - lat[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    dist = 2 * 6371 * np.arcsin(np.sqrt(a))
    grav = region_p[None, :] * np.exp(-dist / 600.0)
    np.fill_diagonal(grav, 0.0)
    grav /= grav.sum(axis=1, keepdims=True)
    years = np.arange(2011, 2021)
    wy = 1.25 ** np.arange(10)
    year = rng.choice(years, n_patents, p=wy / wy.sum())
    k = rng.choice([2, 3, 4, 5], n_patents, p=[0.80, 0.15, 0.03, 0.02])
    first_region = rng.choice(r, n_patents, p=region_p)
    codes = regions["city_code"].to_numpy()
    rows = []
    for i in range(n_patents):
        reg0 = first_region[i]
        seen = set()
        for pos in range(1, k[i] + 1):
            reg = reg0 if pos == 1 or rng.random() < 0.4 else rng.choice(r, p=grav[reg0])
            if cum[reg] is None:
                reg = reg0
            org = by_region[reg][min(np.searchsorted(cum[reg], rng.random()), len(cum[reg]) - 1)]
            if org in seen:
                continue
            seen.add(org)
            rows.append((f"P{i:07d}", pos, f"org{org:06d}", "enterprise", codes[reg], int(year[i])))
    app = pd.DataFrame(rows, columns=["app_no", "position", "name", "applicant_type", "city_code", "app_year"])
    pat = pd.DataFrame({"app_no": [f"P{i:07d}" for i in range(n_patents)], "app_year": year.astype(int),
                        "patent_type": "invention", "is_cooperative": True,
                        "has_individual": False, "all_mainland": True})
    return app, pat


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t, 3)


def lake_mode(args) -> dict:
    """The stage on a copy of a lake's silver tables, per step, cold and warm."""
    import shutil
    import sys
    import types
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_pipeline import Meter, _diff
    from patentpanel.cli import RunContext
    from patentpanel.network import job as network_job
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    work = Path(args.work)
    lake = work / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(Path(args.lake) / "silver", lake / "silver")
    cfg = load_config([], [f"lake.root={lake}", f"outputs.reports={work / 'reports'}", "inputs.raw=",
                           "spark.master=local[2]", *args.set])
    ctx = RunContext(cfg, app_name="bench-network-lake")
    load0 = os.getloadavg()
    spark = ctx.spark
    meter = Meter(int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()))
    marks: list = []

    class StepLog(logging.Handler):
        def emit(self, record):
            if hasattr(record, "step"):
                marks.append((record.step, record.seconds, meter.snapshot(), os.getloadavg()[0]))
    lg = logging.getLogger("patentpanel.network.job")
    lg.addHandler(StepLog(level=logging.DEBUG))
    lg.setLevel(logging.DEBUG)
    out: dict = {"mode": "lake", "lake": str(args.lake), "master": ctx.engines.master,
                 "cpus": os.cpu_count(), "python": platform.python_version(), "spark": spark.version,
                 "load_avg_1_5_15_start": [round(x, 2) for x in load0], "runs": {}}
    for label in ("cold", "warm"):
        marks.clear()
        a = meter.snapshot()
        t = time.perf_counter()
        summary = network_job.run(ctx, types.SimpleNamespace(skip_org_graph=False, skip_export=False))
        wall = time.perf_counter() - t
        b = meter.snapshot()
        steps, prev = [], a
        for name, sec, snap, load in marks:
            d = _diff(prev, snap)
            steps.append({"step": name, "wall_s": round(sec, 2),
                          "cpu_s": round(sum(d.values()), 2), **d, "load_1min": round(load, 2)})
            prev = snap
        d = _diff(a, b)
        out["runs"][label] = {"wall_s": round(wall, 2), "cpu_s": round(sum(d.values()), 2), **d,
                              "read_silver_s": summary["step_seconds"]["read_silver"],
                              "steps": steps,
                              "summary": {k: v for k, v in summary.items()
                                          if k not in ("tables", "exports", "step_seconds")}}
        log.warning("%s run: %.1f s wall, %.1f CPU s", label, wall, sum(d.values()))
    if args.engines:
        out["org_graph_engines"] = org_engines(ctx, meter, args)
    out["load_avg_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    spark.stop()
    return out


def org_engines(ctx, meter, args) -> dict:
    """The window's organisation graph on the driver and the DataFrame engines."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_pipeline import _diff
    from pyspark.sql import functions as F
    spark = ctx.spark
    og = ctx.cfg.section("network.org_graph")
    oe = ctx.store.read("gold.org_edges").select("org_a", "org_b").distinct()
    e = oe.select(F.xxhash64("org_a").alias("src"), F.xxhash64("org_b").alias("dst")).persist()
    res: dict = {"edges": e.count()}

    def timed_cpu(fn):
        a, t = meter.snapshot(), time.perf_counter()
        v = fn()
        d = _diff(a, meter.snapshot())
        return v, {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(sum(d.values()), 2)}
    ranks = {}
    for engine in ("driver", "dataframe"):
        r: dict = {}
        g, r["build"] = timed_cpu(lambda: OrgGraph(e, engine=engine, validate=False,
                                                   checkpoint_every=int(og["checkpoint_every"])))
        deg, r["degree"] = timed_cpu(lambda: g.degrees().toPandas())
        pr, r["pagerank"] = timed_cpu(lambda: g.pagerank(float(og["reset_probability"]), int(og["max_iter"]),
                                                         float(og["tol"])).toPandas())
        _, r["components"] = timed_cpu(lambda: g.connected_components().toPandas())
        lms = deg.sort_values(["degree", "id"], ascending=[False, True])["id"].head(int(og["landmarks"])).tolist()
        _, r["landmarks"] = timed_cpu(lambda: g.shortest_paths(lms).toPandas())
        ranks[engine] = pr.set_index("id")["pagerank"].sort_index()
        res[engine] = r
        g.unpersist()
    res["vertices"] = int(len(ranks["driver"]))
    res["pagerank_max_abs_diff_driver_vs_dataframe"] = float((ranks["driver"] - ranks["dataframe"]).abs().max())
    prev = spark.conf.get("spark.sql.shuffle.partitions")
    again = {}
    try:
        for shuffle in ("2", "7"):
            spark.conf.set("spark.sql.shuffle.partitions", shuffle)
            g = OrgGraph(e.repartition(int(shuffle)), engine="dataframe", validate=False,
                         checkpoint_every=int(og["checkpoint_every"]))
            again[shuffle] = g.pagerank(float(og["reset_probability"]), int(og["max_iter"]),
                                        float(og["tol"])).toPandas().set_index("id")["pagerank"].sort_index()
            g.unpersist()
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", prev)
    res["dataframe_pagerank_partitions_2_vs_7_max_abs_diff"] = float((again["2"] - again["7"]).abs().max())
    e.unpersist()
    return res


log = logging.getLogger("bench_network")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patents", type=int, default=46000)
    ap.add_argument("--orgs", type=int, default=42000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--landmarks", type=int, default=5)
    ap.add_argument("--lake", help="a lake with silver tables: benchmark the stage on it")
    ap.add_argument("--work", default="/tmp/bench_network", help="scratch directory (--lake)")
    ap.add_argument("--no-engines", dest="engines", action="store_false",
                    help="(--lake) skip the per-engine organisation-graph timings")
    ap.add_argument("--set", action="append", default=[], help="(--lake) configuration KEY=VALUE")
    args = ap.parse_args()
    # iterations / rounds of the graph algorithms go to stderr
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("patentpanel.network.graph").setLevel(logging.INFO)
    if args.lake:
        res = lake_mode(args)
        out = Path(__file__).resolve().parent / "results" / "network_lake.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
        print(json.dumps(res, indent=2, ensure_ascii=False))
        return
    load_start = os.getloadavg()[0]
    cfg = load_config(sets=["spark.master=local[2]", "spark.shuffle_partitions=4"])
    regions = pd.read_csv(conf_dir() / "geo" / "regions_2020.csv", dtype={"adcode": str}) \
        .rename(columns={"adcode": "city_code"})
    (app_pd, pat_pd), t_gen = timed(lambda: synthetic(args.patents, args.orgs, args.seed, regions))
    spark, engines = build_session(cfg, "bench-network")
    app = spark.createDataFrame(app_pd).persist()
    pat = spark.createDataFrame(pat_pd).persist()
    ai = spark.createDataFrame(pat_pd[["app_no"]].assign(is_ai=True, tier="CT")).persist()
    app.count(), pat.count(), ai.count()
    res: dict = {"patents": args.patents, "applicant_rows": len(app_pd),
                 "organisations_used": int(app_pd["name"].nunique()), "seed": args.seed,
                 "generate_s": t_gen, "master": engines.master, "cpus": os.cpu_count(),
                 "python": platform.python_version(), "spark": spark.version}

    def edges_step():
        elig = eligible_applicants(app, pat, ai, PatentFilter(2011, 2020))
        pairs = patent_pairs(elig, "count").persist()
        oe = org_edges(pairs).persist()
        re_ = region_edges(pairs).persist()
        cc = collaboration_counts(re_).toPandas()
        return pairs.count(), oe, oe.count(), re_.toPandas(), cc
    (n_pairs, oe, n_oe, reg, cc), res["edges_s"] = timed(edges_step)
    res.update(collaborations=n_pairs, org_edge_rows=n_oe, region_edge_rows=len(reg))

    nodes = {y: sorted(set(reg.loc[reg.app_year == y, "region_a"]) | set(reg.loc[reg.app_year == y, "region_b"]))
             for y in range(2011, 2021)}
    cen, res["centrality_igraph_s"] = timed(lambda: yearly_centralities(reg, nodes, CentralitySpec("ucinet", 1.0)))

    def nx_closeness():
        import networkx as nx
        for y, ns in nodes.items():
            e = reg[(reg.app_year == y) & (reg.region_a != reg.region_b)]
            G = nx.Graph()
            G.add_nodes_from(ns)
            G.add_edges_from(zip(e.region_a, e.region_b))
            nx.closeness_centrality(G)
    _, res["centrality_networkx_closeness_s"] = timed(nx_closeness)
    res["yearly_nodes"] = {int(y): len(v) for y, v in nodes.items()}

    # study 1 range check on cluster-like nodes: top 29 regions by first-applicant count
    first = app_pd[app_pd.position == 1].groupby("city_code").size().sort_values(ascending=False)
    proxies = set(first.index[:29])
    cl = cen[cen.city_code.isin(proxies)]
    ranges = {}
    for conv in CONVENTIONS:
        for scale in (1.0, 100.0):
            v = cl[f"closeness_{conv}"].to_numpy() * scale
            v = v[np.isfinite(v) & (v > 0)]
            lv = np.log(v)
            ranges[f"{conv}_x{int(scale)}"] = {"log_min": round(float(lv.min()), 3),
                                               "log_max": round(float(lv.max()), 3),
                                               "log_mean": round(float(lv.mean()), 3),
                                               "log_sd": round(float(lv.std(ddof=1)), 3)}
    res["log_nc_cluster_like"] = ranges
    res["study1_log_nc"] = {"log_min": -0.542, "log_max": 3.628, "log_mean": 2.682, "log_sd": 0.711}

    def org_graph():
        e = oe.select("org_a", "org_b").distinct().selectExpr("xxhash64(org_a) as src", "xxhash64(org_b) as dst")
        return OrgGraph(e, engine="auto", checkpoint_every=4)
    g, res["org_graph_build_s"] = timed(org_graph)
    res["org_engine"] = g.engine
    res["org_vertices"] = g.num_vertices()
    deg, res["org_degree_s"] = timed(lambda: g.degrees().persist())
    deg.count()
    _, res["org_pagerank_s"] = timed(lambda: g.pagerank(0.15, 100, 1e-9).count())
    cc_df, res["org_components_s"] = timed(lambda: g.connected_components().persist())
    comp = cc_df.groupBy("component").count().toPandas()
    res["org_components"] = int(len(comp))
    res["org_giant_component"] = int(comp["count"].max())
    lms = [r.id for r in deg.orderBy("degree", ascending=False).limit(args.landmarks).collect()]
    _, res["org_landmarks_s"] = timed(lambda: g.shortest_paths(lms).count())
    # the machine is shared: a 1-minute load average well above the core count means
    # the figures are inflated by other processes
    res["load_avg_1min_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    spark.stop()
    out = Path(__file__).resolve().parent / "results" / "network.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(json.dumps(res, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
