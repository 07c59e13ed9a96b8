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
from .edges import (PatentFilter, collaboration_counts, eligible_applicants,
                    exclusion_counts, org_edges, patent_pairs, region_edges)
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


def org_graph_metrics(org_edges_df: DataFrame, cfg, engine: str = "auto") -> DataFrame:
    """gold.org_graph: (org_id, name, degree, pagerank, component, component_size,
    landmark_distances) of the window's organisation graph.

    Organisations get 64-bit ids from xxhash64 of their name (stable under any
    partitioning); a collision raises rather than merging two organisations."""
    from .graph import OrgGraph
    og = cfg.section("network.org_graph")
    names = (org_edges_df.select(F.col("org_a").alias("name"))
             .union(org_edges_df.select(F.col("org_b").alias("name"))).distinct()
             .withColumn("id", F.xxhash64("name"))).persist()
    clash = names.groupBy("id").count().where("count > 1").limit(3).collect()
    if clash:
        raise ValueError(f"organisation id collision (xxhash64) for ids {[r.id for r in clash]}")
    e = (org_edges_df.select("org_a", "org_b").distinct()
         .select(F.xxhash64("org_a").alias("src"), F.xxhash64("org_b").alias("dst")))
    g = OrgGraph(e, names.select("id"), engine=engine,
                 checkpoint_every=int(og["checkpoint_every"]),
                 checkpoint_dir=og["checkpoint_dir"] or None, validate=False,
                 driver_max_edges=int(og["driver_max_edges"]))
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
        named = F.map_from_entries(F.transform(F.map_entries("distances"),
                                               lambda kv: F.struct(mapping[kv["key"]].alias("key"),
                                                                   kv["value"].alias("value"))))
        out = out.join(sp.select("id", named.alias("landmark_distances")), "id")
    else:
        out = out.withColumn("landmark_distances", F.create_map().cast("map<string,int>"))
    res = out.select(F.col("id").alias("org_id"), "name", "degree", "pagerank",
                     "component", "component_size", "landmark_distances")
    log.info("organisation graph: engine %s (%s)", g.engine, g.engine_reason)
    return res


