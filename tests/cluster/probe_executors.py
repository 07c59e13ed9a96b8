"""Submitted to the standalone cluster by the tests: records which executor process ran
each task (pid, executor id) and a partition-independent checksum, as JSON."""
import json
import os
import sys

from pyspark import SparkContext, TaskContext
from pyspark.sql import SparkSession


def where(it):
    tc = TaskContext.get()
    rows = list(it)
    yield (os.getpid(), SparkContext._active_spark_context is None, tc.partitionId(), sum(rows))


if __name__ == "__main__":
    out = sys.argv[1]
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    data = sc.parallelize(range(10_000), 8)
    res = data.mapPartitions(where).collect()
    executors = [f"{e.host()}:{e.port()}" for e in sc._jsc.sc().statusTracker().getExecutorInfos()]
    with open(out, "w") as fh:
        json.dump({"tasks": res, "driver_pid": os.getpid(), "master": sc.master,
                   "executors": executors}, fh)
    spark.stop()
