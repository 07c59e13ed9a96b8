"""Stage ``panels``: silver + gold network tables + auxiliary inputs -> gold.cluster_year,
gold.city120_year, gold.firm_year and gold.descriptives (each overwritten; the commit
metadata records the log(x+1) variables, centring means, missing-control counts, ...).

    patentpanel panels                          # every panel
    patentpanel panels --tables city120_year    # only study 2's panel (+ its descriptives)
    patentpanel panels --inputs data/sim        # auxiliary inputs under another root

Patent tables are aggregated in Spark to integer city-year counts before anything is
collected; the auxiliary inputs are city-year sized and read with pandas.
"""
from __future__ import annotations

import argparse
import logging

import pandas as pd

from .city120 import City120Panel, city_type_counts
from .cluster_year import ClusterYearPanel, cluster_nc, fractional_counts, fractional_ti
from .descriptives import DescriptiveTables
from .firm_year import FirmYearPanel
from .inputs import (AuxPaths, policy_counts, read_firms, read_history, read_policies, read_regions,
                     read_study2_cities, read_yearbook, resolve_policies, read_csv_checked)
from .transforms import PanelInputError
from .validate import CITY120_YEAR, CLUSTER_YEAR, DESCRIPTIVES, FIRM_YEAR, PanelSchema

log = logging.getLogger("patentpanel.panels")

__all__ = ["add_arguments", "run", "build_panels", "PANELS"]

PANELS = ("cluster_year", "city120_year", "firm_year")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("panels")
    g.add_argument("--tables", default=",".join(PANELS),
                   help=f"comma-separated subset of {','.join(PANELS)} (default: all)")
    g.add_argument("--inputs", default=None,
                   help="root of the auxiliary inputs (default: inputs.simulated); explicit "
                        "panels.inputs.* paths still win")


def _read(store, name: str):
    if not store.exists(name):
        raise PanelInputError(f"{name} does not exist in the lake ({store.root}); run the stage that writes it")
    return store.read(name)


def _clusters(store) -> list[str]:
    df = _read(store, "gold.clusters")
    if "city_code" not in df.columns:
        raise PanelInputError(f"gold.clusters: no city_code column; has {df.columns}")
    if "is_cluster" in df.columns:
        df = df.where("is_cluster")
    return sorted(r[0] for r in df.select("city_code").distinct().collect())


