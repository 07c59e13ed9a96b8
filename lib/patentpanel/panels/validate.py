"""Validation of the gold panels on write: column types, nullability, ranges, allowed
values, finiteness and unique (id, year) keys, with errors that name the offending rows.

A small explicit validator rather than pandera: pandera 0.35 installs with our pandas
2.3.3 but pulls pydantic/typeguard into a package whose dependencies the lead keeps
minimal, and all that is needed here is a dozen checks whose messages must name the
panel keys (``(city_code=110000, year=2013)``), not pandas index positions.

    >>> CLUSTER_YEAR.validate(df)          # returns df cast to the declared types
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import types as T

__all__ = ["Col", "PanelSchema", "PanelValidationError", "CLUSTER_YEAR", "CITY120_YEAR",
           "FIRM_YEAR", "DESCRIPTIVES"]

_SPARK = {"string": T.StringType(), "int": T.IntegerType(), "long": T.LongType(),
          "double": T.DoubleType(), "bool": T.BooleanType()}


class PanelValidationError(ValueError):
    """A panel failed validation. ``failures``: one row per failing cell or key with the
    key columns, ``column``, ``check`` and ``value``."""

    def __init__(self, table: str, failures: pd.DataFrame, keys: Sequence[str], limit: int = 8):
        self.table, self.failures = table, failures
        lines = []
        for (col, check), g in failures.groupby(["column", "check"], sort=False):
            rows = "; ".join("(" + ", ".join(f"{k}={r[k]}" for k in keys) + f") value {r['value']!r}"
                             for _, r in g.head(limit).iterrows())
            more = f"; and {len(g) - limit} more" if len(g) > limit else ""
            lines.append(f"  {col}: {check}: {len(g)} row(s): {rows}{more}")
        super().__init__(f"{table}: {len(failures)} validation failure(s)\n" + "\n".join(lines))


@dataclass(frozen=True)
class Col:
    """One column: type (string, int, long, double, bool), nullability, bounds, allowed
    values, a regex pattern for strings; ``finite`` forbids inf in doubles."""
    name: str
    dtype: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple | None = None
    pattern: str | None = None
    finite: bool = True


@dataclass
class PanelSchema:
    name: str
    keys: tuple[str, ...]
    columns: tuple[Col, ...]
    # columns that may be present beyond the declared ones (prefix match), as doubles
    extra_double_prefixes: tuple[str, ...] = field(default=())

    def spark_schema(self, df: pd.DataFrame) -> T.StructType:
        decl = {c.name: c for c in self.columns}
        fields = []
        for name in df.columns:
            c = decl.get(name)
            fields.append(T.StructField(name, _SPARK[c.dtype if c else "double"], True))
        return T.StructType(fields)

    def with_extra(self, names: Sequence[str]) -> "PanelSchema":
        """The schema plus nullable double columns ``names`` (configured extra controls)."""
        have = {c.name for c in self.columns}
        extra = tuple(Col(n, "double", nullable=True) for n in names if n not in have)
        return PanelSchema(self.name, self.keys, self.columns + extra, self.extra_double_prefixes)

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        """Check ``df``; returns it with columns in declared order and declared dtypes.
        Raises :class:`PanelValidationError` listing every failure by key."""
        decl = {c.name: c for c in self.columns}
        missing = [c for c in decl if c not in df.columns]
        extra = [c for c in df.columns if c not in decl
                 and not any(c.startswith(p) for p in self.extra_double_prefixes)]
        if missing or extra:
            raise PanelValidationError(self.name, pd.DataFrame(
                [{**{k: "-" for k in self.keys}, "column": c, "check": "missing column", "value": None}
                 for c in missing] +
                [{**{k: "-" for k in self.keys}, "column": c, "check": "undeclared column", "value": None}
                 for c in extra]), self.keys)
        out = df.reset_index(drop=True)
        fails: list[pd.DataFrame] = []

        def add(mask: pd.Series, col: str, check: str, values: pd.Series) -> None:
            if mask.any():
                f = out.loc[mask, list(self.keys)].copy()
                f["column"], f["check"], f["value"] = col, check, values[mask].to_numpy()
                fails.append(f)

        for c in self.columns:
            s = out[c.name]
            isna = s.isna()
            if not c.nullable:
                add(isna, c.name, "null not allowed", s)
            present = ~isna
            if c.dtype in ("int", "long", "double"):
                num = pd.to_numeric(s, errors="coerce")
                add(present & num.isna(), c.name, f"not a number ({c.dtype})", s)
                if c.dtype in ("int", "long"):
                    add(present & num.notna() & (num != np.round(num)), c.name, "not an integer", s)
                if c.dtype == "double" and c.finite:
                    add(present & num.notna() & ~np.isfinite(num.astype(float)), c.name, "not finite", s)
                if c.min is not None:
                    add(present & (num < c.min), c.name, f"below minimum {c.min}", s)
                if c.max is not None:
                    add(present & (num > c.max), c.name, f"above maximum {c.max}", s)
            elif c.dtype == "bool":
                add(present & ~s.map(lambda v: isinstance(v, (bool, np.bool_))), c.name, "not a boolean", s)
            elif c.dtype == "string":
                add(present & ~s.map(lambda v: isinstance(v, str)), c.name, "not a string", s)
                if c.pattern is not None:
                    rx = re.compile(c.pattern)
                    add(present & ~s.astype(str).map(lambda v: bool(rx.fullmatch(v))), c.name,
                        f"does not match {c.pattern!r}", s)
            if c.allowed is not None:
                add(present & ~s.isin(c.allowed), c.name, f"not one of {list(c.allowed)}", s)
        dup = out.duplicated(list(self.keys), keep=False)
        add(dup, "+".join(self.keys), "duplicate key", out[self.keys[0]])
        if fails:
            raise PanelValidationError(self.name, pd.concat(fails, ignore_index=True), self.keys)
        cast = {}
        for c in self.columns:
            if c.dtype in ("int", "long"):
                cast[c.name] = "Int64" if c.nullable else "int64"
            elif c.dtype == "double":
                cast[c.name] = "float64"
            elif c.dtype == "bool":
                cast[c.name] = "bool"
        out = out.astype(cast)
        order = [c.name for c in self.columns] + [c for c in out.columns if c not in decl]
        return out[order]


_CITY = r"\d{6}"
_D = lambda name, **kw: Col(name, "double", **kw)  # noqa: E731

CLUSTER_YEAR = PanelSchema("gold.cluster_year", ("city_code", "year"), (
    Col("city_code", "string", pattern=_CITY), Col("city_name", "string"),
    Col("city_name_en", "string", nullable=True), Col("year", "int", min=1985, max=2100),
    _D("ti_count", min=0), Col("ip_count", "int", min=0), Col("ip_city", "int", min=0),
    Col("ip_province", "int", min=0), _D("nc_raw", nullable=True, min=0),
    _D("ed_raw", min=0), _D("ic_raw", min=0), _D("ie_raw", min=0),
    _D("ti"), _D("ip"), _D("nc", nullable=True), _D("ed"), _D("ic"), _D("ie"),
    _D("ip_x_nc", nullable=True), Col("controls_imputed", "bool"),
))

_S2_COUNTS = ("ft_count", "ct_count", "gpt_count", "invention_count", "utility_count",
              "design_count", "pct_count", "total_count", "ft_granted_count", "ct_granted_count",
              "gpt_granted_count")
CITY120_YEAR = PanelSchema("gold.city120_year", ("city_code", "year"), (
    Col("city_code", "string", pattern=_CITY), Col("city_name", "string"),
    Col("city_name_en", "string"), Col("year", "int", min=1985, max=2100),
    *(_D(c, min=0) for c in _S2_COUNTS),
    _D("population", min=0), _D("innovation_index", min=0),
    _D("ft", min=0, max=1), _D("ct", min=0, max=1), _D("gpt", min=0, max=1),
    _D("innovation", min=0, max=1),
    _D("popdensity"), _D("ecodevelop"), _D("fdi"), _D("open"), _D("eduexp"), _D("indstru"),
    _D("techlevel"), _D("diversification", nullable=True), _D("findev", nullable=True),
    Col("coastal", "int", allowed=(0, 1)), Col("capital", "int", allowed=(0, 1)),
    Col("transport", "int", allowed=(0, 1)), Col("cityscale", "int", allowed=(0, 1)),
    Col("is_municipality", "int", allowed=(0, 1)),
    _D("invention_pc", min=0), _D("invention_share", nullable=True, min=0, max=1),
    _D("hq_patent_index", min=0, max=1),
    _D("ft_granted", min=0, max=1), _D("ct_granted", min=0, max=1), _D("gpt_granted", min=0, max=1),
    _D("ft_share", nullable=True, min=0, max=1), _D("ct_share", nullable=True, min=0, max=1),
    _D("gpt_share", nullable=True, min=0, max=1),
    _D("post_offices_1984", nullable=True, min=0), _D("telephones_1984", nullable=True, min=0),
    _D("post_output_1984", nullable=True, min=0), _D("national_internet", nullable=True, min=0),
    Col("controls_imputed", "bool"),
))

FIRM_YEAR = PanelSchema("gold.firm_year", ("firm_id", "year"), (
    Col("firm_id", "string"), Col("firm_name", "string"), Col("city_code", "string", pattern=_CITY),
    Col("year", "int", min=1985, max=2100), _D("ti_count", min=0), _D("gs_raw", min=0),
    _D("ep"), _D("cs"), _D("oc"), Col("ip_count", "int", min=0), _D("ti"), _D("gs"), _D("ip"),
))

DESCRIPTIVES = PanelSchema("gold.descriptives", ("table", "variable", "other", "statistic"), (
    Col("table", "string"), Col("panel", "string"), Col("variable", "string"),
    Col("label", "string"), Col("other", "string"), Col("statistic", "string",
                                                        allowed=("obs", "mean", "sd", "min", "max", "r",
                                                                 "p_value", "vif", "r2")),
    _D("value", nullable=True, finite=False), Col("n", "long", min=0), Col("position", "int", min=0),
))
