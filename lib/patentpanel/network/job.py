"""The ``network`` stage: silver tables -> co-application edges, centralities, LQ, clusters.

extract: silver.applicants, silver.patents, silver.ai_patents (ctx.store) and the
gazetteer; transform: :func:`transform` (pure, DataFrames in, DataFrames out); load:
gold.org_edges, gold.region_edges, gold.collaboration_counts, gold.centrality,
gold.region_lq, gold.clusters, gold.threshold_sensitivity and, with
``network.org_graph.enabled``, gold.org_graph (organisation degree, PageRank, component,
landmark distances); GEXF/GraphML exports under outputs.reports.
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .centrality import CentralitySpec, yearly_centralities
from .edges import (PatentFilter, collaboration_counts_frame, eligible_applications,
                    exclusion_counts, org_edges, patent_pairs, region_edges_frame,
                    region_pair_counts)
from .lq import ClusterIdentification, location_quotients, read_gazetteer, region_applications

log = logging.getLogger("patentpanel.network.job")

__all__ = ["add_arguments", "run", "transform", "NetworkResult", "org_graph_metrics"]

NODE_SETS = ("active", "inter", "gazetteer")

CENTRALITY_SCHEMA = (
    "app_year int, city_code string, n_nodes int, component_size int, degree int, "
    "weighted_degree double, closeness_ucinet double, closeness_wf double, "
    "closeness_harmonic double, closeness_component double, nc double, betweenness double, "
    "betweenness_norm double, constraint double, effective_size double, is_cluster boolean, "
    "nc_convention string, nc_scale double")
REGION_LQ_SCHEMA = (
    "city_code string, city_name string, ai_total double, all_total double, ai_mean double, "
    "all_mean double, ai_share double, lq double, ai_scale double, lq_gt1 boolean, "
    "threshold double, meets_threshold boolean, potential boolean, is_cluster boolean")
CLUSTERS_SCHEMA = (
    "city_code string, city_name string, lq double, ai_total double, ai_mean double, "
    "all_total double, intra long, inter long, has_intra boolean, has_inter boolean, "
    "is_cluster boolean")
REGION_EDGES_SCHEMA = ("app_year int, region_a string, region_b string, is_intra boolean, "
                       "n_collab long, weight double")
COLLAB_SCHEMA = ("city_code string, app_year int, intra long, inter long, intra_weight double, "
                 "inter_weight double")
SENSITIVITY_SCHEMA = (
    "percentile double, method string, threshold double, n_lq_gt1 int, n_potential int, "
    "n_excluded int, excluded_codes array<string>, excluded_names array<string>")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-org-graph", action="store_true",
                        help="do not compute the organisation graph (gold.org_graph)")
    parser.add_argument("--skip-export", action="store_true",
                        help="do not write GEXF/GraphML files")


@dataclass
class NetworkResult:
    """Every output of the stage (Spark DataFrames) plus a summary."""
    org_edges: DataFrame
    region_edges: DataFrame
    collaboration_counts: DataFrame
    centrality: DataFrame
    region_lq: DataFrame
    clusters: DataFrame
    threshold_sensitivity: DataFrame
    org_graph: DataFrame | None = None
    region_edges_pd: pd.DataFrame | None = None
    cluster_codes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    cached: list = field(default_factory=list)   # intermediates to unpersist after the writes
    steps: Any = None                             # _Steps: seconds per step
    driver_built: set = field(default_factory=set)  # tables made from pandas (small)

    def tables(self) -> dict[str, DataFrame]:
        t = {"gold.org_edges": self.org_edges, "gold.region_edges": self.region_edges,
             "gold.collaboration_counts": self.collaboration_counts,
             "gold.centrality": self.centrality, "gold.region_lq": self.region_lq,
             "gold.clusters": self.clusters,
             "gold.threshold_sensitivity": self.threshold_sensitivity}
        if self.org_graph is not None:
            t["gold.org_graph"] = self.org_graph
        return t


def _nodes_by_year(reg: pd.DataFrame, years: range, mode: str, universe: list[str]) -> dict:
    if mode not in NODE_SETS:
        raise ValueError(f"network.centrality.nodes: {mode!r} not in {NODE_SETS}")
    out = {}
    for y in years:
        e = reg[reg["app_year"] == y]
        if mode == "gazetteer":
            out[y] = list(universe)
        elif mode == "inter":
            e = e[e["region_a"] != e["region_b"]]
            out[y] = sorted(set(e["region_a"]) | set(e["region_b"]))
        else:
            out[y] = sorted(set(e["region_a"]) | set(e["region_b"]))
    return out


class _Steps:
    """Wall seconds per step of the stage, logged at DEBUG (with ``step`` and ``seconds``
    attributes, for benchmarks that add CPU accounting) and kept for the summary."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        sec = now - self._t
        self._t = now
        self.seconds[name] = round(self.seconds.get(name, 0.0) + sec, 3)
        log.debug("step %s: %.2f s", name, sec, extra={"step": name, "seconds": sec})


