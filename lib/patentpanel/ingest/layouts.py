"""The four raw layouts (docs/raw-formats.md) and their detection from content.

A layout is data (``ingest.layouts`` in conf/ingest.yaml): the names users see mapped
to logical fields, the required logical fields and the multi-value separator. Names are
compared after NFKC, so ``公开（公告）号`` and ``公开(公告)号`` are one column.
"""
from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

LAYOUTS = ("trs", "incopat", "patsnap", "jsonl")
CSV_LAYOUTS = ("incopat", "patsnap")

#: Logical fields of bronze.patent_records, in column order.
LOGICAL_FIELDS = ("app_no", "app_date", "pub_no", "pub_date", "title", "abstract",
                  "applicants", "inventors", "address", "province_code", "ipc_main", "ipc",
                  "patent_type", "first_applicant", "n_applicants_declared", "country_code")

_TRS_TAG = re.compile(r"^\s*<([^<>=\r\n]{1,40})>=")


@functools.lru_cache(maxsize=4096)
def norm_name(name: str) -> str:
    """Column or tag name as compared: NFKC, no surrounding blanks or BOM (cached: the
    parsers ask for every tag and key of every record)."""
    return unicodedata.normalize("NFKC", name).replace("\ufeff", "").strip()


@dataclass(frozen=True)
class Layout:
    name: str
    fields: Mapping[str, str]        # normalised raw name -> logical field
    required: tuple[str, ...]        # logical fields
    separator: str                   # regex between values of multi-valued fields

    def raw_names(self, logical: str) -> list[str]:
        return [k for k, v in self.fields.items() if v == logical]


def layouts_from_config(section: Mapping) -> dict[str, Layout]:
    """``ingest.layouts`` of the configuration as :class:`Layout` objects."""
    out = {}
    for name, spec in section.items():
        if name not in LAYOUTS:
            raise ValueError(f"ingest.layouts.{name}: unknown layout; expected one of "
                             f"{', '.join(LAYOUTS)}")
        fields = {norm_name(k): v for k, v in spec["fields"].items()}
        bad = sorted(set(fields.values()) - set(LOGICAL_FIELDS))
        if bad:
            raise ValueError(f"ingest.layouts.{name}.fields: unknown logical field(s) "
                             f"{', '.join(bad)}; expected some of {', '.join(LOGICAL_FIELDS)}")
        out[name] = Layout(name, fields, tuple(spec["required"]), spec["separator"])
    return out


@dataclass(frozen=True)
class Detection:
    layout: str | None
    reason: str = ""                 # why no layout (None) was found


def _first_line(text: str) -> str:
    for line in re.split(r"\r\n|\r|\n", text[:200000]):
        if line.strip():
            return line.strip()
    return ""


def csv_header(text: str) -> list[str]:
    """The first CSV row of ``text`` (RFC 4180 quoting), names normalised."""
    try:
        row = next(csv.reader(io.StringIO(text[:200000], newline="")), [])
    except csv.Error:
        return []
    return [norm_name(c) for c in row]


def detect_layout(text: str, layouts: Mapping[str, Layout], min_header_matches: int = 3
                  ) -> Detection:
    """Which layout the decoded file content is in, from its first non-empty line:
    ``<REC>`` or ``<tag>=`` is TRS, ``{`` JSON Lines, else a CSV header scored against
    each CSV layout's column names (the layout with most matches, at least
    ``min_header_matches``)."""
    first = _first_line(text)
    if not first:
        return Detection(None, "the file holds no text")
    if first.startswith("<REC>") or _TRS_TAG.match(first):
        return Detection("trs")
    if first.startswith("{") or first.startswith("["):
        return Detection("jsonl")
    header = set(csv_header(text))
    names = {n: set(layouts[n].fields) for n in CSV_LAYOUTS if n in layouts}
    scores = {}
    for n, cols in names.items():
        others = set().union(*(c for m, c in names.items() if m != n))
        # (columns matched, columns only this layout has): the second breaks ties
        scores[n] = (len(header & cols), len((header & cols) - others))
    if scores:
        ranked = sorted(scores, key=lambda n: scores[n], reverse=True)
        best = ranked[0]
        if scores[best][0] >= min_header_matches and (
                len(ranked) == 1 or scores[best] > scores[ranked[1]]):
            return Detection(best)
        tied = [n for n in ranked if scores[n] == scores[best]]
        if scores[best][0] >= min_header_matches and len(tied) > 1:
            return Detection(None, f"header {first[:80]!r} matches the {' and '.join(tied)} layouts "
                                   f"equally ({scores[best][0]} columns each, none only one of "
                                   f"them has); declare the layout (ingest --layout)")
    return Detection(None, f"first line {first[:80]!r} is neither a TRS <REC> record, a JSON "
                           f"object nor a CSV header of the incoPat or PatSnap layout")


def missing_required_columns(header: list[str], layout: Layout) -> list[str]:
    """Raw names of the required logical fields no header column provides."""
    present = {layout.fields[h] for h in header if h in layout.fields}
    missing = []
    for logical in layout.required:
        if logical not in present:
            missing.append("/".join(layout.raw_names(logical)) or logical)
    return missing