def transform(spark: SparkSession, cfg, applicants: DataFrame, patents: DataFrame,
              ai_patents: DataFrame, regions: pd.DataFrame | None = None, *,
              org_graph: bool = True, graph_engine: str = "auto") -> NetworkResult:
    """All outputs from the three silver tables (pure: no reads or writes)."""
    spec = PatentFilter.from_config(cfg)
    cspec = CentralitySpec.from_config(cfg)
    weighting = cfg.get("network.edges.weight")
    counting = cfg.get("network.lq.counting")
    ident = ClusterIdentification.from_config(cfg)
    years = range(spec.start, spec.end + 1)

    elig_ai = eligible_applicants(applicants, patents, ai_patents, spec, ai_only=True).persist()
    pairs = patent_pairs(elig_ai, weighting).persist()
    oe = org_edges(pairs)
    re_ = region_edges(pairs).persist()
    cc = collaboration_counts(re_)
    stats = pairs.agg(F.count("*").alias("pairs"), F.countDistinct("app_no").alias("patents"),
                      F.sum(F.when(F.col("region_a").isNull() | F.col("region_b").isNull(), 1)
                            .otherwise(0)).alias("unlocated")).first()
    if stats["unlocated"]:
        log.warning("%d of %d collaborations have an unlocated applicant; they are in "
                    "gold.org_edges but not in the region tables", stats["unlocated"], stats["pairs"])

    # LQ and clusters (region-sized: on the driver)
    elig_all = eligible_applicants(applicants, patents, ai_patents, spec, ai_only=False,
                                   apply_exclusions=spec.exclusions_apply_to_all)
    apps = region_applications(elig_ai, elig_all, counting).toPandas()
    unlocated_apps = float(apps.loc[apps["city_code"].isna(), "all_apps"].sum())
    if unlocated_apps:
        log.warning("%.0f applications have an unlocated counted applicant; left out of the LQ",
                    unlocated_apps)
    universe = regions if cfg.get("network.lq.universe") == "gazetteer" else None
    lq = location_quotients(apps, spec.start, spec.end, universe)
    reg = re_.toPandas()
    cc_pd = cc.toPandas()
    totals = cc_pd.groupby("city_code", as_index=False)[["intra", "inter"]].sum()
    res = ident.fit(lq, totals)
    clusters = res.cluster_codes
    region_lq = res.region_lq.assign(is_cluster=res.region_lq["city_code"].isin(clusters))

    # centralities, one network per year
    all_codes = sorted(universe["city_code"]) if universe is not None else sorted(lq["city_code"])
    nodes = _nodes_by_year(reg, years, cfg.get("network.centrality.nodes"), all_codes)
    scope = cfg.get("network.centrality.edge_scope")
    cen = yearly_centralities(reg, nodes, cspec, clusters if scope == "cluster_incident" else None)
    cen["is_cluster"] = cen["city_code"].isin(clusters)
    cen["nc_convention"] = cspec.closeness
    cen["nc_scale"] = cspec.scale

    def sdf(pdf: pd.DataFrame, schema: str) -> DataFrame:
        cols = [c.strip().split(" ")[0] for c in _split_schema(schema)]
        return spark.createDataFrame(pdf[cols].astype(object).where(pdf[cols].notna(), None), schema)

    excl = exclusion_counts(patents, spec)
    if excl["null_flags"]:
        log.warning("%d patents have a null has_individual/all_mainland flag and are excluded",
                    excl["null_flags"])
    og = None
    if org_graph and cfg.get("network.org_graph.enabled"):
        og = org_graph_metrics(oe, cfg, graph_engine)
    summary = {"patents_in_window": excl["patents"],
               "excluded_individual": excl["individual"],
               "excluded_non_mainland": excl["non_mainland"] if spec.non_mainland == "drop_patent" else 0,
               "excluded_null_flags": excl["null_flags"],
               "cooperative_patents": int(stats["patents"]), "collaborations": int(stats["pairs"]),
               "unlocated_collaborations": int(stats["unlocated"] or 0),
               "regions_lq_gt1": int(region_lq["lq_gt1"].sum()),
               "potential_clusters": int(region_lq["potential"].sum()),
               "clusters": len(clusters), "threshold": res.threshold,
               "nc_convention": cspec.closeness, "nc_scale": cspec.scale}
    return NetworkResult(
        org_edges=oe, region_edges=re_, collaboration_counts=cc,
        centrality=sdf(cen, CENTRALITY_SCHEMA), region_lq=sdf(region_lq, REGION_LQ_SCHEMA),
        clusters=sdf(res.clusters, CLUSTERS_SCHEMA),
        threshold_sensitivity=sdf(res.sensitivity, SENSITIVITY_SCHEMA), org_graph=og,
        region_edges_pd=reg, cluster_codes=clusters, summary=summary,
        cached=[elig_ai, pairs, re_])


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
    result = transform(ctx.spark, cfg, store.read("silver.applicants"), store.read("silver.patents"),
                       store.read("silver.ai_patents"), regions,
                       org_graph=not getattr(args, "skip_org_graph", False),
                       graph_engine=cfg.get("graph.engine"))
    meta = {"config": cfg.fingerprint(), "nc_convention": result.summary["nc_convention"]}
    partition = {"gold.org_edges": ["app_year"], "gold.region_edges": ["app_year"]}
    written = []
    for name, df in result.tables().items():
        store.write(df, name, mode="overwrite", partition_by=partition.get(name),
                    description=f"network stage: {name}", metadata=meta)
        written.append(name)
    for df in result.cached:
        df.unpersist()
    files = []
    if cfg.get("network.export.enabled") and not getattr(args, "skip_export", False):
        files = _export(cfg, result, regions)
    return {**result.summary, "tables": written, "exports": files,
            "seconds": round(time.perf_counter() - t0, 2)}
