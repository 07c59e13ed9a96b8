"""IPC codes: normalisation and matching against code lists (prefix and subgroup ranges).

Normal form (the ``silver.patents`` contract): subclass + main group without leading
zeros + ``/`` + subgroup, no spaces, no version suffix: ``G06N3/08``.

Pattern syntax of the code lists in ``conf/taxonomy/`` (one pattern per row):

=================  ==================================================================
``G06Q``           the whole subclass
``G06N5``          the whole main group G06N5 (every subgroup)
``G06N3/08``       subgroup 08 and its digit-extensions (3/08, 3/084, 3/088, ...)
``G06N3/00-12``    subgroups 00..12 inclusive, with digit-extensions (3/063, 3/126, ...)
``A61B5/0476-0478`` subgroups 0476..0478 inclusive, with digit-extensions
=================  ==================================================================

Subgroups are compared as decimal fractions (IPC numbers them so: 3/063 lies between
3/06 and 3/067): the digits are right-padded to 6 places and read as an integer, and a
pattern ``lo-hi`` covers ``[pad(lo), (hi + 1) * 10**(6 - len(hi)))``. So ``3/00`` means
the code G06N3/00 itself, not its whole main group (write ``G06N3`` for that), which is
how the CNIPA SEI table lists codes (3/00, 3/02, ... each separately).

Both Python (single codes, the clean stage's per-batch normaliser, tests, the review
sheets) and Spark column expressions (whole tables, no UDF) are provided and agree.
"""
from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

__all__ = ["IPCFormatError", "normalize_ipc", "split_ipc_list", "IPCFieldNormaliser",
           "CodePattern", "CodeList",
           "normalize_ipc_col", "ipc_array_col", "parse_code_col", "SUBGROUP_DIGITS", "NORMAL_FORM",
           "CodeFlagger"]

SUBGROUP_DIGITS = 6
_SEPARATORS = r"[;；|,，、\n\r\t]+"
_VERSION_SUFFIX = r"\s*[\(\[][^\)\]]*[\)\]]\s*$"
_CODE = r"^([A-H])\s*(\d{2})\s*([A-Z])\s*(\d{1,4})\s*/\s*(\d{2,6})$"
_COMPACT = r"^([A-H]\d{2}[A-Z])(\d{4})(\d{6})$"      # EPO/DOCDB 14-character form
_PATTERN = re.compile(r"^([A-H]\d{2}[A-Z])(?:(\d{1,4})(?:/(\d{2,6})(?:-(\d{2,6}))?)?)?$")
_TRAILING_ZEROS = r"(?<=\d{2})0+$"                    # 3/0800 -> 3/08, keeps 3/00
# A code already in normal form (what silver.patents holds): normalising it is a no-op.
NORMAL_FORM = r"^[A-H]\d{2}[A-Z][1-9]\d{0,3}/(\d{2}|\d{2,5}[1-9])$"


class IPCFormatError(ValueError):
    """An IPC code or code-list pattern that cannot be read."""


def normalize_ipc(raw: str | None, *, strict: bool = False) -> str | None:
    """One IPC code to normal form; ``None`` for empty or unreadable input (or
    :class:`IPCFormatError` when ``strict``).

    >>> normalize_ipc("g06n 3/08 (2006.01)")
    'G06N3/08'
    """
    if raw is None:
        return None
    s = unicodedata.normalize("NFKC", str(raw)).upper().strip()
    s = re.sub(_VERSION_SUFFIX, "", s).strip()
    if not s:
        return None
    m = re.match(_CODE, s)
    if m:
        sub = re.sub(_TRAILING_ZEROS, "", m.group(5))
        return f"{m.group(1)}{m.group(2)}{m.group(3)}{int(m.group(4))}/{sub}"
    m = re.match(_COMPACT, s)
    if m and int(m.group(2)) > 0:
        sub = re.sub(_TRAILING_ZEROS, "", m.group(3))
        return f"{m.group(1)}{int(m.group(2))}/{sub}"
    if strict:
        raise IPCFormatError(f"IPC code {raw!r}: expected section+class+subclass, main group, "
                             f"'/', subgroup (e.g. 'G06N 3/08' or 'G06N3/08(2006.01)')")
    return None


