"""Small seeded gold tables for the report tests: network outputs built with the network
module's own LQ/cluster code on random region counts, descriptives from the panels
module, and estimates from the econ stage on the econ tests' simulated panels."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "econ"))

from econ_sim_panels import city120_year, cluster_year, firm_year  # noqa: E402

from patentpanel.network.lq import ClusterIdentification, location_quotients  # noqa: E402
from patentpanel.panels.descriptives import DescriptiveTables  # noqa: E402

__all__ = ["network_frames", "descriptives_frame", "cluster_year", "city120_year", "firm_year", "gazetteer"]


def gazetteer(cfg) -> pd.DataFrame:
    return pd.read_csv(cfg.path("report.gazetteer"), dtype={"adcode": str})


def network_frames(cfg, seed: int = 3, n_regions: int = 80) -> dict[str, pd.DataFrame]:
    """gold.region_lq, gold.clusters, gold.threshold_sensitivity, gold.region_edges."""
    rng = np.random.default_rng(seed)
    g = gazetteer(cfg)
    g = g[g["kind"].isin(["municipality", "prefecture_city", "sub_provincial"]) | g["is_provincial_capital"].eq(1)]
    regs = g.sample(n_regions, random_state=seed).reset_index(drop=True)
    size = rng.lognormal(3, 1.2, n_regions)
    share = np.clip(rng.normal(0.05, 0.03, n_regions), 0.005, 0.3)
    rows = []
    for y in range(2011, 2021):
        allc = rng.poisson(size * 40)
        ai = rng.binomial(allc, share)
        rows.append(pd.DataFrame({"city_code": regs["adcode"], "app_year": y, "ai_apps": ai.astype(float),
                                  "all_apps": allc.astype(float)}))
    apps = pd.concat(rows, ignore_index=True)
    lq = location_quotients(apps, 2011, 2020, regs.rename(columns={"adcode": "city_code", "name": "city_name"})[
        ["city_code", "city_name"]])
    # edges: gravity between regions
    p = size / size.sum()
    e = []
    for y in range(2011, 2021):
        a = rng.choice(n_regions, 900, p=p)
        b = rng.choice(n_regions, 900, p=p)
        e.append(pd.DataFrame({"app_year": y, "a": regs["adcode"].to_numpy()[a], "b": regs["adcode"].to_numpy()[b]}))
    e = pd.concat(e)
    e["region_a"], e["region_b"] = np.minimum(e["a"], e["b"]), np.maximum(e["a"], e["b"])
    edges = e.groupby(["app_year", "region_a", "region_b"], as_index=False).size().rename(columns={"size": "n_collab"})
    edges["n_collab"] = edges["n_collab"].astype("int64")
    edges["is_intra"] = edges["region_a"] == edges["region_b"]
    edges["weight"] = edges["n_collab"].astype(float)
    edges["app_year"] = edges["app_year"].astype("int32")
    edges = edges[["app_year", "region_a", "region_b", "is_intra", "n_collab", "weight"]]
    tot = []
    for side in ("region_a", "region_b"):
        x = edges[~edges["is_intra"]].groupby(side)["n_collab"].sum().rename("inter")
        tot.append(x.rename_axis("city_code"))
    inter = pd.concat(tot, axis=1).sum(axis=1).rename("inter")
    intra = edges[edges["is_intra"]].groupby("region_a")["n_collab"].sum().rename("intra").rename_axis("city_code")
    totals = pd.concat([intra, inter], axis=1).fillna(0).reset_index()
    res = ClusterIdentification(percentile=80).fit(lq, totals)
    region_lq = res.region_lq.assign(is_cluster=res.region_lq["city_code"].isin(res.cluster_codes))
    return {"gold.region_lq": region_lq, "gold.clusters": res.clusters,
            "gold.threshold_sensitivity": res.sensitivity, "gold.region_edges": edges}


def descriptives_frame(cl: pd.DataFrame, c120: pd.DataFrame) -> pd.DataFrame:
    t = DescriptiveTables()
    v1, l1 = ["ti", "ip", "nc", "ed", "ic", "ie"], ["TI", "IP", "NC", "ED", "IC", "IE"]
    t.add_summary("study1_table2", "gold.cluster_year", cl, v1, l1)
    t.add_correlations("study1_table3", "gold.cluster_year", cl, v1, l1)
    t.add_vif("study1_vif", "gold.cluster_year", cl, ["ip", "nc", "ed", "ic", "ie"], ["IP", "NC", "ED", "IC", "IE"])
    v2 = ["innovation", "ft", "ct", "gpt", "popdensity", "ecodevelop", "fdi", "open", "eduexp", "indstru", "techlevel"]
    t.add_summary("study2_table4", "gold.city120_year", c120, v2, None)
    return t.frame()
