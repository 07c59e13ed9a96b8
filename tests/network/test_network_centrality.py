"""Region centralities against networkx (independent reference) and a hand calculation."""
from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from patentpanel.network.centrality import (CentralitySpec, closeness_from_distances,
                                            region_centralities, yearly_centralities)

TOL = 1e-12


def _tiny():
    # A-B-C path, D-E pair, F isolated: three components, n = 6.
    nodes = list("ABCDEF")
    edges = pd.DataFrame({"a": ["A", "B", "D"], "b": ["B", "C", "E"], "n_collab": [1, 1, 1]})
    return nodes, edges


def test_hand_computed_closeness_each_convention():
    nodes, edges = _tiny()
    r = region_centralities(nodes, edges, CentralitySpec("ucinet", 1.0)).set_index("node")
    # ucinet: (n-1)/(sum reachable d + (n-r)*n), n=6
    expect = {"A": 5 / 21, "B": 5 / 20, "C": 5 / 21, "D": 5 / 25, "E": 5 / 25, "F": 5 / 30}
    for k, v in expect.items():
        assert r.loc[k, "closeness_ucinet"] == pytest.approx(v, abs=TOL)
    # wf: ((r-1)/(n-1)) * ((r-1)/sum d)
    expect = {"A": 4 / 15, "B": 2 / 5, "C": 4 / 15, "D": 1 / 5, "E": 1 / 5, "F": 0.0}
    for k, v in expect.items():
        assert r.loc[k, "closeness_wf"] == pytest.approx(v, abs=TOL)
    # harmonic: sum 1/d / (n-1)
    expect = {"A": 1.5 / 5, "B": 2 / 5, "C": 1.5 / 5, "D": 1 / 5, "E": 1 / 5, "F": 0.0}
    for k, v in expect.items():
        assert r.loc[k, "closeness_harmonic"] == pytest.approx(v, abs=TOL)
    # component: (r-1)/sum d within the component; NaN for the isolate
    expect = {"A": 2 / 3, "B": 1.0, "C": 2 / 3, "D": 1.0, "E": 1.0}
    for k, v in expect.items():
        assert r.loc[k, "closeness_component"] == pytest.approx(v, abs=TOL)
    assert math.isnan(r.loc["F", "closeness_component"])
    assert r.loc["B", "betweenness"] == 1.0 and r.loc["A", "betweenness"] == 0.0
    assert r.loc["B", "constraint"] == pytest.approx(0.5, abs=TOL)
    assert r.loc["A", "constraint"] == pytest.approx(1.0, abs=TOL)
    assert r.loc["B", "effective_size"] == pytest.approx(2.0, abs=TOL)
    assert list(r["degree"]) == [1, 2, 1, 1, 1, 0]
    assert list(r["component_size"]) == [3, 3, 3, 2, 2, 1]


def test_scale_and_nc_column():
    nodes, edges = _tiny()
    r = region_centralities(nodes, edges, CentralitySpec("wf", 100.0)).set_index("node")
    assert r.loc["B", "nc"] == pytest.approx(40.0, abs=1e-10)
    assert (r["nc"] == r["closeness_wf"]).all()


def _random_network(seed: int, n: int = 60, p: float = 0.04):
    rng = np.random.default_rng(seed)
    G = nx.gnp_random_graph(n, p, seed=int(rng.integers(1 << 31)))
    G.add_nodes_from(range(n, n + 5))  # guaranteed isolates
    for u, v in G.edges:
        G[u][v]["n_collab"] = int(rng.integers(1, 30))
        G[u][v]["length"] = 1.0 / G[u][v]["n_collab"]
    rows = [(u, v, d["n_collab"]) for u, v, d in G.edges(data=True)]
    edges = pd.DataFrame(rows, columns=["a", "b", "n_collab"])
    return G, edges