_SEPARATOR_RE = re.compile(_SEPARATORS)


def _split_items(raw: str) -> list[str]:
    """A separated IPC field (NFKC first, so full-width separators split too) -> items."""
    return _SEPARATOR_RE.split(unicodedata.normalize("NFKC", raw))


def split_ipc_list(raw: str | Sequence[str] | None, *, strict: bool = False) -> list[str]:
    """A multi-valued IPC field (``;``, ``；``, ``|``, ``,`` separated, or already a list)
    to distinct normalised codes in first-seen order; unreadable items are dropped
    (or raise when ``strict``)."""
    if raw is None:
        return []
    items = _split_items(raw) if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        if item is None or not str(item).strip():
            continue
        code = normalize_ipc(item, strict=strict)
        if code is not None and code not in out:
            out.append(code)
    return out


class IPCFieldNormaliser:
    """The IPC fields of raw records -> (main code, all codes) in normal form, with a
    cache of each raw code seen (a national table repeats a few tens of thousands of
    raw spellings millions of times). Used by the clean stage per Arrow batch, where it
    is several times cheaper than the equivalent Spark regex expressions.

    ``codes`` is the main code first, then the other readable codes of the list in
    first-seen order, without repeats; the main code is the normalised main-code field,
    else the first readable code of the list. A list is a JSON array (``json=True``,
    the JSON Lines layout) or a separated string (:func:`split_ipc_list`'s separators).
    """

    def __init__(self) -> None:
        self._cache: dict[str, str | None] = {}

    def code(self, raw: str) -> str | None:
        try:
            return self._cache[raw]
        except KeyError:
            out = self._cache[raw] = normalize_ipc(raw)
            return out

    def items(self, raw, *, json_list: bool = False) -> list[str]:
        if raw is None:
            return []
        if json_list:
            try:
                items = json.loads(raw)
            except ValueError:
                return []
            return [str(x) for x in items if x is not None] if isinstance(items, list) else []
        return _split_items(raw)

    def fields(self, codes_raw, main_raw, *, json_list: bool = False) -> tuple[str | None, list[str]]:
        out: list[str] = []
        for item in self.items(codes_raw, json_list=json_list):
            code = self.code(item) if item.strip() else None
            if code is not None and code not in out:
                out.append(code)
        main = self.code(main_raw) if main_raw is not None else None
        if main is None:
            return (out[0], out) if out else (None, out)
        return main, [main, *(c for c in out if c != main)]


def _subgroup_value(digits: str) -> int:
    return int(digits.ljust(SUBGROUP_DIGITS, "0"))