ORG_GRAPH_SCHEMA = ("org_id long, name string, degree int, pagerank double, component long, "
                    "component_size int, landmark_distances map<string,int>")


def org_graph_metrics(org_edges_df: DataFrame, cfg, engine: str = "auto") -> DataFrame:
    """gold.org_graph: (org_id, name, degree, pagerank, component, component_size,
    landmark_distances) of the window's organisation graph.

    Organisations get 64-bit ids from xxhash64 of their name (stable under any
    partitioning); a collision raises rather than merging two organisations. When the
    driver engine runs (``graph.engine`` driver, or auto without GraphFrames and at most
    ``network.org_graph.driver_max_edges`` edges), the named edge list is collected once
    and the whole table is computed on the driver; otherwise :class:`~.graph.OrgGraph`
    runs on Spark."""
    return _org_graph(org_edges_df, cfg, engine)[0]


def _org_graph(org_edges_df: DataFrame, cfg, engine: str) -> tuple[DataFrame, str]:
    """(gold.org_graph, the engine that ran)."""
    from .graph import select_engine
    og = cfg.section("network.org_graph")
    named = (org_edges_df.select("org_a", "org_b").distinct()
             .select("org_a", "org_b", F.xxhash64("org_a").alias("src"),
                     F.xxhash64("org_b").alias("dst"))).persist()
    try:
        chosen, reason = select_engine(org_edges_df.sparkSession, engine, named.count,
                                       int(og["driver_max_edges"]))
        if chosen == "driver":
            out = _org_graph_on_driver(named.toPandas(), og)
            res = org_edges_df.sparkSession.createDataFrame(out, ORG_GRAPH_SCHEMA)
            log.info("organisation graph: engine driver (%s)", reason)
            return res, chosen
        return _org_graph_on_spark(named, og, chosen, reason), chosen
    finally:
        named.unpersist()


def _org_graph_on_driver(named: pd.DataFrame, og) -> pd.DataFrame:
    """gold.org_graph rows from the collected (org_a, org_b, src, dst) edge list."""
    from .graph_driver import DriverGraph
    ends = pd.concat([named[["org_a", "src"]].set_axis(["name", "id"], axis=1),
                      named[["org_b", "dst"]].set_axis(["name", "id"], axis=1)],
                     ignore_index=True).drop_duplicates()
    clash = ends.loc[ends["id"].duplicated(keep=False), "id"].unique()
    if len(clash):
        raise ValueError(f"organisation id collision (xxhash64) for ids {clash[:3].tolist()}")
    ends = ends.sort_values("id").reset_index(drop=True)
    g = DriverGraph(ends["id"].to_numpy(), named["src"].to_numpy(), named["dst"].to_numpy())
    out = g.degrees().merge(g.pagerank(1.0 - float(og["reset_probability"]), int(og["max_iter"]),
                                       float(og["tol"])), on="id")
    out = out.merge(g.connected_components(), on="id")
    out["component_size"] = out.groupby("component")["id"].transform("size").astype("int32")
    out = out.merge(ends, on="id")
    k = int(og["landmarks"])
    maps: list[dict] = [{} for _ in range(len(out))]
    if k > 0 and len(out):
        lms = out.sort_values(["degree", "id"], ascending=[False, True])["id"].head(k).tolist()
        lm_name = dict(zip(ends["id"], ends["name"]))
        pos = pd.Index(out["id"])
        sp = g.shortest_paths(lms)
        for vid, lm, dist in zip(sp["id"].to_numpy(), sp["landmark"].to_numpy(), sp["dist"].to_numpy()):
            maps[pos.get_loc(vid)][lm_name[lm]] = int(dist)
    out["landmark_distances"] = maps
    return (out.rename(columns={"id": "org_id"})
            [["org_id", "name", "degree", "pagerank", "component", "component_size",
              "landmark_distances"]].sort_values("org_id").reset_index(drop=True))


