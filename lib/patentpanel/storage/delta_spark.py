"""Spark's own Delta engine (delta-spark), used wherever its JARs are on the classpath
(clusters, or ``./spark-submit.sh --with-packages``). All work happens in Spark's Delta:
``format("delta")`` writes, ``DeltaTable.merge`` upserts, ``versionAsOf`` time travel.
Commit metadata goes to ``commitInfo.userMetadata``, as with the embedded engine.
"""
from __future__ import annotations

from contextlib import contextmanager

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from .engine import Engine, history_entry
from .errors import TableNotFound

_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
_RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"


def _sql_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DeltaSparkEngine(Engine):
    name = "delta-spark"

    def __init__(self, spark):
        super().__init__(spark)
        from delta.tables import DeltaTable   # python side of delta-spark
        self._DeltaTable = DeltaTable

    @contextmanager
    def _session_conf(self, key: str, value: str | None):
        """Set a session conf for one Delta command (merge/vacuum take no options)."""
        if value is None:
            yield
            return
        conf = self.spark.conf
        prev = conf.get(key, None)
        conf.set(key, value)
        try:
            yield
        finally:
            conf.unset(key) if prev is None else conf.set(key, prev)

    def _table(self, path: str):
        if not self.exists(path):
            raise TableNotFound(f"no Delta table at {path}")
        return self._DeltaTable.forPath(self.spark, path)

    def exists(self, path: str) -> bool:
        return bool(self._DeltaTable.isDeltaTable(self.spark, path))

    def _detail(self, path: str):
        return self._table(path).detail().collect()[0]

    def version(self, path: str) -> int:
        return int(self._table(path).history(1).collect()[0]["version"])

    def schema(self, path: str, version: int | None = None) -> StructType:
        return self.read(path, version).schema

    def partition_columns(self, path: str) -> list[str]:
        return list(self._detail(path)["partitionColumns"])

    def read(self, path: str, version: int | None = None) -> DataFrame:
        self._table(path)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        return reader.load(path)

    def history(self, path: str) -> list[dict]:
        rows = self._table(path).history().collect()
        out = []
        for r in rows:
            d = r.asDict(recursive=True)
            ts = d.get("timestamp")
            ms = int(ts.timestamp() * 1000) if ts is not None else None
            out.append(history_entry(d["version"], ms, d.get("operation"), d.get("userMetadata"),
                                     d.get("operationParameters"), d.get("operationMetrics"),
                                     d.get("engineInfo")))
        return out

    def _writer(self, df: DataFrame, mode: str, partition_by: list[str], user_metadata):
        w = df.write.format("delta").mode(mode)
        if partition_by:
            w = w.partitionBy(*partition_by)
        if user_metadata is not None:
            w = w.option("userMetadata", user_metadata)
        return w

    def _set_description(self, path: str, description: str | None) -> None:
        # Delta keeps the 'comment' table property as metadata.description.
        if description is not None and self._detail(path)["description"] != description:
            self.spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
                           f"('comment' = {_sql_string(description)})")

    def overwrite(self, df, path, partition_by, description, user_metadata) -> int:
        (self._writer(df, "overwrite", partition_by, user_metadata)
         .option("overwriteSchema", "true").save(path))
        self._set_description(path, description)
        return self.version(path)

    def append(self, df, path, partition_by, description, user_metadata) -> int:
        self._writer(df, "append", partition_by, user_metadata).save(path)
        self._set_description(path, description)
        return self.version(path)

    def merge(self, df, path, keys, partition_by, description, user_metadata) -> int:
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        with self._session_conf(_USER_METADATA_CONF, user_metadata):
            (self._table(path).alias("t").merge(df.alias("s"), cond)
             .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
        self._set_description(path, description)
        return self.version(path)

    def vacuum(self, path: str, retain_hours: float, dry_run: bool) -> list[str]:
        if dry_run:
            q = f"VACUUM delta.`{path}` RETAIN {float(retain_hours)} HOURS DRY RUN"
            with self._session_conf(_RETENTION_CHECK_CONF, "false"):
                return [r[0] for r in self.spark.sql(q).collect()]
        with self._session_conf(_RETENTION_CHECK_CONF, "false"):
            before = {r[0] for r in self.spark.sql(
                f"VACUUM delta.`{path}` RETAIN {float(retain_hours)} HOURS DRY RUN").collect()}
            self._table(path).vacuum(float(retain_hours))
        return sorted(before)