@dataclass(frozen=True)
class CodePattern:
    """One row of a code list: which codes it covers and where it comes from."""
    pattern: str
    subclass: str
    main_group: int | None = None
    sub_lo: int | None = None          # inclusive, 6-digit padded
    sub_hi: int | None = None          # exclusive
    group: str = ""                    # sei2021 / bridge / wipo2019 / tier name
    strength: str = "specific"         # specific / broad
    valid_from: int | None = None
    valid_to: int | None = None
    source: str = ""
    note: str = ""

    @classmethod
    def parse(cls, text: str, **attrs) -> "CodePattern":
        m = _PATTERN.match(str(text).strip().upper().replace(" ", ""))
        if not m:
            raise IPCFormatError(f"code-list pattern {text!r}: expected e.g. 'G06Q', 'G06N5', "
                                 f"'G06N3/08' or 'G06N3/00-12'")
        subclass, grp, lo, hi = m.groups()
        sub_lo = sub_hi = None
        if lo is not None:
            hi = hi or lo
            sub_lo = _subgroup_value(lo)
            sub_hi = (int(hi) + 1) * 10 ** (SUBGROUP_DIGITS - len(hi))
            if sub_hi <= sub_lo:
                raise IPCFormatError(f"code-list pattern {text!r}: range end {hi} is below "
                                     f"its start {lo}")
        return cls(pattern=str(text).strip(), subclass=subclass,
                   main_group=int(grp) if grp is not None else None,
                   sub_lo=sub_lo, sub_hi=sub_hi, **attrs)

    def matches(self, code: str, year: int | None = None, *,
                enforce_validity: bool = False) -> bool:
        """Whether a normalised code (as in silver.patents) falls under this pattern."""
        parsed = _parse_code(code)
        if parsed is None or parsed[0] != self.subclass:
            return False
        if self.main_group is not None and parsed[1] != self.main_group:
            return False
        if self.sub_lo is not None and not (self.sub_lo <= parsed[2] < self.sub_hi):
            return False
        if enforce_validity and year is not None:
            if self.valid_from is not None and year < self.valid_from:
                return False
            if self.valid_to is not None and year > self.valid_to:
                return False
        return True

    def overlaps(self, other: "CodePattern") -> bool:
        if self.subclass != other.subclass:
            return False
        if self.main_group is None or other.main_group is None:
            return True
        if self.main_group != other.main_group:
            return False
        if self.sub_lo is None or other.sub_lo is None:
            return True
        return self.sub_lo < other.sub_hi and other.sub_lo < self.sub_hi

    def condition(self, p, year=None, *, enforce_validity: bool = False):
        """Spark condition on a parsed-code struct ``p`` (see :func:`parse_code_col`)."""
        from pyspark.sql import functions as F
        cond = p["subclass"] == F.lit(self.subclass)
        if self.main_group is not None:
            cond = cond & (p["main_group"] == F.lit(self.main_group))
        if self.sub_lo is not None:
            cond = cond & (p["subgroup"] >= F.lit(self.sub_lo)) & (p["subgroup"] < F.lit(self.sub_hi))
        if enforce_validity and year is not None:
            if self.valid_from is not None:
                cond = cond & (year.isNull() | (year >= F.lit(self.valid_from)))
            if self.valid_to is not None:
                cond = cond & (year.isNull() | (year <= F.lit(self.valid_to)))
        return cond


def _parse_code(code: str) -> tuple[str, int, int] | None:
    m = re.match(r"^([A-H]\d{2}[A-Z])(\d{1,4})/(\d{2,6})$", code or "")
    if not m:
        return None
    return m.group(1), int(m.group(2)), _subgroup_value(m.group(3))