def _org_graph_on_spark(named: DataFrame, og, engine: str, reason: str) -> DataFrame:
    from .graph import OrgGraph
    names = (named.select(F.col("org_a").alias("name"), F.col("src").alias("id"))
             .union(named.select(F.col("org_b").alias("name"), F.col("dst").alias("id")))
             .distinct()).persist()
    clash = names.groupBy("id").count().where("count > 1").limit(3).collect()
    if clash:
        raise ValueError(f"organisation id collision (xxhash64) for ids {[r.id for r in clash]}")
    g = OrgGraph(named.select("src", "dst"), names.select("id"), engine=engine,
                 checkpoint_every=int(og["checkpoint_every"]),
                 checkpoint_dir=og["checkpoint_dir"] or None, validate=False)
    deg = g.degrees().persist()
    pr = g.pagerank(float(og["reset_probability"]), int(og["max_iter"]), float(og["tol"]))
    cc = g.connected_components()
    size = cc.groupBy("component").agg(F.count("*").cast("int").alias("component_size"))
    k = int(og["landmarks"])
    lms = [r.id for r in deg.orderBy(F.desc("degree"), "id").limit(k).collect()] if k > 0 else []
    out = (names.join(deg, "id").join(pr, "id").join(cc, "id").join(size, "component"))
    if lms:
        sp = g.shortest_paths(lms)
        lm_names = {r.id: r.name for r in names.where(F.col("id").isin(lms)).collect()}
        mapping = F.create_map(*[x for i in lms for x in (F.lit(i), F.lit(lm_names[i]))])
        named_d = F.map_from_entries(F.transform(F.map_entries("distances"),
                                                 lambda kv: F.struct(mapping[kv["key"]].alias("key"),
                                                                     kv["value"].alias("value"))))
        out = out.join(sp.select("id", named_d.alias("landmark_distances")), "id")
    else:
        out = out.withColumn("landmark_distances", F.create_map().cast("map<string,int>"))
    res = out.select(F.col("id").alias("org_id"), "name", "degree", "pagerank",
                     "component", "component_size", "landmark_distances")
    log.info("organisation graph: engine %s (%s)", g.engine, reason)
    return res


