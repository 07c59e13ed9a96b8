"""GEXF / GraphML exports of the region network for VOSviewer and Gephi users.

Fig 3's convention: node weight = the region's total collaboration volume (intra +
inter, with ``node_weight="inter"`` only interregional), edge weight = number of
collaborations between the two regions. ``edge_scope="cluster_incident"`` keeps only
links touching an AI cluster ("connections containing the AI clusters"), with their
non-cluster ends as nodes.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Mapping

import networkx as nx
import pandas as pd

log = logging.getLogger("patentpanel.network.export")

__all__ = ["region_graph", "write_graph", "FORMATS"]

FORMATS = ("gexf", "graphml")
SCOPES = ("all", "cluster_incident")


def region_graph(reg_edges: pd.DataFrame, names: Mapping[str, str] | None = None,
                 clusters: Iterable[str] = (), edge_scope: str = "all",
                 node_weight: str = "total") -> nx.Graph:
    """A networkx Graph from region edges (region_a, region_b, n_collab[, app_year]):
    years are summed; intraregional rows feed the node weights only."""
    if edge_scope not in SCOPES:
        raise ValueError(f"edge_scope {edge_scope!r} not in {SCOPES}")
    if node_weight not in ("total", "inter"):
        raise ValueError(f"node_weight {node_weight!r} not in ('total', 'inter')")
    need = {"region_a", "region_b", "n_collab"}
    if not need.issubset(reg_edges.columns):
        raise ValueError(f"region edges need columns {sorted(need)}, got {list(reg_edges.columns)}")
    e = reg_edges.groupby(["region_a", "region_b"], as_index=False)["n_collab"].sum()
    intra = e[e.region_a == e.region_b].set_index("region_a")["n_collab"]
    inter = e[e.region_a != e.region_b]
    cl = set(clusters)
    if edge_scope == "cluster_incident":
        inter = inter[inter.region_a.isin(cl) | inter.region_b.isin(cl)]
    inter_total = pd.concat([inter.groupby("region_a")["n_collab"].sum(),
                             inter.groupby("region_b")["n_collab"].sum()]).groupby(level=0).sum()
    nodes = sorted(set(inter.region_a) | set(inter.region_b) |
                   (set(intra.index) if edge_scope == "all" else set()) | (cl & set(intra.index)))
    names = names or {}
    G = nx.Graph()
    for v in nodes:
        w = int(inter_total.get(v, 0)) + (int(intra.get(v, 0)) if node_weight == "total" else 0)
        G.add_node(str(v), label=str(names.get(v, v)), weight=w, cluster=v in cl)
    for r in inter.itertuples(index=False):
        G.add_edge(str(r.region_a), str(r.region_b), weight=int(r.n_collab))
    return G


def write_graph(G: nx.Graph, path_stem: str | Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write ``G`` as <stem>.gexf / <stem>.graphml; returns the paths written."""
    out = []
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"export format {fmt!r} not in {FORMATS}")
        p = stem.with_suffix(f".{fmt}")
        (nx.write_gexf if fmt == "gexf" else nx.write_graphml)(G, p)
        out.append(p)
    log.info("wrote %s (%d nodes, %d edges)", ", ".join(map(str, out)), G.number_of_nodes(),
             G.number_of_edges())
    return out