@dataclass
class CodeList:
    """An ordered list of :class:`CodePattern` with Python and Spark matching."""
    patterns: list[CodePattern] = field(default_factory=list)

    @classmethod
    def from_csv(cls, path: str | Path, groups: Iterable[str] | None = None) -> "CodeList":
        """Read ``pattern,group,strength,valid_from,valid_to,source,note`` rows, keeping
        the listed groups (all when ``groups`` is None)."""
        path = Path(path)
        keep = None if groups is None else set(groups)
        out: list[CodePattern] = []
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"pattern", "group", "strength"} - set(reader.fieldnames or [])
            if missing:
                raise IPCFormatError(f"{path}: missing columns {sorted(missing)}")
            for lineno, row in enumerate(reader, start=2):
                if keep is not None and row["group"] not in keep:
                    continue
                if row["strength"] not in ("specific", "broad"):
                    raise IPCFormatError(f"{path}:{lineno}: strength {row['strength']!r} is not "
                                         f"'specific' or 'broad'")
                try:
                    out.append(CodePattern.parse(
                        row["pattern"], group=row["group"], strength=row["strength"],
                        valid_from=_year(row.get("valid_from")), valid_to=_year(row.get("valid_to")),
                        source=row.get("source", "") or "", note=row.get("note", "") or ""))
                except (IPCFormatError, ValueError) as exc:
                    raise IPCFormatError(f"{path}:{lineno}: {exc}") from None
        return cls(out)

    @classmethod
    def from_patterns(cls, patterns: Iterable[str], **attrs) -> "CodeList":
        return cls([CodePattern.parse(p, **attrs) for p in patterns])

    def __len__(self) -> int:
        return len(self.patterns)

    def subset(self, **where) -> "CodeList":
        return CodeList([p for p in self.patterns
                         if all(getattr(p, k) == v for k, v in where.items())])

    def match(self, code: str, year: int | None = None, *,
              enforce_validity: bool = False) -> list[CodePattern]:
        return [p for p in self.patterns if p.matches(code, year, enforce_validity=enforce_validity)]

    def overlapping_pairs(self, other: "CodeList") -> list[tuple[CodePattern, CodePattern]]:
        return [(a, b) for a in self.patterns for b in other.patterns if a.overlaps(b)]

    # ---- Spark ------------------------------------------------------------------------
    def condition(self, p, year=None, *, enforce_validity: bool = False):
        from pyspark.sql import functions as F
        if not self.patterns:
            return F.lit(False)
        cond = None
        for pat in self.patterns:
            c = pat.condition(p, year, enforce_validity=enforce_validity)
            cond = c if cond is None else (cond | c)
        return cond

    def matched_codes_col(self, parsed_codes, year=None, *, enforce_validity: bool = False):
        """``array<string>`` of the codes (from :func:`parse_code_col` output) covered by
        any pattern."""
        from pyspark.sql import functions as F
        hits = F.filter(parsed_codes, lambda p: self.condition(p, year,
                                                               enforce_validity=enforce_validity))
        return F.transform(hits, lambda p: p["code"])

    def any_col(self, parsed_codes, year=None, *, enforce_validity: bool = False):
        from pyspark.sql import functions as F
        return F.coalesce(F.exists(parsed_codes, lambda p: self.condition(
            p, year, enforce_validity=enforce_validity)), F.lit(False))


def _year(v) -> int | None:
    v = (v or "").strip()
    return int(v) if v else None


# ---- Spark column functions ---------------------------------------------------------
_FULL = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
_HALF = "".join(chr(c) for c in range(0x21, 0x7F)) + " "


def normalize_ipc_col(col):
    """Spark expression: one IPC code string to normal form, or null (same rules as
    :func:`normalize_ipc`: full-width, case, spaces, version suffix, zero-padded groups,
    the 14-character compact form)."""
    from pyspark.sql import functions as F
    s = F.trim(F.upper(F.translate(col, _FULL, _HALF)))
    s = F.trim(F.regexp_replace(s, _VERSION_SUFFIX, ""))
    spaced = F.concat(F.regexp_extract(s, _CODE, 1), F.regexp_extract(s, _CODE, 2),
                      F.regexp_extract(s, _CODE, 3),
                      F.regexp_extract(s, _CODE, 4).try_cast("int").cast("string"), F.lit("/"),
                      F.regexp_replace(F.regexp_extract(s, _CODE, 5), _TRAILING_ZEROS, ""))
    compact = F.concat(F.regexp_extract(s, _COMPACT, 1),
                       F.regexp_extract(s, _COMPACT, 2).try_cast("int").cast("string"), F.lit("/"),
                       F.regexp_replace(F.regexp_extract(s, _COMPACT, 3), _TRAILING_ZEROS, ""))
    return (F.when(s.rlike(_CODE), spaced)
            .when(s.rlike(_COMPACT) & (F.regexp_extract(s, _COMPACT, 2).try_cast("int") > 0), compact))


def ipc_array_col(col, *, is_array: bool = True, trusted: str | None = NORMAL_FORM):
    """Spark expression: an ``array<string>`` (or, with ``is_array=False``, a separated
    string) of raw codes to distinct normalised codes; unreadable codes are dropped
    (count them with ``size(raw) - size(result)``). Codes matching ``trusted`` (by default
    the normal form itself) skip the costly normalisation."""
    from pyspark.sql import functions as F
    arr = col if is_array else F.split(F.translate(col, _FULL, _HALF), _SEPARATORS)
    if trusted:
        norm = F.transform(arr, lambda c: F.when(c.rlike(trusted), c).otherwise(normalize_ipc_col(c)))
    else:
        norm = F.transform(arr, normalize_ipc_col)
    return F.array_distinct(F.filter(norm, lambda c: c.isNotNull()))