def transform(spark: SparkSession, cfg, applicants: DataFrame, patents: DataFrame,
              ai_patents: DataFrame, regions: pd.DataFrame | None = None, *,
              org_graph: bool = True, graph_engine: str = "auto") -> NetworkResult:
    """All outputs from the three silver tables (pure: no reads or writes).

    Spark does the patent-sized work: eligible applicants (once, cached), their region x
    year application counts (one job), applicant pairs (cached) aggregated to region
    pairs (one job), organisation edges and, above the driver limit, the organisation
    graph. Everything region-sized (Table 1, LQ, clusters, sensitivity, centralities)
    is computed on the driver from those two small collects."""
    spec = PatentFilter.from_config(cfg)
    cspec = CentralitySpec.from_config(cfg)
    weighting = cfg.get("network.edges.weight")
    counting = cfg.get("network.lq.counting")
    ident = ClusterIdentification.from_config(cfg)
    years = range(spec.start, spec.end + 1)
    steps = _Steps()

    # every application that counts, with its eligible applicants and AI flag (cached):
    # the AI ones feed the edges and the numerator of Eq. 1, all its denominator
    elig = eligible_applications(applicants, patents, ai_patents, spec, ai_only=False).persist()
    elig_ai = elig.where("is_ai")
    if spec.exclusions_apply_to_all:
        apps_df = region_applications(None, elig, counting)
    else:
        elig_all = eligible_applications(applicants, patents, ai_patents, spec, ai_only=False,
                                         apply_exclusions=False)
        apps_df = region_applications(elig_ai, elig_all, counting)
    apps = apps_df.toPandas()
    steps.done("eligible_applications_and_region_counts")

    pairs = patent_pairs(elig_ai, weighting).persist()
    pair_counts = region_pair_counts(pairs).toPandas()
    steps.done("pairs_and_region_pairs")
    n_pairs = int(pair_counts["n_collab"].sum())
    unlocated = int(pair_counts.loc[pair_counts["region_a"].isna(), "n_collab"].sum())
    if unlocated:
        log.warning("%d of %d collaborations have an unlocated applicant; they are in "
                    "gold.org_edges but not in the region tables", unlocated, n_pairs)
    oe = org_edges(pairs).persist()          # written, and the organisation graph's input

    # region-sized tables on the driver
    reg = region_edges_frame(pair_counts)
    cc_pd = collaboration_counts_frame(reg)
    unlocated_apps = float(apps.loc[apps["city_code"].isna(), "all_apps"].sum())
    if unlocated_apps:
        log.warning("%.0f applications have an unlocated counted applicant; left out of the LQ",
                    unlocated_apps)
    universe = regions if cfg.get("network.lq.universe") == "gazetteer" else None
    lq = location_quotients(apps, spec.start, spec.end, universe)
    totals = cc_pd[cc_pd["app_year"].between(spec.start, spec.end)] \
        .groupby("city_code", as_index=False)[["intra", "inter"]].sum()
    res = ident.fit(lq, totals)
    clusters = res.cluster_codes
    region_lq = res.region_lq.assign(is_cluster=res.region_lq["city_code"].isin(clusters))
    steps.done("lq_clusters_sensitivity")

    # centralities, one network per year
    all_codes = sorted(universe["city_code"]) if universe is not None else sorted(lq["city_code"])
    nodes = _nodes_by_year(reg, years, cfg.get("network.centrality.nodes"), all_codes)
    scope = cfg.get("network.centrality.edge_scope")
    cen = yearly_centralities(reg, nodes, cspec, clusters if scope == "cluster_incident" else None)
    cen["is_cluster"] = cen["city_code"].isin(clusters)
    cen["nc_convention"] = cspec.closeness
    cen["nc_scale"] = cspec.scale
    steps.done("centrality")

    def sdf(pdf: pd.DataFrame, schema: str) -> DataFrame:
        cols = [c.strip().split(" ")[0] for c in _split_schema(schema)]
        return spark.createDataFrame(pdf[cols].astype(object).where(pdf[cols].notna(), None), schema)

    excl = exclusion_counts(patents, spec)
    if excl["null_flags"]:
        log.warning("%d patents have a null has_individual/all_mainland flag and are excluded",
                    excl["null_flags"])
    steps.done("exclusion_counts")
    og, og_engine = None, None
    if org_graph and cfg.get("network.org_graph.enabled"):
        og, og_engine = _org_graph(oe, cfg, graph_engine)
        steps.done("org_graph")
    summary = {"patents_in_window": excl["patents"],
               "excluded_individual": excl["individual"],
               "excluded_non_mainland": excl["non_mainland"] if spec.non_mainland == "drop_patent" else 0,
               "excluded_null_flags": excl["null_flags"],
               "ai_flag": spec.ai_flag, "org_graph_engine": og_engine,
               "cooperative_patents": int(round(apps["coop_ai_apps"].sum())),
               "collaborations": n_pairs, "unlocated_collaborations": unlocated,
               "regions_lq_gt1": int(region_lq["lq_gt1"].sum()),
               "potential_clusters": int(region_lq["potential"].sum()),
               "clusters": len(clusters), "threshold": res.threshold,
               "nc_convention": cspec.closeness, "nc_scale": cspec.scale}
    result = NetworkResult(
        org_edges=oe, region_edges=sdf(reg, REGION_EDGES_SCHEMA),
        collaboration_counts=sdf(cc_pd, COLLAB_SCHEMA),
        centrality=sdf(cen, CENTRALITY_SCHEMA), region_lq=sdf(region_lq, REGION_LQ_SCHEMA),
        clusters=sdf(res.clusters, CLUSTERS_SCHEMA),
        threshold_sensitivity=sdf(res.sensitivity, SENSITIVITY_SCHEMA), org_graph=og,
        region_edges_pd=reg, cluster_codes=clusters, summary=summary,
        cached=[elig, pairs, oe], steps=steps,
        driver_built={"gold.region_edges", "gold.collaboration_counts", "gold.centrality",
                      "gold.region_lq", "gold.clusters", "gold.threshold_sensitivity"}
        | ({"gold.org_graph"} if og_engine == "driver" else set()))
    steps.done("driver_tables_to_spark")
    return result


