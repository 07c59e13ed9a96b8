"""Configuration: one base YAML file plus overlays, validated at load time.

The base file (``conf/patentpanel.yaml``) defines every key and its default, so the
defaults are data, not code. Overlays (further YAML files, or ``--set a.b=value``
strings) may only set keys that the base defines, with a value of a compatible type;
``conf/schema.yaml`` adds constraints (ranges, choices, patterns) per key. Every
violation raises :class:`ConfigError` naming the key, where the value came from and
what was expected.

Values are reached as ``cfg.get("spark.master")`` or ``cfg["spark"]["master"]``;
``cfg.section("spark")`` returns a plain dict. ``cfg.fingerprint()`` is a stable hash
of the effective configuration, recorded in lineage.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

__all__ = ["Config", "ConfigError", "load_config", "conf_dir", "parse_set"]

BASE_FILE = "patentpanel.yaml"
SCHEMA_FILE = "schema.yaml"
_ENV_CONF_DIR = "PATENTPANEL_CONF_DIR"


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


def conf_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Locate the ``conf/`` directory.

    Order: an explicit path, ``$PATENTPANEL_CONF_DIR``, ``./conf`` (the working
    directory, which is where ``spark-submit --archives conf.zip#conf`` unpacks it on a
    cluster), then the ``conf/`` beside an editable install of the package.
    """
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get(_ENV_CONF_DIR):
        candidates.append(Path(os.environ[_ENV_CONF_DIR]))
    candidates.append(Path.cwd() / "conf")
    candidates.append(Path(__file__).resolve().parents[2] / "conf")
    for c in candidates:
        if (c / BASE_FILE).is_file():
            return c.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"cannot find {BASE_FILE}; looked in: {tried} "
                      f"(set {_ENV_CONF_DIR} or pass --conf-dir)")


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {path}: expected a mapping at top level, "
                          f"got {type(data).__name__}")
    return data


