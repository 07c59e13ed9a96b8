"""Read-only pandas access to the lake without Spark, for notebooks and quick looks.

The lake's tables are Delta tables at ``<root>/<layer>/<table>`` (whichever engine wrote
them), so the ``deltalake`` (delta-rs) reader opens them directly: no JVM to start, and
time travel by version as with ``TableStore.read(name, version=v)``. Writing stays with
the stages (``TableStore``).

>>> lake = Lake.from_env()                 # $PATENTPANEL_LAKE, else the configured lake.root
>>> lake.tables("gold")
>>> est = lake.read("gold.estimates")
>>> old = lake.read("gold.estimates", version=0)
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

__all__ = ["Lake", "LAKE_ENV"]

LAKE_ENV = "PATENTPANEL_LAKE"
_NAME = re.compile(r"^(?P<layer>[a-z][a-z0-9_]*)\.(?P<table>[a-z][a-z0-9_]*)$")


class Lake:
    """The Delta tables under ``root`` as pandas frames (read only)."""

    def __init__(self, root: str | os.PathLike, storage_options: dict[str, str] | None = None):
        self.root = str(root).rstrip("/")
        self.storage_options = storage_options or None

    @classmethod
    def from_env(cls, variable: str = LAKE_ENV, cfg=None) -> "Lake":
        """The lake named by the environment variable, else ``lake.root`` of the project's
        configuration (a relative root is taken from the project directory, so a notebook
        started in notebooks/ finds the same lake as ``patentpanel`` run from the clone)."""
        raw = os.environ.get(variable, "").strip()
        if raw:
            return cls(raw)
        if cfg is None:
            from ..config import load_config
            cfg = load_config()
        root = str(cfg.get("lake.root"))
        if "://" not in root and not Path(root).is_absolute():
            root = str(Path(cfg.directory).resolve().parent / root)
        opts = {k: v for k, v in (cfg.get("lake.storage_options", {}) or {}).items() if not k.startswith("_")}
        return cls(root, opts or None)

    def path(self, name: str) -> str:
        m = _NAME.match(name)
        if not m:
            raise ValueError(f"bad table name {name!r}: expected <layer>.<table>, e.g. gold.estimates")
        return f"{self.root}/{m['layer']}/{m['table']}"

    def _table(self, name: str, version: int | None = None):
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError
        try:
            return DeltaTable(self.path(name), version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            raise FileNotFoundError(f"no Delta table {name} at {self.path(name)} (has its stage run on "
                                    f"this lake? {LAKE_ENV}={self.root})") from None

    def exists(self, name: str) -> bool:
        return Path(self.path(name), "_delta_log").is_dir() if "://" not in self.root else \
            self._exists_remote(name)

    def _exists_remote(self, name: str) -> bool:
        try:
            self._table(name)
            return True
        except FileNotFoundError:
            return False

    def tables(self, layer: str | None = None) -> list[str]:
        """``layer.table`` names of the Delta tables present (local lakes)."""
        base = Path(self.root)
        out = []
        for lay in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
            if layer and lay.name != layer:
                continue
            out += [f"{lay.name}.{t.name}" for t in sorted(lay.iterdir()) if (t / "_delta_log").is_dir()]
        return out

    def read(self, name: str, version: int | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The table (at ``version``) as a pandas DataFrame."""
        return self._table(name, version).to_pandas(columns=list(columns) if columns else None)

    def version(self, name: str) -> int:
        return int(self._table(name).version())

    def count(self, name: str, version: int | None = None) -> int:
        """Rows of the table, from the Delta log's per-file statistics when every file
        has them (no data read), else by reading one column."""
        import pyarrow as pa
        dt = self._table(name, version)
        n = pa.table(dt.get_add_actions(flatten=True)).column("num_records").to_pylist()
        if n and all(v is not None for v in n):
            return int(sum(n))
        first = dt.schema().fields[0].name
        return len(dt.to_pandas(columns=[first]))

    def overview(self, layer: str | None = None) -> pd.DataFrame:
        """One row per table: name, Delta version, rows, the writing stage and seed."""
        rows = []
        for t in self.tables(layer):
            h = self.history(t)
            last = h.sort_values("version").iloc[-1] if len(h) else {}
            rows.append({"table": t, "version": self.version(t), "rows": self.count(t),
                         "stage": last.get("stage"), "seed": last.get("seed")})
        return pd.DataFrame(rows)

    def history(self, name: str) -> pd.DataFrame:
        """One row per commit: version, timestamp, operation and the writer's metadata
        (stage, config fingerprint, seed) where the commit carries it."""
        rows = []
        for h in self._table(name).history():
            meta: Any = h.get("userMetadata") or h.get("metadata") or {}
            if isinstance(meta, str):
                try:
                    meta = json.loads(meta)
                except json.JSONDecodeError:
                    meta = {"raw": meta}
            rows.append({"version": h.get("version"), "timestamp": pd.to_datetime(h.get("timestamp"), unit="ms",
                                                                                   utc=True),
                         "operation": h.get("operation"), **(meta if isinstance(meta, dict) else {})})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"
