"""Region-year centralities on the driver with igraph (one network per year, note 16).

A yearly region network has at most ~340 nodes, so it is collected and computed on the
driver: igraph gives the all-pairs distances, betweenness, Burt's constraint and degrees;
the closeness conventions and effective size are numpy formulas on those. Tests check
every column against networkx to 1e-12.

Closeness (study 1, Eq. 2): NC_i = (n-1) / sum_j d_ij over the n nodes of the network.
It is undefined when i does not reach every node, which is the normal case for yearly
co-application networks, so the convention is explicit (``network.centrality.closeness``):

* ``ucinet``    unreachable pairs counted at distance n (UCINET's Freeman closeness):
                (n-1) / (sum_reachable d_ij + (n-r) * n); an isolated node gets 1/n.
* ``wf``        networkx's default (Wasserman-Faust): ((r-1)/(n-1)) * ((r-1)/sum_reachable d);
                an isolated node gets 0.
* ``harmonic``  sum_{j != i} (1/d_ij) / (n-1), unreachable pairs contribute 0.
* ``component`` (r-1)/sum_reachable d_ij within i's own component (igraph, Gephi,
                networkx ``wf_improved=False``); NaN for an isolated node.

r is the number of nodes i reaches, itself included. ``scale`` multiplies the result
(100 gives UCINET's nCloseness percentages).

Which convention reproduces study 1? Its log NC over the cluster-years has min -0.54,
max 3.63, mean 2.68, SD 0.71 (Table 2), i.e. NC about 0.58 .. 37.7. Closeness is <= 1
under every convention, so the study's values are on the x100 (percentage) scale. On
the seeded synthetic hub-and-distance-decay network of ``benchmarks/bench_network.py``
(337 regions, 46k cooperative patents over 2011-2020, hop distances; the 29 regions with
most applications standing in for the clusters), log(NC x 100) is:

=========================  =====  =====  =====  =====
convention, nodes            min    max   mean     SD
=========================  =====  =====  =====  =====
ucinet, active regions      1.62   3.79   2.58   0.68
ucinet, all 337 regions     0.48   3.79   1.87   1.05
wf, active regions          3.45   4.37   3.92   0.14
harmonic, active regions    3.52   4.46   4.02   0.15
component, active regions   3.51   4.37   3.95   0.13
=========================  =====  =====  =====  =====

Only ``ucinet`` x 100 matches the study's spread (SD 0.7, a maximum below 4): the other
conventions put every well-connected node at 30-90 with SD ~0.15. With nodes = active
regions (the default) its mean and SD are close to the study's; the study's minimum
(NC ~ 100/n) needs a cluster that is nearly isolated in some year, which the denser
synthetic network lacks. Hence the defaults ``closeness: ucinet``, ``scale: 100``,
``nodes: active``. On the simulator's (sparser) networks no convention reproduces the
study's range; docs/network.md has the figures per convention.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("patentpanel.network.centrality")

__all__ = ["CONVENTIONS", "DISTANCES", "CentralitySpec", "closeness_from_distances",
           "region_centralities", "yearly_centralities", "build_igraph"]

CONVENTIONS = ("ucinet", "wf", "harmonic", "component")
DISTANCES = ("hops", "inverse_weight")

COLUMNS = ["node", "n_nodes", "component_size", "degree", "weighted_degree",
           "closeness_ucinet", "closeness_wf", "closeness_harmonic", "closeness_component",
           "nc", "betweenness", "betweenness_norm", "constraint", "effective_size"]


@dataclass(frozen=True)
class CentralitySpec:
    """``network.centrality``: convention copied into ``nc``, scale, path lengths."""
    closeness: str = "ucinet"
    scale: float = 1.0
    distance: str = "hops"

    def __post_init__(self):
        if self.closeness not in CONVENTIONS:
            raise ValueError(f"network.centrality.closeness: {self.closeness!r} not in {CONVENTIONS}")
        if self.distance not in DISTANCES:
            raise ValueError(f"network.centrality.distance: {self.distance!r} not in {DISTANCES}")
        if not self.scale > 0:
            raise ValueError(f"network.centrality.scale must be > 0, got {self.scale}")

    @classmethod
    def from_config(cls, cfg) -> "CentralitySpec":
        s = cfg.section("network.centrality")
        return cls(closeness=s["closeness"], scale=float(s["scale"]), distance=s["distance"])


def closeness_from_distances(dist: np.ndarray, convention: str) -> np.ndarray:
    """Closeness of every node from an n x n distance matrix (inf = unreachable).

    Unscaled; see the module docstring for the conventions."""
    if convention not in CONVENTIONS:
        raise ValueError(f"closeness convention {convention!r} not in {CONVENTIONS}")
    d = np.asarray(dist, dtype=float)
    n = d.shape[0]
    if d.ndim != 2 or d.shape[1] != n:
        raise ValueError(f"distance matrix must be square, got shape {d.shape}")
    out = np.zeros(n)
    if n <= 1:
        return np.full(n, np.nan if convention == "component" else 0.0)
    finite = np.isfinite(d)
    reach = finite.sum(axis=1)                    # r, self included
    total = np.where(finite, d, 0.0).sum(axis=1)  # sum of reachable distances
    if convention == "ucinet":
        out = (n - 1) / (total + (n - reach) * float(n))
    elif convention == "wf":
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(total > 0, ((reach - 1) / total) * ((reach - 1) / (n - 1)), 0.0)
    elif convention == "component":
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(total > 0, (reach - 1) / total, np.nan)
    else:  # harmonic
        with np.errstate(divide="ignore"):
            inv = np.where(finite & (d > 0), 1.0 / np.where(d > 0, d, 1.0), 0.0)
        out = inv.sum(axis=1) / (n - 1)
    return out


def build_igraph(nodes: Sequence, edges: pd.DataFrame, weight_col: str = "weight"):
    """A simple undirected igraph Graph on ``nodes`` from (a, b, weight) rows; duplicate
    pairs are summed and self-loops dropped (intraregional links are not paths)."""
    import igraph as ig
    index = {v: i for i, v in enumerate(nodes)}
    if len(index) != len(nodes):
        raise ValueError("duplicate node ids in the node list")
    e = edges[edges["a"] != edges["b"]]
    unknown = set(e["a"]).union(e["b"]) - index.keys()
    if unknown:
        raise ValueError(f"edges reference nodes not in the node list: {sorted(unknown)[:5]}")
    if len(e):
        ia = e["a"].map(index).to_numpy()
        ib = e["b"].map(index).to_numpy()
        lo, hi = np.minimum(ia, ib), np.maximum(ia, ib)
        w = e[weight_col].to_numpy(dtype=float)
        if not np.all(w > 0):
            raise ValueError(f"edge column {weight_col!r} must be > 0")
        agg = (pd.DataFrame({"lo": lo, "hi": hi, "w": w}).groupby(["lo", "hi"], sort=True)["w"]
               .sum().reset_index())
        pairs = list(zip(agg["lo"].tolist(), agg["hi"].tolist()))
        weights = agg["w"].to_numpy()
    else:
        pairs, weights = [], np.zeros(0)
    g = ig.Graph(n=len(nodes), edges=pairs, directed=False)
    g.es["weight"] = weights.tolist()
    g.vs["name"] = [str(v) for v in nodes]
    return g


def _effective_size(adj: np.ndarray) -> np.ndarray:
    """Burt's effective size with mutual-weight proportions (networkx's definition):
    esize_i = sum_{j in N(i)} (1 - sum_{q != i,j} p_iq m_jq), p = w/row sum, m = w/row max."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = adj / adj.sum(axis=1, keepdims=True)
        m = adj / adj.max(axis=1, keepdims=True)
    p = np.nan_to_num(p)
    m = np.nan_to_num(m)
    redundancy = p @ m.T
    nb = adj > 0
    es = np.where(nb, 1.0 - redundancy, 0.0).sum(axis=1)
    return np.where(nb.any(axis=1), es, np.nan)