def _split_schema(schema: str) -> list[str]:
    """Top-level fields of a DDL string (commas inside <> belong to the type)."""
    out, depth, cur = [], 0, ""
    for ch in schema:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [c.strip() for c in out + [cur] if c.strip()]


def _export(cfg, result: NetworkResult, regions: pd.DataFrame | None) -> list[str]:
    from .export import region_graph, write_graph
    ex = cfg.section("network.export")
    names = dict(zip(regions["city_code"], regions.get("name_en", regions["city_name"]))) \
        if regions is not None else {}
    G = region_graph(result.region_edges_pd, names, result.cluster_codes, ex["edge_scope"])
    base = Path(cfg.get("outputs.reports")) / ex["directory"]
    w = cfg.section("network.window")
    return [str(p) for p in write_graph(G, base / f"region_network_{w['start']}_{w['end']}",
                                        ex["formats"])]


def run(ctx, args) -> dict:
    cfg = ctx.cfg
    t0 = time.perf_counter()
    store = ctx.store
    regions = read_gazetteer(cfg.path("network.lq.gazetteer"))
    silver = [store.read(t) for t in ("silver.applicants", "silver.patents", "silver.ai_patents")]
    t_read = time.perf_counter() - t0
    result = transform(ctx.spark, cfg, *silver, regions,
                       org_graph=not getattr(args, "skip_org_graph", False),
                       graph_engine=cfg.get("graph.engine"))
    meta = {"config": cfg.fingerprint(), "nc_convention": result.summary["nc_convention"]}
    partition = {"gold.org_edges": ["app_year"], "gold.region_edges": ["app_year"]}
    written = []
    steps = result.steps or _Steps()
    for name, df in result.tables().items():
        parts = partition.get(name)
        # few files: a small table in one task (one file, or one per partition value);
        # org edges one task per year (one file per year instead of one per task and year)
        if name in result.driver_built:
            df = df.coalesce(1)
        elif parts:
            df = df.repartition(*parts)
        store.write(df, name, mode="overwrite", partition_by=parts,
                    description=f"network stage: {name}", metadata=meta)
        written.append(name)
        steps.done(f"write {name}")
    for df in result.cached:
        df.unpersist()
    files = []
    if cfg.get("network.export.enabled") and not getattr(args, "skip_export", False):
        files = _export(cfg, result, regions)
        steps.done("export")
    return {**result.summary, "tables": written, "exports": files,
            "step_seconds": {"read_silver": round(t_read, 3), **steps.seconds}, "seconds": round(time.perf_counter() - t0, 2)}
