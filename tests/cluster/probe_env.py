"""Submitted to the standalone cluster by the tests: reports, per task, which Python the
executor ran and where numpy, statsmodels, linearmodels and patentpanel were imported
from (to check that ``--pack-env`` and ``--py-files`` reach the executors), as JSON."""
import json
import os
import sys

from pyspark.sql import SparkSession


def where(it):
    import linearmodels
    import numpy
    import statsmodels

    import patentpanel
    n = sum(1 for _ in it)
    yield {"pid": os.getpid(), "cwd": os.getcwd(), "executable": sys.executable,
           "prefix": sys.prefix, "numpy": numpy.__file__, "statsmodels": statsmodels.__file__,
           "linearmodels": linearmodels.__file__, "patentpanel": patentpanel.__file__,
           "version": sys.version.split()[0], "n": n}


if __name__ == "__main__":
    out = sys.argv[1]
    spark = SparkSession.builder.getOrCreate()
    rows = spark.sparkContext.parallelize(range(100), 4).mapPartitions(where).collect()
    with open(out, "w") as fh:
        json.dump({"tasks": rows, "driver_executable": sys.executable}, fh)
    spark.stop()