def parse_code_col(codes):
    """Spark expression: ``array<string>`` of normalised codes to
    ``array<struct<code, subclass, main_group:int, subgroup:int>>`` for matching."""
    from pyspark.sql import functions as F
    pat = r"^([A-H]\d{2}[A-Z])(\d{1,4})/(\d{2,6})$"

    def one(c):
        return F.struct(c.alias("code"),
                        F.regexp_extract(c, pat, 1).alias("subclass"),
                        F.regexp_extract(c, pat, 2).try_cast("int").alias("main_group"),
                        F.rpad(F.regexp_extract(c, pat, 3), SUBGROUP_DIGITS, "0")
                        .try_cast("int").alias("subgroup"))
    return F.transform(F.coalesce(codes, F.array().cast("array<string>")), one)


class CodeFlagger:
    """IPC results of each record computed in Python beside the keyword pass: the matched
    AI codes, whether one of them is ``specific``, and per tier whether a code lies in its
    anchors. Same rules as the Spark expressions above (:meth:`CodeList.condition`); done
    here because Spark runs the higher-order functions those need (filter/exists over the
    code array) interpreted, which cost more JVM time than the keyword pass itself.
    Results are cached per code (and year when validity is enforced): codes repeat."""

    def __init__(self, codes: CodeList, anchors: Mapping[str, CodeList], *,
                 enforce_validity: bool = False, codes_col: str = "_codes",
                 year_col: str = "app_year", prefix: str = "_A_"):
        self.codes, self.anchors = codes, dict(anchors)
        self.enforce_validity = enforce_validity
        self.codes_col, self.year_col, self.prefix = codes_col, year_col, prefix
        self._cache: dict[tuple[str, int | None], tuple[bool, bool, tuple[bool, ...]]] = {}

    def code_info(self, code: str, year: int | None) -> tuple[bool, bool, tuple[bool, ...]]:
        """(in the AI list, a specific AI code, in each tier's anchors)."""
        key = (code, year if self.enforce_validity else None)
        hit = self._cache.get(key)
        if hit is None:
            m = self.codes.match(code, year, enforce_validity=self.enforce_validity)
            hit = (bool(m), any(p.strength == "specific" for p in m),
                   tuple(bool(a.match(code)) for a in self.anchors.values()))
            if len(self._cache) < 200_000:
                self._cache[key] = hit
        return hit

    def fields(self):
        from pyspark.sql import types as T
        return [T.StructField("matched_codes", T.ArrayType(T.StringType())),
                T.StructField("_ipc_specific", T.BooleanType())] + \
               [T.StructField(f"{self.prefix}{t}", T.IntegerType()) for t in self.anchors]

    def arrow_columns(self, batch) -> list:
        import pyarrow as pa
        codes = batch.column(self.codes_col).to_pylist()
        years = batch.column(self.year_col).to_pylist()
        matched, specific = [], []
        anchor = [[] for _ in self.anchors]
        for cs, y in zip(codes, years):
            mine, spec, hits = [], False, [0] * len(anchor)
            for c in cs or ():
                if c is None:
                    continue
                is_ai, is_spec, anc = self.code_info(c, y)
                if is_ai:
                    mine.append(c)
                    spec = spec or is_spec
                for k, a in enumerate(anc):
                    if a:
                        hits[k] = 1
            matched.append(mine)
            specific.append(spec)
            for k in range(len(anchor)):
                anchor[k].append(hits[k])
        return ([pa.array(matched, type=pa.list_(pa.string())), pa.array(specific, type=pa.bool_())]
                + [pa.array(a, type=pa.int32()) for a in anchor])
