"""Lineage of report artefacts: which Delta versions of which tables, under which
configuration, package version and seeds, produced a table or figure.

:class:`Lineage` pins the input tables once (their latest versions when the report stage
starts); the stage then reads every input *at* its pinned version (Delta time travel), so
the sidecar records exactly what was read and ``store.read(name, version=v)`` re-creates
it later even after newer writes. Each artefact gets ``<file stem>.lineage.json`` beside
its files; the whole run's record goes into reports/lineage.json and index.html.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import __version__

log = logging.getLogger("patentpanel.report.lineage")

__all__ = ["Lineage", "InputVersion"]


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.timezone.utc)
        return v.isoformat()
    if isinstance(v, (int, float)):  # epoch milliseconds (Delta commitInfo)
        return _dt.datetime.fromtimestamp(v / 1000, tz=_dt.timezone.utc).isoformat()
    return str(v)


@dataclass(frozen=True)
class InputVersion:
    """One input table as read: its Delta version and that commit's facts."""
    name: str
    version: int
    timestamp: str | None
    operation: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "timestamp": self.timestamp, "operation": self.operation,
                "stage": self.metadata.get("stage"), "config": self.metadata.get("config"),
                "seed": self.metadata.get("seed"), "metadata": self.metadata,
                "time_travel": f"store.read({self.name!r}, version={self.version})"}


class Lineage:
    """Pins input versions and writes lineage records.

    >>> lin = Lineage(store, cfg)
    >>> lin.pin(["gold.estimates", "gold.cluster_year"])
    >>> df = lin.read("gold.estimates")             # at the pinned version
    >>> lin.write_sidecar("table4", "table", [path_md, path_tex], ["gold.estimates"], directory)
    """

    def __init__(self, store, cfg, extra_seeds: Mapping[str, Any] | None = None):
        self.store, self.cfg = store, cfg
        self.pinned: dict[str, InputVersion] = {}
        self.missing: dict[str, str] = {}
        self.extra_seeds = dict(extra_seeds or {})
        self.created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()

    def pin(self, names: Iterable[str]) -> dict[str, InputVersion]:
        """Record the latest version of each existing table (absent ones in ``missing``)."""
        for name in names:
            if name in self.pinned or name in self.missing:
                continue
            if not self.store.exists(name):
                self.missing[name] = f"table {name} does not exist in {self.store.root}"
                continue
            hist = self.store.history(name)
            version = int(self.store.version(name))
            commit = next((h for h in hist if int(h.get("version", -1)) == version), hist[0] if hist else {})
            meta = commit.get("metadata") or {}
            if isinstance(meta, str):
                try:
                    meta = json.loads(meta)
                except json.JSONDecodeError:
                    meta = {"raw": meta}
            self.pinned[name] = InputVersion(name, version, _iso(commit.get("timestamp")),
                                             commit.get("operation"), dict(meta))
        return self.pinned

    def read(self, name: str):
        """Spark DataFrame of ``name`` at its pinned version (pinned now if it was not)."""
        if name not in self.pinned:
            self.pin([name])
        if name not in self.pinned:
            from ..storage import TableNotFound
            raise TableNotFound(self.missing[name])
        return self.store.read(name, version=self.pinned[name].version)

    def available(self, name: str) -> bool:
        self.pin([name])
        return name in self.pinned

    # -- records
    def seeds(self, inputs: Iterable[str] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {"run.seed": self.cfg.get("run.seed", None)}
        for n in inputs:
            iv = self.pinned.get(n)
            if iv is not None and iv.metadata.get("seed") is not None:
                out[n] = iv.metadata["seed"]
        out.update(self.extra_seeds)
        return out

    def record(self, key: str, kind: str, files: Iterable[str | Path], inputs: Iterable[str],
               base: str | Path | None = None, **extra: Any) -> dict[str, Any]:
        inputs = list(dict.fromkeys(inputs))
        rel = [str(Path(f).relative_to(base)) if base else str(f) for f in files]
        return {
            "artefact": key, "kind": kind, "files": rel, "created": self.created,
            "package": "patentpanel", "package_version": __version__,
            "config_fingerprint": self.cfg.fingerprint(),
            "config_sources": list(getattr(self.cfg, "sources", [])),
            "lake_root": self.store.root, "storage_engine": getattr(self.store, "engine", None),
            "inputs": {n: self.pinned[n].to_dict() for n in inputs if n in self.pinned},
            "inputs_missing": {n: self.missing[n] for n in inputs if n in self.missing},
            "seeds": self.seeds(inputs), **extra,
        }

    def write_sidecar(self, key: str, kind: str, files: Iterable[str | Path], inputs: Iterable[str],
                      directory: str | Path, base: str | Path | None = None, **extra: Any) -> tuple[Path, dict]:
        rec = self.record(key, kind, files, inputs, base=base, **extra)
        path = Path(directory) / f"{key}.lineage.json"
        path.write_text(json.dumps(rec, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return path, rec

    def run_record(self) -> dict[str, Any]:
        """The whole run: every pinned input, config, package version, seeds."""
        return {"created": self.created, "package_version": __version__,
                "config_fingerprint": self.cfg.fingerprint(),
                "config_sources": list(getattr(self.cfg, "sources", [])),
                "lake_root": self.store.root, "storage_engine": getattr(self.store, "engine", None),
                "inputs": {n: v.to_dict() for n, v in sorted(self.pinned.items())},
                "inputs_missing": dict(sorted(self.missing.items())),
                "seeds": self.seeds(self.pinned)}
