"""Organisation co-application graph with two engines behind one interface.

The organisation network has tens of thousands of nodes on one study and millions on a
national multi-decade run, so it stays in Spark:

* ``graphframes``: GraphFrames (when ``org.graphframes`` JVM classes and the ``graphframes``
  Python package are loadable, e.g. under ``spark-submit.sh --with-packages``);
* ``dataframe``: an embedded engine of iterative DataFrame joins, no extra JARs;
* ``driver``: the edge list collected to the driver and computed with igraph/scipy
  (:mod:`.graph_driver`), for graphs of at most ``driver_max_edges`` edges.

``auto`` means GraphFrames when available, else ``driver`` when the graph has at most
``driver_max_edges`` (undirected) edges, else ``dataframe``; the choice and its reason
are logged. Each DataFrame-engine iteration is a Spark job (~0.1-1 s of scheduling
however small the graph), so up to 100 PageRank iterations, the component rounds and
the BFS levels of five landmarks cost minutes even for a few hundred edges, while the
driver engine needs one collect and well under a second per million edges.

All engines expose :meth:`OrgGraph.degrees`, :meth:`OrgGraph.pagerank`,
:meth:`OrgGraph.connected_components` and :meth:`OrgGraph.shortest_paths` with the same
output schemas; the choice is logged. The graph is undirected and simple: input edges
(src, dst) are canonicalised, deduplicated and self-loops dropped.

Semantics (shared, and checked against networkx in tests):

* degree: number of distinct neighbours (isolated vertices 0);
* PageRank: networkx's definition (uniform teleport, a dangling vertex's rank spread
  uniformly), normalised to sum 1; stops when the L1 change < n * tol (networkx's rule)
  or after ``max_iter`` iterations (the DataFrame engine tests the change every
  ``checkpoint_every`` iterations, so it may run a few more). GraphFrames' (GraphX) PageRank treats isolated
  vertices differently (they keep only the teleport share) and is rescaled to sum 1;
  the two agree when no vertex is isolated, which holds for graphs built from edges;
* components: label = smallest vertex id of the component;
* shortest paths: hop distances to each landmark as a map landmark -> distance,
  unreachable landmarks absent (GraphFrames' ``shortestPaths`` schema).

DataFrame engine algorithms: PageRank by power iteration (one join + aggregate per step,
sums in 64-bit fixed point so that the result is bit-identical under any partitioning);
components by min-label propagation with pointer jumping (label := label of label),
which needs O(log n)-ish rounds rather than the diameter; landmark BFS by frontier
joins with an anti-join on visited pairs. Every ``checkpoint_every`` steps the state is
checkpointed (reliable checkpoint with ``checkpoint_dir``, local otherwise) so the
query plan stays small.
"""
from __future__ import annotations

import logging
import tempfile
from typing import Callable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ..session import release

log = logging.getLogger("patentpanel.network.graph")

__all__ = ["OrgGraph", "graphframes_available", "select_engine", "ENGINES"]

ENGINES = ("auto", "graphframes", "dataframe", "driver")
DEFAULT_DRIVER_MAX_EDGES = 5_000_000
GRAPHFRAMES_CLASS = "org.graphframes.GraphFramePythonAPI"


def graphframes_available(spark: SparkSession) -> tuple[bool, str]:
    """Whether GraphFrames can run here, and why (not)."""
    try:
        import graphframes  # noqa: F401
    except ImportError:
        return False, "python package graphframes is not installed"
    try:
        jvm = spark.sparkContext._jvm
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(GRAPHFRAMES_CLASS, False, loader)
    except Exception:
        return False, f"{GRAPHFRAMES_CLASS} is not on the classpath"
    return True, f"{GRAPHFRAMES_CLASS} on the classpath"


def select_engine(spark: SparkSession, engine: str, count_edges: Callable[[], int],
                  driver_max_edges: int = DEFAULT_DRIVER_MAX_EDGES) -> tuple[str, str]:
    """Resolve ``engine`` (auto | graphframes | dataframe | driver) to the engine that runs
    and the reason, and log both. ``count_edges`` (the number of distinct undirected
    edges) is called only when ``auto`` has to choose between the driver and DataFrames."""
    if engine not in ENGINES:
        raise ValueError(f"graph engine {engine!r} not in {ENGINES}")
    if driver_max_edges < 0:
        raise ValueError(f"driver_max_edges must be >= 0, got {driver_max_edges}")
    if engine in ("dataframe", "driver"):
        chosen = engine, "chosen in configuration"
    else:
        ok, reason = graphframes_available(spark)
        if engine == "graphframes" and not ok:
            raise RuntimeError(f"graph.engine=graphframes but {reason}; run through "
                               "./spark-submit.sh --with-packages or set graph.engine=auto")
        if ok:
            chosen = "graphframes", reason
        else:
            m = count_edges()
            if m <= driver_max_edges:
                chosen = "driver", (f"{reason}; {m} edges <= driver_max_edges {driver_max_edges}: "
                                    f"collected to the driver (igraph)")
            else:
                chosen = "dataframe", (f"embedded DataFrame engine; {reason}; {m} edges > "
                                       f"driver_max_edges {driver_max_edges}")
    log.info("organisation graph engine: %s (%s)", *chosen)
    return chosen


