"""Replications (placebo permutations, bootstrap draws, Monte Carlo panels) run in blocks
on Spark executors, or serially in this process, with identical numbers either way.

A *task* is a picklable callable ``task(replication, payload) -> dict | list[dict]`` (one
or more result rows). The payload (a panel, a specification) is shipped once: broadcast
to the executors by :class:`SparkRunner`, passed by reference by :class:`SerialRunner`.
Replication ids ``0..R-1`` are split into blocks (``mapPartitions``); each replication
draws from its own stream :func:`replication_rng` derived from the root seed and its id
alone, and the rows come back sorted by id, so results do not depend on the number of
partitions, executors or the backend.

Both runners pin BLAS/OpenMP to one thread around every block (``threadpoolctl``; the
Spark runner also sets ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` in the Python workers'
environment): with two cores, two single-threaded tasks beat two oversubscribed ones,
and one thread keeps the floating-point summation order fixed.

A replication that raises is recorded as ``status='failed'`` with the exception's type
and message in ``reason``; warnings raised inside a replication are kept in ``warnings``.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import warnings
import zlib
from typing import Any, Callable, Iterable, Protocol

import numpy as np
import pandas as pd

log = logging.getLogger("patentpanel.econ.distributed")

__all__ = ["ReplicationRunner", "SerialRunner", "SparkRunner", "replication_seed",
           "replication_rng", "run_block", "make_runner", "THREAD_ENV"]

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

Task = Callable[[int, Any], "dict | list[dict]"]


def _purpose_key(purpose: str) -> int:
    return zlib.crc32(purpose.encode("utf-8"))


def replication_seed(root: int, purpose: str, replication: int) -> np.random.SeedSequence:
    """The seed of one replication: ``SeedSequence(root, spawn_key=(crc32(purpose), r))``.

    This is ``SeedSequence(root).spawn(k + 1)[k].spawn(R)[r]`` with ``k = crc32(purpose)``,
    computed without spawning the others, so an executor derives replication ``r``'s stream
    from ``(root, purpose, r)`` alone; ``purpose`` keeps the placebo, bootstrap and Monte
    Carlo streams of one run seed apart.
    """
    if root is None:
        raise ValueError("replication_seed: root seed is None (set run.seed or pass a seed)")
    return np.random.SeedSequence(entropy=int(root),
                                  spawn_key=(_purpose_key(purpose), int(replication)))


def replication_rng(root: int, purpose: str, replication: int) -> np.random.Generator:
    return np.random.default_rng(replication_seed(root, purpose, replication))


def _one(task: Task, payload: Any, r: int) -> list[dict]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = task(r, payload)
            rows = [out] if isinstance(out, dict) else list(out)
        except Exception as exc:  # recorded, never dropped: the summary counts it
            rows = [{"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}]
    msgs = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    for row in rows:
        row["replication"] = int(r)
        row.setdefault("status", "ok")
        row.setdefault("reason", None)
        row["warnings"] = "; ".join(msgs) if msgs else None
    return rows


def run_block(task: Task, payload: Any, ids: Iterable[int],
              on_done: Callable[[int], None] | None = None) -> list[dict]:
    """Run the replications ``ids`` one after another with BLAS pinned to one thread."""
    from threadpoolctl import threadpool_limits
    rows: list[dict] = []
    with threadpool_limits(limits=1):
        for r in ids:
            rows.extend(_one(task, payload, int(r)))
            if on_done is not None:
                on_done(1)
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["replication", "status", "reason", "warnings"])
    return df.sort_values("replication", kind="stable").reset_index(drop=True)


class ReplicationRunner(Protocol):
    """Runs ``task`` for replication ids ``0..n-1`` and returns the rows as a DataFrame
    sorted by ``replication`` (columns: the task's keys plus ``replication``, ``status``,
    ``reason``, ``warnings``)."""

    def run(self, task: Task, n: int, payload: Any, *, label: str = "replications") -> pd.DataFrame: ...


class SerialRunner:
    """Every replication in this process, in order (tests, benchmark baseline)."""

    def __init__(self, progress_every: int = 100):
        self.progress_every = max(1, int(progress_every))

    def run(self, task: Task, n: int, payload: Any, *, label: str = "replications") -> pd.DataFrame:
        if n < 0:
            raise ValueError(f"{label}: number of replications must be >= 0, got {n}")
        done = [0]

        def tick(k: int) -> None:
            done[0] += k
            if done[0] % self.progress_every == 0 or done[0] == n:
                log.info("%s: %d/%d done", label, done[0], n)
        return _frame(run_block(task, payload, range(n), tick))


def _partition_fn(bc, acc):
    def run_partition(ids):
        import pickle
        task, payload = pickle.loads(bc.value)
        yield from run_block(task, payload, ids, acc.add)
    return run_partition


class SparkRunner:
    """Blocks of replication ids as Spark tasks (``parallelize(range(R), P).mapPartitions``).

    ``partitions``: number of blocks; default ``ceil(R / block_size)``, at least the
    default parallelism. The payload is broadcast once. Progress (replications done /
    total) comes from an accumulator that a driver thread polls every ``poll_seconds`` and
    logs; accumulators reach the driver when a block finishes, so smaller blocks give
    finer progress at a small scheduling cost (~10 ms per task).
    """

    def __init__(self, spark, partitions: int | None = None, block_size: int = 50,
                 poll_seconds: float = 2.0,
                 progress: Callable[[int, int], None] | None = None):
        if partitions is not None and int(partitions) < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if int(block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.spark, self.partitions, self.block_size = spark, partitions, int(block_size)
        self.poll_seconds, self.progress = float(poll_seconds), progress

    def n_partitions(self, n: int) -> int:
        if self.partitions is not None:
            return max(1, min(int(self.partitions), max(n, 1)))
        sc = self.spark.sparkContext
        return max(1, min(max(n, 1), max(math.ceil(n / self.block_size), sc.defaultParallelism)))

    def run(self, task: Task, n: int, payload: Any, *, label: str = "replications") -> pd.DataFrame:
        if n < 0:
            raise ValueError(f"{label}: number of replications must be >= 0, got {n}")
        if n == 0:
            return _frame([])
        sc = self.spark.sparkContext
        # Python workers are forked with sc.environment; a new environment map starts a
        # new worker daemon, so this takes effect for the tasks below (also in local mode).
        for var in THREAD_ENV:
            sc.environment[var] = "1"
        # cloudpickle (broadcasts use plain pickle): tasks defined in __main__ or as
        # closures work too; the bytes are unpickled once per block
        from pyspark import cloudpickle
        bc = sc.broadcast(cloudpickle.dumps((task, payload)))
        acc = sc.accumulator(0)
        parts = self.n_partitions(n)
        stop = threading.Event()

        def poll() -> None:
            last = -1
            while not stop.wait(self.poll_seconds):
                done = acc.value
                if done != last:
                    log.info("%s: %d/%d done", label, done, n)
                    if self.progress is not None:
                        self.progress(done, n)
                    last = done
        watcher = threading.Thread(target=poll, name=f"progress-{label}", daemon=True)
        t0 = time.perf_counter()
        watcher.start()
        try:
            sc.setJobDescription(f"{label}: {n} replications in {parts} blocks")
            rows = sc.parallelize(range(n), parts).mapPartitions(_partition_fn(bc, acc)).collect()
        finally:
            stop.set()
            watcher.join()
            sc.setJobDescription(None)
            bc.destroy()
        if self.progress is not None:
            self.progress(acc.value, n)
        log.info("%s: %d/%d done in %.1f s (%d blocks)", label, acc.value, n,
                 time.perf_counter() - t0, parts)
        return _frame(rows)


def make_runner(backend: str, spark=None, *, partitions: int | None = None,
                block_size: int = 50, poll_seconds: float = 2.0) -> ReplicationRunner:
    """``"spark"`` (needs ``spark``) or ``"serial"``."""
    if backend == "serial":
        return SerialRunner()
    if backend == "spark":
        if spark is None:
            raise ValueError("backend 'spark' needs a SparkSession")
        return SparkRunner(spark, partitions=partitions, block_size=block_size,
                           poll_seconds=poll_seconds)
    raise ValueError(f"unknown replication backend {backend!r}; expected 'spark' or 'serial'")