def _ucinet_reference(G, weight):
    n = G.number_of_nodes()
    out = {}
    for u in G:
        d = nx.single_source_dijkstra_path_length(G, u, weight=weight) if weight else \
            nx.single_source_shortest_path_length(G, u)
        s = sum(d.values()) + (n - len(d)) * n
        out[u] = (n - 1) / s
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("distance", ["hops", "inverse_weight"])
def test_random_graphs_equal_networkx(seed, distance):
    G, edges = _random_network(seed)
    assert nx.number_connected_components(G) >= 3
    nodes = list(G.nodes)
    r = region_centralities(nodes, edges, CentralitySpec("ucinet", 1.0, distance)).set_index("node")
    w = "length" if distance == "inverse_weight" else None
    n = G.number_of_nodes()
    wf = nx.closeness_centrality(G, distance=w, wf_improved=True)
    comp = nx.closeness_centrality(G, distance=w, wf_improved=False)
    harm = nx.harmonic_centrality(G, distance=w)
    uci = _ucinet_reference(G, w)
    btw = nx.betweenness_centrality(G, weight=w, normalized=False)
    btwn = nx.betweenness_centrality(G, weight=w, normalized=True)
    con = nx.constraint(G, weight="n_collab")
    # nodes=... selects networkx's per-node path: its all-nodes sparse path (3.6.1)
    # normalises the max-scaled weights along the wrong axis (see the hand test below).
    esz = nx.effective_size(G, nodes=list(G), weight="n_collab")
    for u in nodes:
        row = r.loc[u]
        assert row["closeness_wf"] == pytest.approx(wf[u], abs=TOL)
        assert row["closeness_harmonic"] == pytest.approx(harm[u] / (n - 1), abs=TOL)
        assert row["closeness_ucinet"] == pytest.approx(uci[u], abs=TOL)
        if G.degree(u) == 0:
            assert math.isnan(row["closeness_component"]) and comp[u] == 0.0
            assert math.isnan(row["constraint"]) and math.isnan(con[u])
            assert math.isnan(row["effective_size"]) and math.isnan(esz[u])
        else:
            assert row["closeness_component"] == pytest.approx(comp[u], abs=TOL)
            assert row["constraint"] == pytest.approx(con[u], abs=TOL)
            assert row["effective_size"] == pytest.approx(esz[u], abs=TOL)
        assert row["betweenness"] == pytest.approx(btw[u], abs=1e-9 * max(1.0, btw[u]))
        assert row["betweenness_norm"] == pytest.approx(btwn[u], abs=TOL)
        assert row["degree"] == G.degree(u)
        assert row["weighted_degree"] == pytest.approx(G.degree(u, weight="n_collab"), abs=TOL)


def test_unweighted_effective_size_matches_borgatti():
    G, edges = _random_network(7)
    r = region_centralities(list(G.nodes), edges.assign(n_collab=1)).set_index("node")
    ref = nx.effective_size(G)  # Borgatti's n - 2t/n for unweighted graphs
    for u, v in ref.items():
        if not math.isnan(v):
            assert r.loc[u, "effective_size"] == pytest.approx(v, abs=TOL)


def test_weighted_effective_size_by_hand():
    # Node 1: p_10 = 1/6, p_12 = 5/6; m_02 = 2/2, m_20 = 2/5.
    # esize_1 = (1 - 5/6 * 1) + (1 - 1/6 * 2/5) = 1/6 + 14/15 = 1.1
    e = pd.DataFrame({"a": [0, 1, 0, 2], "b": [1, 2, 2, 3], "n_collab": [1, 5, 2, 1]})
    r = region_centralities([0, 1, 2, 3], e).set_index("node")
    assert r.loc[1, "effective_size"] == pytest.approx(1.1, abs=TOL)
    # constraint of node 1: (p_10 + p_12 p_20)^2 + (p_12 + p_10 p_02)^2, p_20 = 2/8, p_02 = 2/3
    c1 = (1 / 6 + 5 / 6 * 2 / 8) ** 2 + (5 / 6 + 1 / 6 * 2 / 3) ** 2
    assert r.loc[1, "constraint"] == pytest.approx(c1, abs=TOL)


def test_duplicate_and_self_loop_rows_are_merged():
    edges = pd.DataFrame({"a": ["A", "B", "A"], "b": ["B", "A", "A"], "n_collab": [2, 3, 9]})
    r = region_centralities(["A", "B"], edges).set_index("node")
    assert r.loc["A", "weighted_degree"] == 5 and r.loc["A", "degree"] == 1


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="not in the node list"):
        region_centralities(["A"], pd.DataFrame({"a": ["A"], "b": ["Z"], "n_collab": [1]}))
    with pytest.raises(ValueError, match="closeness"):
        CentralitySpec("freeman")
    with pytest.raises(ValueError, match="square"):
        closeness_from_distances(np.zeros((2, 3)), "wf")


def test_yearly_networks_are_separate_and_scope_filters():
    e = pd.DataFrame({"app_year": [2011, 2011, 2012], "region_a": ["A", "A", "A"],
                      "region_b": ["B", "A", "C"], "n_collab": [1, 5, 1]})
    out = yearly_centralities(e, {2011: ["A", "B", "C"], 2012: ["A", "B", "C"]},
                              CentralitySpec("ucinet", 100.0))
    y11 = out[out.app_year == 2011].set_index("city_code")
    assert y11.loc["C", "degree"] == 0 and y11.loc["A", "degree"] == 1
    assert y11.loc["A", "nc"] == pytest.approx(100 * 2 / (1 + 3), abs=1e-10)
    scoped = yearly_centralities(e, {2012: ["A", "B", "C"]}, CentralitySpec(), clusters=["B"])
    assert scoped["degree"].sum() == 0
