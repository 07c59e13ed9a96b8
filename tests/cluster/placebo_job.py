"""The study-1 placebo (Model 2, IP permuted within years) on a seeded Eq. 3 panel.

Submitted to the standalone cluster by the tests as a driver script
(``spark-submit placebo_job.py OUT.json SEED R``): runs :class:`PlaceboTest` through
:class:`SparkRunner` and writes every replication's estimates, with the executor and
process that computed it, to JSON. The tests import :func:`placebo` to compute the same
numbers in-process with :class:`SerialRunner`.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

FIT_OPTIONS = {"diff_hansen": False}


def panel(cfg, seed: int):
    """A gold.cluster_year-shaped panel: 29 clusters x 2011-2020 from the Eq. 3 DGP."""
    from patentpanel.econ.montecarlo import Eq3DGP
    return Eq3DGP.from_config(cfg).simulate(np.random.default_rng(seed))


def placebo(cfg, seed: int, replications: int):
    from patentpanel.econ.gmm import GMMSpec
    from patentpanel.econ.placebo import PlaceboTest
    spec = GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"), "model2")
    return PlaceboTest(panel(cfg, seed), spec, replications=replications, seed=seed,
                       fit_options=FIT_OPTIONS)


def where_task(r, payload):
    """The placebo replication plus where it ran (the executor id is the name of the
    executor's working directory on a standalone worker)."""
    from patentpanel.econ.placebo import placebo_replication
    row = placebo_replication(r, payload)
    row.update(pid=os.getpid(), executor=os.path.basename(os.getcwd()))
    return row


def main(out: str, seed: int, replications: int) -> None:
    from pyspark.sql import SparkSession

    from patentpanel.config import load_config
    from patentpanel.econ.distributed import SparkRunner
    spark = SparkSession.builder.getOrCreate()
    test = placebo(load_config(), seed, replications)
    runner = SparkRunner(spark, partitions=4, poll_seconds=0.5)
    where = runner.run(where_task, replications, test.payload(), label="placebo where")
    res = test.run(runner)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"draws": res.draws.to_dict(orient="list"), "summary": res.summary(),
                   "where": where[["replication", "coef", "pid", "executor"]].to_dict(orient="list"),
                   "driver_pid": os.getpid(), "master": spark.sparkContext.master},
                  fh, default=str)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
