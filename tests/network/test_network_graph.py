"""The organisation-graph engines against networkx on random graphs with isolated
vertices and several components."""
from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import pytest

from patentpanel.network.graph import OrgGraph, graphframes_available


def _random_graph(seed=11, n=40):
    rng = np.random.default_rng(seed)
    G = nx.Graph()
    G.add_nodes_from(range(n))
    # three blocks with internal random edges, plus isolated vertices 36..39
    for block in (range(0, 15), range(15, 28), range(28, 36)):
        nodes = list(block)
        for i in nodes[1:]:
            G.add_edge(i, int(rng.choice(nodes[: nodes.index(i)])))  # spanning tree
        for _ in range(len(nodes)):
            a, b = rng.choice(nodes, 2, replace=False)
            G.add_edge(int(a), int(b))
    return G


def _frames(spark, G):
    rows = [(u, v) for u, v in G.edges] + [(v, u) for u, v in list(G.edges)[:5]] + [(3, 3)]
    edges = spark.createDataFrame(rows, "src long, dst long")
    vertices = spark.createDataFrame([(v,) for v in G.nodes], "id long")
    return edges, vertices


@pytest.fixture(scope="module", params=["dataframe", "driver"])
def graph_and_nx(spark, request):
    G = _random_graph()
    edges, vertices = _frames(spark, G)
    g = OrgGraph(edges, vertices, engine=request.param, checkpoint_every=3)
    assert g.engine == request.param
    yield g, G
    g.unpersist()


def test_engine_choice_is_logged(spark, caplog):
    e = spark.createDataFrame([(1, 2), (2, 3), (2, 1)], "src long, dst long")
    gf, _ = graphframes_available(spark)
    with caplog.at_level(logging.INFO, logger="patentpanel.network.graph"):
        small = OrgGraph(e, engine="auto", driver_max_edges=2, validate=False)
        large = OrgGraph(e, engine="auto", driver_max_edges=1, validate=False)
    if gf:
        assert small.engine == large.engine == "graphframes"
    else:
        # 2 distinct undirected edges: on the driver up to the limit, DataFrames above it
        assert small.engine == "driver" and "2 edges <= driver_max_edges 2" in small.engine_reason
        assert large.engine == "dataframe" and "2 edges > driver_max_edges 1" in large.engine_reason
    msgs = [r.message for r in caplog.records if "organisation graph engine" in r.message]
    assert len(msgs) == 2 and small.engine_reason in msgs[0] and large.engine_reason in msgs[1]
    with pytest.raises(ValueError, match="driver_max_edges must be >= 0"):
        OrgGraph(e, engine="auto", driver_max_edges=-1)


def test_driver_pagerank_agrees_with_dataframe_engine_and_networkx(spark):
    """Same damping, tolerance and iteration cap: the driver engine runs networkx's
    iteration exactly (so equal to rounding); the DataFrame engine tests convergence
    every checkpoint_every steps, so it may run up to 9 more iterations here. Each stops
    within alpha/(1-alpha) * n * tol (L1) of the fixed point, so with tol 1e-11 the two
    agree to 1e-9 per vertex. Damping 0.5 keeps the DataFrame engine's iteration count
    (one Spark job per convergence test) small."""
    G = _random_graph(seed=5, n=60)
    G.add_nodes_from(range(60, 64))                  # isolated (dangling) vertices
    edges, vertices = _frames(spark, G)
    ref = nx.pagerank(G, alpha=0.5, tol=1e-11, max_iter=100)
    total = sum(ref.values())
    got = {}
    for engine in ("driver", "dataframe"):
        # checkpoint_every=10: a convergence test (one Spark job) every 10 iterations
        g = OrgGraph(edges, vertices, engine=engine, checkpoint_every=10, validate=False)
        got[engine] = {r.id: r.pagerank for r in
                       g.pagerank(reset_probability=0.5, max_iter=100, tol=1e-11).collect()}
        g.unpersist()
    for v, x in ref.items():
        assert got["driver"][v] == pytest.approx(x / total, abs=1e-12)
        assert got["dataframe"][v] == pytest.approx(got["driver"][v], abs=1e-9)
    l1 = sum(abs(got["dataframe"][v] - got["driver"][v]) for v in ref)
    assert l1 <= 2 * len(ref) * 1e-11


def test_driver_engine_string_ids_and_unreachable_landmarks(spark):
    e = spark.createDataFrame([("a", "b"), ("b", "c"), ("x", "y")], "src string, dst string")
    v = spark.createDataFrame([(i,) for i in "abcxyz"], "id string")
    g = OrgGraph(e, v, engine="driver")
    assert {r.id: r.component for r in g.connected_components().collect()} == \
        {"a": "a", "b": "a", "c": "a", "x": "x", "y": "x", "z": "z"}
    sp = {r.id: dict(r.distances) for r in g.shortest_paths(["c", "y"]).collect()}
    assert sp == {"a": {"c": 2}, "b": {"c": 1}, "c": {"c": 0}, "x": {"y": 1}, "y": {"y": 0},
                  "z": {}}
    assert {r.id: r.degree for r in g.degrees().collect()} == \
        {"a": 1, "b": 2, "c": 1, "x": 1, "y": 1, "z": 0}