def parse_set(item: str) -> tuple[str, Any]:
    """Parse one ``key.path=value`` override; the value is read as YAML (``3`` is an int,
    ``[1, 2]`` a list, ``null`` None); a bare string stays a string."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key.path=value")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_0-9][\w-]*)*", key):
        raise ConfigError(f"--set {item!r}: {key!r} is not a dotted key path")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _compatible(base: Any, new: Any) -> bool:
    if base is None or new is None:
        return True  # null in the base means "any type / unset"; null overrides unset a key
    if isinstance(base, bool) or isinstance(new, bool):
        return isinstance(base, bool) and isinstance(new, bool)
    if isinstance(base, (int, float)) and isinstance(new, (int, float)):
        return not (isinstance(base, int) and isinstance(new, float) and not new.is_integer())
    return isinstance(new, type(base))


def _merge(base: dict, overlay: Mapping, source: str, prefix: str = "",
           open_keys: frozenset[str] = frozenset()) -> None:
    for key, value in overlay.items():
        path = f"{prefix}{key}"
        if key not in base:
            if prefix.rstrip(".") in open_keys:
                base[key] = copy.deepcopy(value)
                continue
            close = difflib.get_close_matches(str(key), [str(k) for k in base], n=3)
            hint = f"; did you mean {', '.join(repr(prefix + c) for c in close)}?" if close else \
                f"; known keys here: {', '.join(sorted(map(str, base))) or '(none)'}"
            raise ConfigError(f"{source}: unknown configuration key {path!r}{hint}")
        current = base[key]
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value, source, path + ".", open_keys)
        elif isinstance(current, dict) and value is not None:
            raise ConfigError(f"{source}: {path!r} is a section; expected a mapping, "
                              f"got {_type_name(value)} {value!r}")
        else:
            if not _compatible(current, value):
                raise ConfigError(f"{source}: {path!r} expects {_type_name(current)} "
                                  f"(like the default {current!r}), got {_type_name(value)} {value!r}")
            if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            base[key] = copy.deepcopy(value)


def _nest(key: str, value: Any, open_keys: frozenset[str] = frozenset()) -> dict:
    """``a.b.c=v`` -> {a: {b: {c: v}}}; below an open section the rest of the path is one
    key (``spark.extra.spark.executor.cores`` sets the Spark key ``spark.executor.cores``)."""
    out: dict = {}
    node = out
    parts = key.split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in open_keys:
            parts = parts[:i] + [".".join(parts[i:])]
            break
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


class Config(Mapping):
    """The effective configuration: a read-only nested mapping with dotted access."""

    def __init__(self, data: dict, sources: list[str], directory: Path,
                 open_keys: frozenset[str] = frozenset()):
        self._data = data
        self.sources = sources
        self.directory = directory
        self.open_keys = open_keys

    # Mapping protocol over the top-level sections
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, default: Any = ...) -> Any:  # type: ignore[override]
        """Value at a dotted key path; raises ConfigError if absent and no default."""
        node: Any = self._data
        for part in key.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif default is not ...:
                return default
            else:
                raise ConfigError(f"configuration has no key {key!r}")
        return node

    def section(self, key: str) -> dict:
        value = self.get(key)
        if not isinstance(value, dict):
            raise ConfigError(f"configuration key {key!r} is not a section")
        return copy.deepcopy(value)

    def path(self, key: str) -> Path:
        """A path-valued key: relative paths are taken from the conf directory when they
        start with ``conf/``-relative markers (``@conf/``), otherwise from the working dir."""
        raw = self.get(key)
        if raw is None or raw == "":
            raise ConfigError(f"configuration key {key!r} holds no path")
        return resolve_path(str(raw), self.directory)

    def with_overrides(self, sets: Iterable[str]) -> "Config":
        data = copy.deepcopy(self._data)
        sources = list(self.sources)
        ok = self.open_keys
        for item in sets:
            k, v = parse_set(item)
            _merge(data, _nest(k, v, ok), f"--set {item}", open_keys=ok)
            sources.append(f"--set {item}")
        _validate(data, _load_schema(self.directory))
        return Config(data, sources, self.directory, ok)

    def to_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the effective configuration."""
        blob = json.dumps(self._data, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Config(sources={self.sources!r}, fingerprint={self.fingerprint()})"


def resolve_path(raw: str, directory: Path) -> Path:
    """``@conf/x`` → inside the conf directory; absolute stays; relative → working dir."""
    if raw.startswith("@conf/"):
        return directory / raw[len("@conf/"):]
    p = Path(os.path.expanduser(raw))
    return p if p.is_absolute() else Path.cwd() / p


def _read_base(directory: Path) -> dict:
    """The base file plus the per-stage files it lists under ``include:``; each included
    file contributes whole top-level sections, which may not repeat."""
    data = _read_yaml(directory / BASE_FILE)
    includes = data.pop("include", []) or []
    if not isinstance(includes, list):
        raise ConfigError(f"{directory / BASE_FILE}: 'include' must be a list of file names")
    for name in includes:
        part = _read_yaml(directory / name)
        for section, value in part.items():
            if section in data:
                raise ConfigError(f"{directory / name}: section {section!r} is already defined "
                                  f"in {BASE_FILE} or an earlier include")
            data[section] = value
    return data


def _open_keys(data: dict) -> frozenset[str]:
    """Sections whose keys are free-form, declared in the base file with ``_open: true``.
    The markers are removed from ``data``: readers of the configuration never see them."""
    found: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            if node.pop("_open", None) is True:
                found.add(prefix.rstrip("."))
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
    walk(data, "")
    return frozenset(found)


def _load_schema(directory: Path) -> dict:
    path = directory / SCHEMA_FILE
    return _read_yaml(path) if path.is_file() else {}


def _validate(data: dict, schema: Mapping[str, Mapping[str, Any]]) -> None:
    """Apply the constraints of conf/schema.yaml: {key: {min, max, choices, pattern, required}}."""
    cfg = Config(data, [], Path("."))
    for key, rule in schema.items():
        value = cfg.get(key, None)
        if value is None:
            if rule.get("required"):
                raise ConfigError(f"configuration key {key!r} is required ({rule.get('doc', '')})")
            continue
        values = value if isinstance(value, list) and rule.get("each") else [value]
        for v in values:
            if "choices" in rule and v not in rule["choices"]:
                raise ConfigError(f"configuration key {key!r}: {v!r} is not one of {rule['choices']}")
            if "min" in rule and isinstance(v, (int, float)) and v < rule["min"]:
                raise ConfigError(f"configuration key {key!r}: {v!r} is below the minimum {rule['min']}")
            if "max" in rule and isinstance(v, (int, float)) and v > rule["max"]:
                raise ConfigError(f"configuration key {key!r}: {v!r} is above the maximum {rule['max']}")
            if "pattern" in rule and not re.fullmatch(rule["pattern"], str(v)):
                raise ConfigError(f"configuration key {key!r}: {v!r} does not match {rule['pattern']!r}"
                                  + (f" ({rule['doc']})" if rule.get("doc") else ""))
    for a, b in (("run.years.start", "run.years.end"),):
        lo, hi = cfg.get(a, None), cfg.get(b, None)
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"configuration: {a}={lo} is after {b}={hi}")


def load_config(overlays: Iterable[str | os.PathLike] = (), sets: Iterable[str] = (),
                directory: str | os.PathLike | None = None) -> Config:
    """Load ``conf/patentpanel.yaml``, apply overlay files then ``--set`` items, validate.

    >>> cfg = load_config(sets=["spark.shuffle_partitions=8"])
    >>> cfg.get("spark.shuffle_partitions")
    8
    """
    d = conf_dir(directory)
    data = _read_base(d)
    sources = [str(d / BASE_FILE)]
    open_keys = _open_keys(data)
    for ov in overlays:
        p = resolve_path(str(ov), d) if str(ov).startswith("@conf/") else Path(ov)
        _merge(data, _read_yaml(p), str(p), open_keys=open_keys)
        sources.append(str(p))
    for item in sets:
        k, v = parse_set(item)
        _merge(data, _nest(k, v, open_keys), f"--set {item}", open_keys=open_keys)
        sources.append(f"--set {item}")
    _validate(data, _load_schema(d))
    return Config(data, sources, d, open_keys)