# PageRank sums in fixed point: every term (<= 1) is rounded to a multiple of 2^-62
# (2^-60 for the L1 change, which is <= 2) and summed as 64-bit integers. Integer sums
# do not depend on the order of the terms, so the ranks and the stopping decision are
# bit-identical under any partitioning; the rounding (<= 1.1e-19 per term) is far below
# the convergence tolerance. A floating-point sum would differ by a few ulps between
# partitionings, and a different stopping iteration by up to n * tol.
_PR_SCALE = 2.0 ** 62
_ERR_SCALE = 2.0 ** 60


def _exact_sum(x, scale: float):
    """sum(x) for 0 <= x <= 1 (x <= 2 for scale 2^60), independent of the order of terms."""
    return F.sum(F.floor(x * F.lit(scale) + F.lit(0.5))) / F.lit(scale)


class OrgGraph:
    """An undirected simple graph on Spark.

    ``edges``: columns src, dst. ``vertices``: column id (default: the edge endpoints);
    every endpoint must be a vertex. ``engine``: auto | graphframes | dataframe | driver;
    ``driver_max_edges``: the largest graph ``auto`` computes on the driver.
    """

    def __init__(self, edges: DataFrame, vertices: DataFrame | None = None, *,
                 engine: str = "auto", checkpoint_every: int = 4,
                 checkpoint_dir: str | None = None, validate: bool = True,
                 driver_max_edges: int = DEFAULT_DRIVER_MAX_EDGES):
        if engine not in ENGINES:
            raise ValueError(f"graph engine {engine!r} not in {ENGINES}")
        for c in ("src", "dst"):
            if c not in edges.columns:
                raise ValueError(f"graph edges: missing column {c!r} (got {edges.columns})")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        if driver_max_edges < 0:
            raise ValueError(f"driver_max_edges must be >= 0, got {driver_max_edges}")
        self.spark = edges.sparkSession
        und = (edges.where(F.col("src").isNotNull() & F.col("dst").isNotNull()
                           & (F.col("src") != F.col("dst")))
               .select(F.least("src", "dst").alias("src"), F.greatest("src", "dst").alias("dst"))
               .distinct())
        self.edges = und.persist()
        self.both = und.unionByName(und.select(F.col("dst").alias("src"), F.col("src").alias("dst"))).persist()
        if vertices is None:
            vertices = und.select(F.col("src").alias("id")).union(und.select(F.col("dst").alias("id")))
        elif "id" not in vertices.columns:
            raise ValueError(f"graph vertices: missing column 'id' (got {vertices.columns})")
        self.vertices = vertices.select("id").where(F.col("id").isNotNull()).distinct().persist()
        self._driver = None
        self.engine, self.engine_reason = select_engine(self.spark, engine, self.edges.count,
                                                        driver_max_edges)
        if self.engine == "driver":
            self._load_driver()          # validates the endpoints itself
        elif validate:
            orphans = (self.both.select(F.col("src").alias("id"))
                       .join(self.vertices, "id", "left_anti").limit(5).collect())
            if orphans:
                raise ValueError("graph edges reference vertices not in the vertex table, e.g. "
                                 f"{[r.id for r in orphans]}")
        self.checkpoint_every = checkpoint_every
        self.checkpoint_dir = checkpoint_dir or None
        if self.checkpoint_dir:
            self.spark.sparkContext.setCheckpointDir(self.checkpoint_dir)

    def _load_driver(self) -> None:
        from .graph_driver import DriverGraph
        ids = self.vertices.toPandas()["id"]
        e = self.edges.toPandas()
        self._driver = DriverGraph(ids.to_numpy(), e["src"].to_numpy(), e["dst"].to_numpy())

    def _from_driver(self, pdf, columns: str) -> DataFrame:
        id_type = self.vertices.schema["id"].dataType.simpleString()
        return self.spark.createDataFrame(pdf, columns.replace("ID", id_type))

    # ------------------------------------------------------------------ helpers
    def _cut(self, df: DataFrame) -> DataFrame:
        """Materialise ``df`` and cut its lineage (reliable checkpoint with a checkpoint
        directory, else a local checkpoint)."""
        return df.checkpoint(eager=True) if self.checkpoint_dir else df.localCheckpoint(eager=True)

    def _truncate(self, df: DataFrame, step: int) -> DataFrame:
        """Cache ``df`` (materialised by the caller's next action); every
        checkpoint_every steps cut its lineage instead."""
        return self._cut(df) if step % self.checkpoint_every == 0 else df.persist()

    def _graphframe(self, directed_both: bool):
        from graphframes import GraphFrame
        return GraphFrame(self.vertices, self.both if directed_both else self.edges)

    def num_vertices(self) -> int:
        return self.vertices.count()

    # ------------------------------------------------------------------ degree
    def degrees(self) -> DataFrame:
        """(id, degree) for every vertex, isolated vertices 0."""
        if self.engine == "driver":
            return self._from_driver(self._driver.degrees(), "id ID, degree int")
        if self.engine == "graphframes":
            d = self._graphframe(False).degrees
        else:
            d = self.both.groupBy(F.col("src").alias("id")).agg(F.count("*").alias("degree"))
        return (self.vertices.join(d, "id", "left")
                .select("id", F.coalesce(F.col("degree"), F.lit(0)).cast("int").alias("degree")))

    # ------------------------------------------------------------------ PageRank
    def pagerank(self, reset_probability: float = 0.15, max_iter: int = 100,
                 tol: float = 1e-9) -> DataFrame:
        """(id, pagerank), summing to 1. Damping = 1 - reset_probability."""
        if not 0 < reset_probability < 1:
            raise ValueError(f"reset_probability must be in (0, 1), got {reset_probability}")
        if max_iter < 1 or tol < 0:
            raise ValueError(f"max_iter must be >= 1 and tol >= 0, got {max_iter}, {tol}")
        if self.engine == "graphframes":
            g = self._graphframe(True)
            res = (g.pageRank(resetProbability=reset_probability, tol=tol) if tol > 0
                   else g.pageRank(resetProbability=reset_probability, maxIter=max_iter))
            v = res.vertices.select("id", "pagerank")
            total = v.agg(F.sum("pagerank")).first()[0]
            return v.select("id", (F.col("pagerank") / F.lit(total)).alias("pagerank"))
        if self.engine == "driver":
            return self._from_driver(self._driver.pagerank(1.0 - reset_probability, max_iter, tol),
                                     "id ID, pagerank double")
        return self._pagerank_df(1.0 - reset_probability, max_iter, tol)

    def _pagerank_df(self, alpha: float, max_iter: int, tol: float) -> DataFrame:
        n = self.num_vertices()
        if n == 0:
            return self.vertices.select("id", F.lit(0.0).alias("pagerank"))
        deg = self._cut(self.degrees())
        out_edges = self._cut(self.both.join(deg.withColumnRenamed("id", "src"), "src")
                              .select("src", "dst", (F.lit(1.0) / F.col("degree")).alias("share")))
        # In an undirected graph the dangling vertices are the isolated ones; they all
        # hold the same rank x, so the dangling mass n0*x follows a scalar recurrence on
        # the driver and an iteration needs no Spark action of its own.
        n0 = deg.where("degree = 0").count()
        x_iso = 1.0 / n
        ranks = self._cut(deg.select("id", "degree", F.lit(1.0 / n).alias("pr")))
        chain: list[DataFrame] = []
        err, step = float("inf"), 0
        for step in range(1, max_iter + 1):
            base = (1.0 - alpha) / n + alpha * n0 * x_iso / n
            x_iso = base
            contrib = (out_edges.join(ranks.select(F.col("id").alias("src"), "pr"), "src")
                       .groupBy(F.col("dst").alias("id"))
                       .agg(_exact_sum(F.col("pr") * F.col("share"), _PR_SCALE).alias("c")))
            # The new ranks reference the old ones once (through the contributions) and
            # take the vertex list from the static degree table: the plan grows linearly
            # until the next checkpoint.
            new = (deg.join(contrib, "id", "left")
                   .select("id", "degree",
                           (F.lit(base) + F.lit(alpha) * F.coalesce(F.col("c"), F.lit(0.0))).alias("pr")))
            chain.append(ranks)
            if step % self.checkpoint_every and step < max_iter:
                ranks = new.persist()
                continue
            new = self._cut(new)  # one Spark job for the last checkpoint_every steps
            if tol > 0:
                err = (new.join(ranks.select("id", F.col("pr").alias("old")), "id")
                       .agg(_exact_sum(F.abs(F.col("pr") - F.col("old")), _ERR_SCALE))
                       .first()[0]) or 0.0
            # Unpersisting a cached predecessor earlier would make Spark re-cache
            # (recompute) its dependants; after a checkpoint the chain is free.
            release(*chain)
            chain = []
            ranks = new
            if tol > 0 and err < n * tol:
                log.info("PageRank converged after %d iterations (L1 change %.3g)", step, err)
                break
        else:
            if tol > 0:
                log.warning("PageRank did not converge in %d iterations (L1 change %.3g >= %.3g)",
                            max_iter, err, n * tol)
        deg.unpersist()
        out_edges.unpersist()
        return ranks.select("id", F.col("pr").alias("pagerank"))

    # ------------------------------------------------------------------ components
    def connected_components(self, max_rounds: int = 1000) -> DataFrame:
        """(id, component), component = smallest vertex id in the component."""
        if self.engine == "driver":
            return self._from_driver(self._driver.connected_components(), "id ID, component ID")
        if self.engine == "graphframes":
            sc = self.spark.sparkContext
            if sc.getCheckpointDir() is None:
                sc.setCheckpointDir(tempfile.mkdtemp(prefix="patentpanel-gf-ckpt-"))
            cc = self._graphframe(False).connectedComponents()
            first = cc.groupBy("component").agg(F.min("id").alias("label"))
            return cc.join(first, "component").select("id", F.col("label").alias("component"))
        # Each round references the labels several times (neighbour minimum, pointer
        # jump), so the plan would grow geometrically: cut it every round.
        labels = self._cut(self.vertices.select("id", F.col("id").alias("comp")))
        for step in range(1, max_rounds + 1):
            nb = (self.both.join(labels.select(F.col("id").alias("dst"), "comp"), "dst")
                  .groupBy(F.col("src").alias("id")).agg(F.min("comp").alias("m")))
            l1 = (labels.join(nb, "id", "left")
                  .select("id", F.col("comp").alias("old"),
                          F.least("comp", F.coalesce("m", "comp")).alias("comp")))
            # pointer jumping: adopt the label of my label (same component, never larger)
            jump = l1.select(F.col("id").alias("comp"), F.col("comp").alias("comp2"))
            l2 = (l1.join(jump, "comp", "left")
                  .select("id", "old", F.least("comp", F.coalesce("comp2", "comp")).alias("comp")))
            l2 = self._cut(l2)
            changed = l2.where(F.col("comp") != F.col("old")).count()
            release(labels)
            labels = l2.drop("old")
            if changed == 0:
                log.info("connected components: converged in %d rounds", step)
                return labels.withColumnRenamed("comp", "component")
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")

    # ------------------------------------------------------------------ shortest paths
    def shortest_paths(self, landmarks: Sequence) -> DataFrame:
        """(id, distances: map landmark -> hops); unreachable landmarks are absent."""
        landmarks = list(dict.fromkeys(landmarks))
        if not landmarks:
            raise ValueError("shortest_paths needs at least one landmark")
        if self.engine == "driver":
            visited = self._from_driver(self._driver.shortest_paths(landmarks),
                                        "id ID, landmark ID, dist int")
            return self._distance_maps(visited)
        lm = self.spark.createDataFrame([(x,) for x in landmarks], ["id"]).select(
            F.col("id").cast(self.vertices.schema["id"].dataType).alias("id"))
        missing = [r.id for r in lm.join(self.vertices, "id", "left_anti").collect()]
        if missing:
            raise ValueError(f"landmarks not among the vertices: {missing}")
        if self.engine == "graphframes":
            return self._graphframe(True).shortestPaths(landmarks=landmarks).select("id", "distances")
        visited = lm.select("id", F.col("id").alias("landmark"), F.lit(0).alias("dist"))
        # visited and frontier feed each other: cut both every round.
        visited = self._cut(visited)
        frontier = visited
        step = 0
        while True:
            step += 1
            nxt = (frontier.join(self.both.withColumnRenamed("src", "id"), "id")
                   .select(F.col("dst").alias("id"), "landmark").distinct()
                   .join(visited.select("id", "landmark"), ["id", "landmark"], "left_anti")
                   .withColumn("dist", F.lit(step)))
            nxt = self._cut(nxt)
            if nxt.count() == 0:
                break
            grown = self._cut(visited.unionByName(nxt))
            release(visited, frontier)
            visited, frontier = grown, nxt
        log.info("landmark BFS: %d landmarks, eccentricity bound %d", len(landmarks), step - 1)
        return self._distance_maps(visited)

    def _distance_maps(self, visited: DataFrame) -> DataFrame:
        """(id, landmark, dist) rows -> (id, distances map) for every vertex."""
        entry = F.when(F.col("landmark").isNotNull(), F.struct(F.col("landmark").alias("key"),
                                                                F.col("dist").alias("value")))
        return (self.vertices.join(visited, "id", "left").groupBy("id")
                .agg(F.map_from_entries(F.collect_list(entry)).alias("distances")))

    def unpersist(self) -> None:
        for df in (self.edges, self.both, self.vertices):
            df.unpersist()