def region_centralities(nodes: Sequence, edges: pd.DataFrame, spec: CentralitySpec = CentralitySpec()
                        ) -> pd.DataFrame:
    """Centralities of every node of one network.

    ``edges``: columns a, b, n_collab (and optionally weight); self-loops ignored.
    Degree = distinct neighbours; weighted_degree = collaborations with other nodes;
    betweenness = igraph's (undirected, unnormalised; ``betweenness_norm`` divides by
    (n-1)(n-2)/2); constraint and effective size use collaborations as tie strengths.
    """
    need = {"a", "b", "n_collab"}
    if not need.issubset(edges.columns):
        raise ValueError(f"region edges need columns {sorted(need)}, got {list(edges.columns)}")
    nodes = list(nodes)
    n = len(nodes)
    if n == 0:
        return pd.DataFrame(columns=COLUMNS)
    g = build_igraph(nodes, edges, "n_collab")
    counts = np.asarray(g.es["weight"], dtype=float) if g.ecount() else np.zeros(0)
    if spec.distance == "hops":
        dist = np.asarray(g.distances(), dtype=float)
        btw = np.asarray(g.betweenness(directed=False), dtype=float)
    else:
        length = (1.0 / counts).tolist()
        dist = np.asarray(g.distances(weights=length), dtype=float)
        btw = np.asarray(g.betweenness(directed=False, weights=length), dtype=float)
    adj = np.zeros((n, n))
    if g.ecount():
        el = np.asarray(g.get_edgelist())
        adj[el[:, 0], el[:, 1]] = counts
        adj[el[:, 1], el[:, 0]] = counts
    out = pd.DataFrame({"node": nodes, "n_nodes": n})
    out["component_size"] = np.isfinite(dist).sum(axis=1)
    out["degree"] = np.asarray(g.degree(), dtype=np.int64)
    out["weighted_degree"] = adj.sum(axis=1)
    for conv in CONVENTIONS:
        out[f"closeness_{conv}"] = closeness_from_distances(dist, conv) * spec.scale
    out["nc"] = out[f"closeness_{spec.closeness}"]
    out["betweenness"] = btw
    out["betweenness_norm"] = btw / ((n - 1) * (n - 2) / 2.0) if n > 2 else 0.0
    out["constraint"] = np.asarray(g.constraint(weights="weight"), dtype=float) if g.ecount() \
        else np.full(n, np.nan)
    out["effective_size"] = _effective_size(adj)
    return out[COLUMNS]