def test_degrees_equal_networkx(graph_and_nx):
    g, G = graph_and_nx
    got = {r.id: r.degree for r in g.degrees().collect()}
    assert got == dict(G.degree())


def test_pagerank_equals_networkx(graph_and_nx):
    g, G = graph_and_nx
    got = {r.id: r.pagerank for r in g.pagerank(reset_probability=0.6, max_iter=200, tol=1e-11).collect()}
    ref = nx.pagerank(G, alpha=0.4, tol=1e-14, max_iter=1000)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-12)
    for v, x in ref.items():
        assert got[v] == pytest.approx(x, abs=1e-8)


def test_components_equal_networkx(graph_and_nx):
    g, G = graph_and_nx
    got = {r.id: r.component for r in g.connected_components().collect()}
    expect = {v: min(c) for c in nx.connected_components(G) for v in c}
    assert got == expect
    assert len(set(got.values())) == 3 + 4


def test_landmark_distances_equal_networkx(graph_and_nx):
    g, G = graph_and_nx
    landmarks = [0, 20, 37]
    got = {r.id: dict(r.distances) for r in g.shortest_paths(landmarks).collect()}
    for v in G.nodes:
        expect = {}
        for lm in landmarks:
            d = nx.single_source_shortest_path_length(G, lm)
            if v in d:
                expect[lm] = d[v]
        assert got[v] == expect, v


def test_bad_input_is_named(spark):
    e = spark.createDataFrame([(1, 2)], "src long, dst long")
    v = spark.createDataFrame([(1,)], "id long")
    with pytest.raises(ValueError, match="not in the vertex table"):
        OrgGraph(e, v, engine="dataframe")
    with pytest.raises(ValueError, match="missing column 'src'"):
        OrgGraph(e.withColumnRenamed("src", "a"), engine="dataframe")
    with pytest.raises(ValueError, match="landmarks not among"):
        OrgGraph(e, engine="dataframe").shortest_paths([99])
    with pytest.raises(ValueError, match="not in the vertex table"):
        OrgGraph(e, v, engine="driver")
    with pytest.raises(ValueError, match="landmarks not among"):
        OrgGraph(e, engine="driver").shortest_paths([99])


def test_graphframes_engine_agrees(spark, graph_and_nx):
    ok, reason = graphframes_available(spark)
    if not ok:
        pytest.skip(f"GraphFrames engine unavailable: {reason}")
    g_df, G = graph_and_nx
    g_gf = OrgGraph(g_df.edges, g_df.vertices, engine="graphframes")
    assert {r.id: r.degree for r in g_gf.degrees().collect()} == dict(G.degree())
    assert {r.id: r.component for r in g_gf.connected_components().collect()} == \
        {v: min(c) for c in nx.connected_components(G) for v in c}
    gf_sp = {r.id: dict(r.distances) for r in g_gf.shortest_paths([0, 20]).collect()}
    df_sp = {r.id: dict(r.distances) for r in g_df.shortest_paths([0, 20]).collect()}
    assert gf_sp == df_sp
    # PageRank: GraphX differs on isolated vertices; compare on the non-isolated subgraph
    core = [v for v in G if G.degree(v) > 0]
    sub = spark.createDataFrame([(v,) for v in core], "id long")
    g_gf2 = OrgGraph(g_df.edges, sub, engine="graphframes")
    ref = nx.pagerank(G.subgraph(core), alpha=0.85, tol=1e-14, max_iter=1000)
    got = {r.id: r.pagerank for r in g_gf2.pagerank(tol=1e-12).collect()}
    for v, x in ref.items():
        assert got[v] == pytest.approx(x, abs=1e-8)


@pytest.mark.parametrize("engine", ["dataframe", "driver"])
def test_pagerank_is_partition_independent(spark, engine):
    """Same graph, other partitionings (input partitions and shuffle partitions): the
    ranks are bit-identical (the DataFrame engine sums in 64-bit fixed point, the driver
    engine sorts vertices and edges), so the stopping iteration is the same too."""
    G = _random_graph(seed=9, n=50)
    G.add_nodes_from(range(50, 53))
    edges, vertices = _frames(spark, G)
    prev = spark.conf.get("spark.sql.shuffle.partitions")
    got = []
    try:
        for parts, shuffle in ((1, "1"), (3, "5")):
            spark.conf.set("spark.sql.shuffle.partitions", shuffle)
            g = OrgGraph(edges.repartition(parts), vertices.repartition(parts), engine=engine,
                         checkpoint_every=10, validate=False)
            got.append({r.id: r.pagerank for r in
                        g.pagerank(reset_probability=0.5, max_iter=60, tol=1e-12).collect()})
            g.unpersist()
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", prev)
    assert got[0] == got[1]
    ref = nx.pagerank(G, alpha=0.5, tol=1e-14, max_iter=1000)
    for v, x in ref.items():
        assert got[0][v] == pytest.approx(x, abs=1e-10)
