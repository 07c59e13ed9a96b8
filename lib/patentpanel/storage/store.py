"""TableStore: named Delta tables under one lake root, on either Delta engine.

``bronze.patent_records`` lives at ``<root>/bronze/patent_records``. The store validates
names, modes, keys, partitioning and schemas itself, before any engine runs, so both
engines fail the same way with messages that name the columns or keys at fault; the
engines (:mod:`.delta_spark`, :mod:`.delta_rs`) only move data and write the log.

Modes of :meth:`TableStore.write`:

* ``overwrite`` replaces the contents (and the schema and partitioning, if they
  changed); earlier versions stay readable with ``read(name, version=...)``.
* ``append`` adds rows; the data must have exactly the table's columns and types.
* ``merge`` upserts by ``keys``: rows whose key is in the table replace it, others are
  added, so the table keeps one row per key. The source itself must hold one row per
  key and no null key (re-running a merge must not duplicate).

Commit ``metadata`` (e.g. ``{"stage": "clean", "config": fingerprint}``) is stored as
JSON in ``commitInfo.userMetadata`` (where Spark's Delta puts it) and comes back in
``history()``.
"""
from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from .engine import Engine, user_metadata_json
from .errors import DuplicateKeys, TableNotFound, TableStoreError
from .fs import HadoopFS
from .schemas import check_columns_exist, check_same_columns

log = logging.getLogger("patentpanel.storage")

LAYERS = ("bronze", "silver", "gold")
MODES = ("overwrite", "append", "merge")
ENGINES = ("auto", "delta-spark", "delta-rs")
DELTA_TABLE_CLASS = "io.delta.tables.DeltaTable"
_NAME = re.compile(r"^(?P<layer>[a-z][a-z0-9_]*)\.(?P<table>[a-z][a-z0-9_]*)$")


def delta_spark_available(spark) -> bool:
    """Whether Spark's Delta classes can be loaded by this session's JVM."""
    from ..session import jvm_class_available
    return jvm_class_available(DELTA_TABLE_CLASS)


def _normalise_root(root: str | os.PathLike) -> str:
    root = os.fspath(root)
    if not root:
        raise TableStoreError("lake root is empty; set lake.root")
    if root.startswith("file://"):
        root = root[len("file://"):] or "/"
    if "://" in root:
        return root.rstrip("/")
    return os.path.abspath(root)


