"""Applicants: split the raw applicant field, normalise names (NFKC, traditional ->
simplified with OpenCC), type them by ordered rules that are data (``ingest.applicants.
rules``), with the rule that decided recorded, and the fractional share 1/n."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from ..geo.geocode import to_simplified

TYPES = ("enterprise", "university", "institute", "hospital", "government", "individual",
         "foreign", "hmt")
_SPACES = re.compile(r"\s+")


def normalise_name(raw: str | None) -> str | None:
    """NFKC, traditional -> simplified, blanks collapsed; Latin names upper-cased so
    'Siemens AG' and 'SIEMENS AG' are one organisation."""
    if raw is None:
        return None
    s = _SPACES.sub(" ", to_simplified(str(raw))).strip()
    s = s.replace("\ufeff", "")
    if not s:
        return None
    if s.isascii():
        s = s.upper()
    return s


@dataclass(frozen=True)
class TypeRule:
    rule: str
    type: str
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: re.Pattern | None = None

    def matches(self, name: str) -> bool:
        if self.contains and not any(w in name for w in self.contains):
            return False
        if self.not_contains and any(w in name for w in self.not_contains):
            return False
        if self.regex is not None and not self.regex.search(name):
            return False
        return bool(self.contains or self.regex is not None)


class ApplicantTyper:
    """Ordered name rules; the first that matches decides. Names are compared after
    :func:`normalise_name` (case-insensitively for Latin text)."""

    def __init__(self, rules: Sequence[Mapping]):
        self.rules: list[TypeRule] = []
        for i, r in enumerate(rules):
            if r.get("type") not in TYPES:
                raise ValueError(f"ingest.applicants.rules[{i}] ({r.get('rule')}): type "
                                 f"{r.get('type')!r} is not one of {', '.join(TYPES)}")
            if not r.get("rule"):
                raise ValueError(f"ingest.applicants.rules[{i}]: every rule needs a name")
            norm = lambda ws: tuple(normalise_name(w) for w in (ws or ()))  # noqa: E731
            self.rules.append(TypeRule(r["rule"], r["type"], norm(r.get("contains")),
                                       norm(r.get("not_contains")),
                                       re.compile(r["regex"]) if r.get("regex") else None))

    def type_of(self, name: str | None) -> tuple[str | None, str | None]:
        if not name:
            return None, None
        for rule in self.rules:
            if rule.matches(name):
                return rule.type, rule.rule
        return None, "no_rule"


def split_applicants(raw: Column, separators: Mapping[str, str]) -> Column:
    """Spark expression: the raw applicant field of a record as an array of names,
    by the record's layout (column ``source_layout``: a JSON list for jsonl, the
    layout's separator otherwise)."""
    expr = None
    for layout, sep in separators.items():
        if layout == "jsonl":
            part = F.from_json(raw, "array<string>")
        else:
            part = F.split(raw, sep)
        cond = F.col("source_layout") == layout
        expr = F.when(cond, part) if expr is None else expr.when(cond, part)
    arr = F.coalesce(expr, F.split(raw, r"[;；]"))
    return F.filter(F.transform(arr, lambda x: F.trim(x)), lambda x: F.length(x) > 0)


NAME_SCHEMA = StructType([StructField("name_raw", StringType()), StructField("name", StringType()),
                          StructField("name_type", StringType()),
                          StructField("name_rule", StringType())])


def type_names(names: DataFrame, rules: Sequence[Mapping]) -> DataFrame:
    """Distinct raw names (column ``name_raw``) -> normalised name, type and rule,
    computed per Arrow batch with ``mapInPandas`` (OpenCC and the rules in Python)."""
    rules = [dict(r) for r in rules]

    def run(batches: Iterable[pd.DataFrame]):
        typer = ApplicantTyper(rules)
        for pdf in batches:
            norm = [normalise_name(n) for n in pdf["name_raw"]]
            typed = [typer.type_of(n) for n in norm]
            yield pd.DataFrame({"name_raw": pdf["name_raw"], "name": norm,
                                "name_type": [t for t, _ in typed],
                                "name_rule": [r for _, r in typed]})

    return names.select("name_raw").distinct().mapInPandas(run, NAME_SCHEMA)
