"""The interface both Delta engines implement, and the commit bookkeeping they share.

Paths are table locations (``<root>/<layer>/<name>``) already validated by
:class:`~patentpanel.storage.store.TableStore`, which also checks schemas, keys and
partitioning before an engine sees the data, so both engines fail the same way.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from typing import Any, Mapping

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

# Key of the commitInfo object where the embedded engine records what the Delta
# operation name cannot say (e.g. that a WRITE was a merge, and its counts).
COMMIT_INFO_KEY = "patentpanel"


def user_metadata_json(metadata: Mapping[str, Any] | None) -> str | None:
    """The caller's commit metadata as the JSON string Delta keeps in
    ``commitInfo.userMetadata`` (what both engines and DESCRIBE HISTORY show)."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"commit metadata must be a mapping, got {type(metadata).__name__}")
    return json.dumps(dict(metadata), sort_keys=True, ensure_ascii=False, default=str)


def history_entry(version: int, timestamp_ms: int | None, operation: str,
                  user_metadata: str | None, parameters: Mapping | None,
                  metrics: Mapping | None, engine: str | None) -> dict:
    """One normalised ``history()`` row."""
    meta: Any = {}
    if user_metadata:
        try:
            meta = json.loads(user_metadata)
        except ValueError:
            meta = {"userMetadata": user_metadata}   # written by another tool
    ts = (datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
          if timestamp_ms is not None else None)
    return {"version": int(version), "timestamp": ts, "operation": operation,
            "metadata": meta, "parameters": dict(parameters or {}),
            "metrics": dict(metrics or {}), "engine": engine}


class Engine(ABC):
    """Delta operations on table locations."""
    name: str = ""

    def __init__(self, spark):
        self.spark = spark

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def version(self, path: str) -> int: ...

    @abstractmethod
    def schema(self, path: str, version: int | None = None) -> StructType: ...

    @abstractmethod
    def partition_columns(self, path: str) -> list[str]: ...

    @abstractmethod
    def read(self, path: str, version: int | None = None) -> DataFrame: ...

    @abstractmethod
    def history(self, path: str) -> list[dict]:
        """Newest first (as Delta's DESCRIBE HISTORY)."""

    @abstractmethod
    def overwrite(self, df: DataFrame, path: str, partition_by: list[str],
                  description: str | None, user_metadata: str | None) -> int: ...

    @abstractmethod
    def append(self, df: DataFrame, path: str, partition_by: list[str],
               description: str | None, user_metadata: str | None) -> int: ...

    @abstractmethod
    def merge(self, df: DataFrame, path: str, keys: list[str], partition_by: list[str],
              description: str | None, user_metadata: str | None) -> int:
        """Upsert ``df`` (one row per key, checked by the caller) into an existing table."""

    @abstractmethod
    def vacuum(self, path: str, retain_hours: float, dry_run: bool) -> list[str]: ...