def build_panels(spark, store, cfg, tables=PANELS, inputs_root: str | None = None) -> dict:
    """Build, validate and return the requested panels as pandas frames with metadata:
    ``{name: (frame, metadata)}`` plus ``descriptives``. Nothing is written."""
    bad = [t for t in tables if t not in PANELS]
    if bad:
        raise PanelInputError(f"--tables: unknown panel(s) {bad}; expected a subset of {list(PANELS)}")
    paths = AuxPaths.from_config(cfg, inputs_root)
    regions = read_regions(paths.regions)
    out: dict = {}
    patents = _read(store, "silver.patents")
    applicants = _read(store, "silver.applicants")
    ai = _read(store, "silver.ai_patents")
    desc = DescriptiveTables()
    dcfg = cfg.section("panels.descriptives")

    ip = None
    clusters: list[str] = []
    if "cluster_year" in tables or "firm_year" in tables:
        clusters = _clusters(store)
        s1 = cfg.section("panels.cluster_year")
        fy = cfg.section("panels.firm_year")
        years = sorted(set(range(int(s1["window"]["start"]), int(s1["window"]["end"]) + 1))
                       | set(range(int(fy["years"]["start"]), int(fy["years"]["end"]) + 1)))
        resolved, rejected = resolve_policies(read_policies(paths.policies), regions, s1["policy_match"])
        ip = policy_counts(resolved, regions, years)
        out["policies_rejected"] = rejected

    if "cluster_year" in tables:
        s1 = cfg.section("panels.cluster_year")
        window = (int(s1["window"]["start"]), int(s1["window"]["end"]))
        counts = fractional_counts(patents, applicants, ai, ai_flag=s1["ai_flag"], years=window,
                                   patent_types=s1["patent_types"], exclude_individual=s1["exclude_individual"],
                                   mainland_only=s1["mainland_only"], unresolved_share=s1["unresolved_share"])
        ti, ti_info = fractional_ti(counts.toPandas(), CLUSTER_YEAR.name)
        cent = _read(store, "gold.centrality")
        ycol = "year" if "year" in cent.columns else "app_year"
        nc = cluster_nc(cent.select("city_code", ycol, "nc").toPandas(), clusters, window)
        panel = ClusterYearPanel.from_config(cfg)
        yb = read_yearbook(paths.yearbook, list(panel.controls.values()))
        panel.build(ti, clusters, regions, ip, nc, yb)
        meta = {**panel.metadata, **ti_info, "ai_flag": s1["ai_flag"],
                "policies_rejected": int(len(out["policies_rejected"]))}
        out["cluster_year"] = (panel.frame, meta)
        desc.add_summary("study1_table2", CLUSTER_YEAR.name, panel.frame, dcfg["study1_variables"],
                         dcfg["study1_labels"])
        desc.add_correlations("study1_table3", CLUSTER_YEAR.name, panel.frame, dcfg["study1_variables"],
                              dcfg["study1_labels"], dcfg["correlation_missing"])
        lab = dict(zip(dcfg["study1_variables"], dcfg["study1_labels"]))
        desc.add_vif("study1_vif", CLUSTER_YEAR.name, panel.frame, dcfg["vif_regressors"],
                     [lab.get(v, v) for v in dcfg["vif_regressors"]])

    if "city120_year" in tables:
        s2 = cfg.section("panels.city120_year")
        panel2 = City120Panel.from_config(cfg)
        cities = read_study2_cities(paths.study2_cities, regions)
        window = panel2.window
        counts = city_type_counts(patents, applicants, ai, cities=cities["adcode"].tolist(), years=window,
                                  ai_flag=s2["ai_flag"], counting=s2["counting"],
                                  granted_min_publications=int(s2["granted_min_publications"]))
        hdr = pd.read_csv(paths.yearbook, nrows=0).columns
        rob = [v["column"] for v in panel2.robustness_controls.values() if v["column"] in hdr]
        yb = read_yearbook(paths.yearbook, panel2.yearbook_columns() + rob)
        hist_cols = [c for c in panel2.instruments.values() if c]
        history = read_history(paths.history, hist_cols) if paths.history.is_file() else None
        if history is None:
            log.warning("gold.city120_year: %s not found; instruments written as null", paths.history)
        national = None
        if panel2.national_series_column and paths.national_series.is_file():
            national = read_csv_checked(paths.national_series, ["year", panel2.national_series_column],
                                        "national series")
        panel2.build(counts.toPandas(), cities, regions, yb, history, national)
        out["city120_year"] = (panel2.frame, {**panel2.metadata, "ai_flag": s2["ai_flag"],
                                              "counting": s2["counting"]})
        out["city120_schema"] = panel2.schema
        desc.add_summary("study2_table4", CITY120_YEAR.name, panel2.frame, dcfg["study2_variables"],
                         dcfg["study2_labels"])

    if "firm_year" in tables:
        fp = FirmYearPanel.from_config(cfg)
        firms = read_firms(paths.firms, fp.source_columns())
        fp.build(firms, clusters, ip)
        out["firm_year"] = (fp.frame, fp.metadata)

    out["descriptives"] = (DESCRIPTIVES.validate(desc.frame()), {"correlation_missing": dcfg["correlation_missing"]})
    return out


def _write(spark, store, schema: PanelSchema, frame: pd.DataFrame, meta: dict, cfg) -> int:
    df = spark.createDataFrame(frame, schema=schema.spark_schema(frame))
    return store.write(df, schema.name, mode="overwrite", description=f"panels: {schema.name}",
                       metadata={"stage": "panels", "config": cfg.fingerprint(), **meta})


def run(ctx, args) -> dict:
    tables = [t.strip() for t in (args.tables or "").split(",") if t.strip()]
    built = build_panels(ctx.spark, ctx.store, ctx.cfg, tables, args.inputs)
    summary: dict = {}
    frame, meta = built["descriptives"]
    if ctx.store.exists(DESCRIPTIVES.name):      # keep the tables of panels not rebuilt now
        old = ctx.store.read(DESCRIPTIVES.name).toPandas()
        old = old[~old["table"].isin(set(frame["table"]))]
        if len(old):
            built["descriptives"] = (DESCRIPTIVES.validate(pd.concat([old, frame], ignore_index=True)), meta)
    for name, schema in (("cluster_year", CLUSTER_YEAR), ("city120_year", CITY120_YEAR),
                         ("firm_year", FIRM_YEAR), ("descriptives", DESCRIPTIVES)):
        if name in built:
            frame, meta = built[name]
            if name == "city120_year":
                schema = built["city120_schema"]
            _write(ctx.spark, ctx.store, schema, frame, meta, ctx.cfg)
            summary[f"{name}_rows"] = int(len(frame))
    if "policies_rejected" in built:
        summary["policies_rejected"] = int(len(built["policies_rejected"]))
    return summary