def yearly_centralities(reg_edges: pd.DataFrame, nodes_by_year: dict[int, Iterable],
                        spec: CentralitySpec, clusters: Iterable | None = None) -> pd.DataFrame:
    """One network per year: ``reg_edges`` has app_year, region_a, region_b, n_collab
    (intraregional rows are ignored); ``nodes_by_year`` lists each year's nodes. With
    ``clusters``, only edges touching a cluster are kept (Fig 3's network).
    Returns COLUMNS plus app_year, with ``node`` renamed city_code."""
    frames = []
    keep = set(clusters) if clusters is not None else None
    for year in sorted(nodes_by_year):
        e = reg_edges[(reg_edges["app_year"] == year) & (reg_edges["region_a"] != reg_edges["region_b"])]
        e = e.rename(columns={"region_a": "a", "region_b": "b"})
        if keep is not None:
            e = e[e["a"].isin(keep) | e["b"].isin(keep)]
        nodes = sorted(set(nodes_by_year[year]))
        if not nodes:
            continue
        res = region_centralities(nodes, e, spec)
        res.insert(0, "app_year", int(year))
        frames.append(res)
        log.debug("centrality %s: %d nodes, %d links", year, len(nodes), len(e))
    if not frames:
        return pd.DataFrame(columns=["app_year", *COLUMNS]).rename(columns={"node": "city_code"})
    return pd.concat(frames, ignore_index=True).rename(columns={"node": "city_code"})
