"""The organisation graph on the driver: igraph and scipy on arrays, no Spark jobs.

Below ``network.org_graph.driver_max_edges`` undirected edges the whole edge list fits in
the driver's memory many times over (5M edges are 80 MB of int64 pairs), and one
driver pass beats the DataFrame engine's one Spark job per PageRank iteration, component
round and BFS level (each costing ~0.1-1 s of scheduling however small the graph).
:class:`DriverGraph` holds the graph as an igraph ``Graph`` over vertex positions
0..n-1 plus the original ids, and computes the same quantities with the same semantics
as :class:`~patentpanel.network.graph.OrgGraph`'s other engines:

* degree: distinct neighbours (the graph is already simple);
* PageRank: networkx's power iteration exactly (``_pagerank_scipy``): uniform start and
  teleport, the mass of dangling (here: isolated) vertices spread uniformly, stop as
  soon as the L1 change of one iteration is below ``n * tol``; normalised to sum 1;
* components: igraph's connected components, labelled by their smallest vertex id;
* landmark distances: igraph BFS hop counts, unreachable pairs left out.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("patentpanel.network.graph")

__all__ = ["DriverGraph", "pagerank_power"]


def pagerank_power(n: int, src: np.ndarray, dst: np.ndarray, alpha: float, max_iter: int,
                   tol: float) -> tuple[np.ndarray, int, float]:
    """PageRank of the undirected graph on 0..n-1 with edges (src[i], dst[i]) (each
    unordered pair once), by networkx's power iteration. Returns (ranks summing to 1,
    iterations run, last L1 change); ``tol == 0`` runs exactly ``max_iter`` iterations."""
    import scipy.sparse as sps
    if n == 0:
        return np.zeros(0), 0, 0.0
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    deg = np.bincount(rows, minlength=n).astype(float)
    inv = np.zeros(n)
    inv[deg > 0] = 1.0 / deg[deg > 0]
    # x @ A with A row-normalised == A^T x: build A^T (column-normalised) once.
    at = sps.csr_matrix((inv[rows], (cols, rows)), shape=(n, n))
    dangling = deg == 0
    x = np.full(n, 1.0 / n)
    p = 1.0 / n
    err, it = float("inf"), 0
    for it in range(1, max_iter + 1):
        xlast = x
        x = alpha * (at @ x + x[dangling].sum() * p) + (1.0 - alpha) * p
        err = float(np.abs(x - xlast).sum())
        if tol > 0 and err < n * tol:
            log.info("PageRank (driver) converged after %d iterations (L1 change %.3g)", it, err)
            break
    else:
        if tol > 0:
            log.warning("PageRank (driver) did not converge in %d iterations (L1 change %.3g "
                        ">= %.3g)", max_iter, err, n * tol)
    return x / x.sum(), it, err


class DriverGraph:
    """An undirected simple graph held on the driver.

    ``ids``: the vertex ids (any hashable dtype, unique); ``src``/``dst``: edge endpoints
    as ids, each unordered pair once, no self-loops (OrgGraph canonicalises before).
    Vertices are kept sorted by id and edges by their endpoints' positions, so that
    results (PageRank's floating-point sums too) do not depend on the order in which
    Spark's partitions delivered the rows."""

    def __init__(self, ids: np.ndarray | pd.Series, src, dst):
        import igraph as ig
        self.ids = pd.Index(np.asarray(ids)).sort_values()
        if not self.ids.is_unique:
            raise ValueError("driver graph: vertex ids are not unique")
        s = self.ids.get_indexer(np.asarray(src))
        d = self.ids.get_indexer(np.asarray(dst))
        if (s < 0).any() or (d < 0).any():
            bad = np.asarray(src)[s < 0].tolist()[:5] + np.asarray(dst)[d < 0].tolist()[:5]
            raise ValueError(f"graph edges reference vertices not in the vertex table, e.g. {bad[:5]}")
        lo, hi = np.minimum(s, d).astype(np.int64), np.maximum(s, d).astype(np.int64)
        order = np.lexsort((hi, lo))
        self.src, self.dst = lo[order], hi[order]
        self.n = len(self.ids)
        self.g = ig.Graph(n=self.n, edges=np.column_stack([self.src, self.dst]), directed=False)

    def degrees(self) -> pd.DataFrame:
        return pd.DataFrame({"id": self.ids, "degree": np.asarray(self.g.degree(), dtype=np.int32)})

    def pagerank(self, alpha: float, max_iter: int, tol: float) -> pd.DataFrame:
        pr, _, _ = pagerank_power(self.n, self.src, self.dst, alpha, max_iter, tol)
        return pd.DataFrame({"id": self.ids, "pagerank": pr})

    def connected_components(self) -> pd.DataFrame:
        member = np.asarray(self.g.connected_components().membership)
        # label = smallest id of the component, in the ids' own ordering
        first = pd.Series(self.ids).groupby(member).min()
        return pd.DataFrame({"id": self.ids, "component": first.reindex(member).to_numpy()})

    def shortest_paths(self, landmarks: Sequence) -> pd.DataFrame:
        """Long form (id, landmark, dist) of every finite hop distance to a landmark."""
        pos = self.ids.get_indexer(list(landmarks))
        if (pos < 0).any():
            raise ValueError("landmarks not among the vertices: "
                             f"{[x for x, p in zip(landmarks, pos) if p < 0]}")
        frames = []
        for lm, p in zip(landmarks, pos.tolist()):     # one row at a time: O(n) memory
            row = np.asarray(self.g.distances(source=[p], mode="all")[0], dtype=float)
            ok = np.isfinite(row)
            frames.append(pd.DataFrame({"id": self.ids[ok], "landmark": lm,
                                        "dist": row[ok].astype(np.int32)}))
        log.info("landmark BFS (driver): %d landmarks, eccentricity bound %d", len(landmarks),
                 int(max((f["dist"].max() for f in frames if len(f)), default=0)))
        return pd.concat(frames, ignore_index=True)