class TableStore:
    """Delta tables named ``layer.name`` under ``root``.

    ``engine`` is ``"delta-spark"`` (Spark's own Delta; needs its JARs), ``"delta-rs"``
    (embedded: Spark computes, the ``deltalake`` package writes the log) or ``"auto"``
    (delta-spark when its classes load, else delta-rs). Both write the same format.
    ``storage_options`` go to delta-rs for object stores (Spark uses its Hadoop conf).
    """

    def __init__(self, spark, root: str | os.PathLike, engine: str = "auto", *,
                 storage_options: Mapping[str, str] | None = None):
        if engine not in ENGINES:
            raise TableStoreError(f"unknown storage engine {engine!r}; expected one of "
                                  f"{', '.join(ENGINES)}")
        self.spark = spark
        self.root = _normalise_root(root)
        available = None
        if engine == "auto":
            available = delta_spark_available(spark)
            engine = "delta-spark" if available else "delta-rs"
        if engine == "delta-spark":
            if available is None and not delta_spark_available(spark):
                raise TableStoreError(
                    f"storage engine delta-spark needs {DELTA_TABLE_CLASS} on the classpath "
                    f"(run through ./spark-submit.sh --with-packages or --jars DIR), or use "
                    f"engine='delta-rs'")
            from .delta_spark import DeltaSparkEngine
            self._engine: Engine = DeltaSparkEngine(spark)
        else:
            from .delta_rs import DeltaRsEngine
            self._engine = DeltaRsEngine(spark, dict(storage_options or {}))
        self.engine = engine
        self._fs = HadoopFS(spark)
        if "://" not in self.root:
            os.makedirs(self.root, exist_ok=True)

    def __repr__(self) -> str:
        return f"TableStore(root={self.root!r}, engine={self.engine!r})"

    # -- names -------------------------------------------------------------------
    @staticmethod
    def parse_name(name: str) -> tuple[str, str]:
        """``"silver.patents"`` -> ``("silver", "patents")``; raises on anything else."""
        m = _NAME.match(name) if isinstance(name, str) else None
        if not m or m["layer"] not in LAYERS:
            raise TableStoreError(
                f"bad table name {name!r}: expected <layer>.<table> with layer one of "
                f"{', '.join(LAYERS)} and a lowercase identifier as table "
                f"(letters, digits, _), e.g. silver.patents")
        return m["layer"], m["table"]

    def path(self, name: str) -> str:
        """Location of table ``name`` (``<root>/<layer>/<table>``)."""
        layer, table = self.parse_name(name)
        return f"{self.root}/{layer}/{table}"

    def _existing(self, name: str) -> str:
        path = self.path(name)
        if not self._engine.exists(path):
            raise TableNotFound(f"table {name} does not exist (looked at {path})")
        return path

    # -- inspection --------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self._engine.exists(self.path(name))

    def version(self, name: str) -> int:
        """Latest version number (0 after the first write)."""
        return self._engine.version(self._existing(name))

    def schema(self, name: str, version: int | None = None) -> StructType:
        return self._engine.schema(self._existing(name), version)

    def partition_columns(self, name: str) -> list[str]:
        return self._engine.partition_columns(self._existing(name))

    def history(self, name: str) -> list[dict[str, Any]]:
        """Commits, newest first: ``version``, ``timestamp`` (UTC datetime),
        ``operation`` (WRITE, MERGE, CREATE TABLE, ...), ``metadata`` (the dict given to
        :meth:`write`), ``parameters``, ``metrics``, ``engine``."""
        return self._engine.history(self._existing(name))

    def tables(self, layer: str | None = None) -> list[str]:
        """Names of the existing tables, sorted (optionally of one layer)."""
        layers = LAYERS if layer is None else (layer,)
        if layer is not None and layer not in LAYERS:
            raise TableStoreError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        out = []
        for lay in layers:
            for t in self._fs.list_dirs(f"{self.root}/{lay}"):
                name = f"{lay}.{t}"
                if _NAME.match(name) and self._fs.exists(f"{self.root}/{lay}/{t}/_delta_log"):
                    out.append(name)
        return sorted(out)

    # -- data --------------------------------------------------------------------
    def read(self, name: str, version: int | None = None) -> DataFrame:
        """The table as of ``version`` (default: latest)."""
        path = self._existing(name)
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise TableStoreError(f"{name}: version must be an int >= 0, got {version!r}")
            latest = self._engine.version(path)
            if version > latest:
                raise TableNotFound(f"{name} has no version {version} (latest is {latest})")
        return self._engine.read(path, version)

    def write(self, df: DataFrame, name: str, mode: str = "overwrite", *,
              keys: Sequence[str] | None = None, partition_by: Sequence[str] | str | None = None,
              description: str | None = None,
              metadata: Mapping[str, Any] | None = None) -> int:
        """Write ``df`` to table ``name``; returns the new table version.

        ``keys`` (merge only) are the columns identifying a row. ``partition_by`` sets
        the partition columns when the table is created or overwritten; for append and
        merge it may be omitted (the table's are used) but must match if given.
        """
        if mode not in MODES:
            raise TableStoreError(f"{name}: unknown write mode {mode!r}; expected one of "
                                  f"{', '.join(MODES)}")
        path = self.path(name)
        if not isinstance(df, DataFrame):
            raise TableStoreError(f"{name}: expected a Spark DataFrame, got {type(df).__name__}")
        if isinstance(partition_by, str):
            partition_by = [partition_by]
        parts = list(partition_by) if partition_by is not None else None
        keys = [keys] if isinstance(keys, str) else (list(keys) if keys else None)
        if mode == "merge" and not keys:
            raise TableStoreError(f"{name}: merge needs keys=[...] (the columns identifying a row)")
        if mode != "merge" and keys:
            raise TableStoreError(f"{name}: keys are only used by mode='merge', not {mode!r}")
        user_metadata = user_metadata_json(metadata)
        dups = [c for c in df.columns if df.columns.count(c) > 1]
        if dups:
            raise TableStoreError(f"{name}: duplicate column names {sorted(set(dups))}")
        exists = self._engine.exists(path)

        if exists and mode != "overwrite":
            table_parts = self._engine.partition_columns(path)
            if parts is not None and parts != table_parts:
                raise TableStoreError(
                    f"cannot {mode} {name} with partition_by={parts}: the table is partitioned "
                    f"by {table_parts or 'nothing'}; overwrite it to change partitioning")
            parts = table_parts
            table_schema = self._engine.schema(path)
            check_same_columns(name, table_schema, df.schema,
                               "append to" if mode == "append" else "merge into")
            df = df.select(*[F.col(f"`{c}`") for c in table_schema.fieldNames()])
        parts = parts or []
        check_columns_exist(name, df.schema, parts, "partition")
        self._check_partition_types(name, df.schema, parts)
        if keys:
            check_columns_exist(name, df.schema, keys, "key")
            self._check_unique_keys(name, df, keys)

        t0 = time.perf_counter()
        if mode == "overwrite" or not exists:
            version = self._engine.overwrite(df, path, parts, description, user_metadata)
        elif mode == "append":
            version = self._engine.append(df, path, parts, description, user_metadata)
        else:
            version = self._engine.merge(df, path, keys, parts, description, user_metadata)
        log.info("wrote %s (%s, %s) -> version %d in %.2f s", name, mode, self.engine, version,
                 time.perf_counter() - t0, extra={"table": name, "mode": mode,
                                                  "seconds": time.perf_counter() - t0})
        return version

    def _check_partition_types(self, name: str, schema: StructType, parts: list[str]) -> None:
        from .delta_rs import PARTITION_TYPES
        bad = [f"{f.name} ({f.dataType.simpleString()})" for f in schema.fields
               if f.name in parts and not isinstance(f.dataType, PARTITION_TYPES)]
        if bad:
            raise TableStoreError(f"{name}: cannot partition by {', '.join(bad)}; partition "
                                  f"columns must be string, integer, date or boolean")
        if parts and len(parts) == len(schema.fields):
            raise TableStoreError(f"{name}: cannot partition by every column {parts}")

    @staticmethod
    def _check_unique_keys(name: str, df: DataFrame, keys: list[str], show: int = 5) -> None:
        any_null = F.lit(False)
        for k in keys:
            any_null = any_null | F.col(f"`{k}`").isNull()
        bad = (df.groupBy(*[F.col(f"`{k}`") for k in keys]).count()
               .where((F.col("count") > 1) | any_null).limit(show).collect())
        if bad:
            examples = [r.asDict() for r in bad]
            null_keys = any(any(r[k] is None for k in keys) for r in examples)
            raise DuplicateKeys(name, keys, examples, null_keys)

    # -- maintenance -------------------------------------------------------------
    def vacuum(self, name: str, retain_hours: float = 168, dry_run: bool = False) -> list[str]:
        """Delete data files no version newer than ``retain_hours`` needs (time travel to
        older versions stops working). Returns the files deleted (or, with ``dry_run``,
        that would be)."""
        if retain_hours < 0:
            raise TableStoreError(f"{name}: retain_hours must be >= 0, got {retain_hours}")
        return self._engine.vacuum(self._existing(name), retain_hours, dry_run)

    def delete(self, name: str) -> bool:
        """Remove table ``name`` with its history and files. Returns whether it existed."""
        path = self.path(name)
        if not self._engine.exists(path):
            return False
        self._fs.delete(path)
        log.info("deleted table %s at %s", name, path)
        return True


__all__ = ["TableStore", "LAYERS", "MODES", "ENGINES"]
