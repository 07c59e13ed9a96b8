"""Study 1's AI definition inside the simulator: an application is AI when one of its IPC
codes falls under the SEI 2021 list (plus the IPC-revision bridges), read from the
simulator's own copy ``conf/simulate/ai_ipc_codes.csv``.

Deliberately independent of ``patentpanel.classify`` (own file, own parser), so that the
truth checks the pipeline's code normalisation and matching instead of reusing them.
Matching rules (conf/taxonomy/README.md): a code is section+class+subclass, main group,
``/``, subgroup (spaces and a ``(2006.01)`` version suffix ignored); ``G06Q`` covers the
subclass, ``G06N5`` a main group, ``G06N3/08`` subgroup 08 and its digit-extensions
(3/084), ``G06N3/00-12`` subgroups 00..12 inclusive with extensions; subgroups compare as
decimal fractions (3/063 lies between 3/06 and 3/07).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["AICodeList", "AICodeError"]

_DIGITS = 6
_CODE = re.compile(r"^([A-H]\d{2}[A-Z])(\d{1,4})/(\d{2,6})$")
_PATTERN = re.compile(r"^([A-H]\d{2}[A-Z])(?:(\d{1,4})(?:/(\d{2,6})(?:-(\d{2,6}))?)?)?$")
_VERSION = re.compile(r"\(\d{4}\.\d{2}\)$")


class AICodeError(ValueError):
    """A malformed line of the code list."""


def _frac(digits: str) -> int:
    return int(digits.ljust(_DIGITS, "0"))


@dataclass(frozen=True)
class _Rule:
    subclass: str
    group: int | None
    lo: int | None            # inclusive
    hi: int | None            # exclusive


def _canonical(code: str) -> tuple[str, int, int] | None:
    c = _VERSION.sub("", str(code).replace(" ", "").upper())
    m = _CODE.match(c)
    if not m:
        return None
    return m.group(1), int(m.group(2)), _frac(m.group(3))


class AICodeList:
    """``is_ai(codes)``: whether any code of an application is on the list."""

    def __init__(self, rules: Sequence[_Rule]):
        self.rules = tuple(rules)
        self._by_subclass: dict[str, list[_Rule]] = {}
        for r in self.rules:
            self._by_subclass.setdefault(r.subclass, []).append(r)
        self._cache: dict[str, bool] = {}

    @classmethod
    def load(cls, path: str | Path) -> "AICodeList":
        text = Path(path).read_text(encoding="utf-8")
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        rules = []
        for i, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines)))):
            pat = (row.get("pattern") or "").replace(" ", "").upper()
            m = _PATTERN.match(pat)
            if not m:
                raise AICodeError(f"{path}: data row {i + 1}: pattern {row.get('pattern')!r}; expected "
                                  f"e.g. G06Q, G06N5, G06N3/08 or G06N3/00-12")
            sub, grp, lo, hi = m.groups()
            if lo is not None:
                hi = hi or lo
                lo_v, hi_v = _frac(lo), (int(hi) + 1) * 10 ** (_DIGITS - len(hi))
                if hi_v <= lo_v:
                    raise AICodeError(f"{path}: data row {i + 1}: range {pat} ends below its start")
            else:
                lo_v = hi_v = None
            rules.append(_Rule(sub, int(grp) if grp is not None else None, lo_v, hi_v))
        if not rules:
            raise AICodeError(f"{path}: no code patterns")
        return cls(rules)

    def code_is_ai(self, code: str) -> bool:
        hit = self._cache.get(code)
        if hit is None:
            parsed = _canonical(code)
            hit = False
            if parsed is not None:
                sub, grp, val = parsed
                for r in self._by_subclass.get(sub, ()):
                    if r.group is not None and r.group != grp:
                        continue
                    if r.lo is not None and not (r.lo <= val < r.hi):
                        continue
                    hit = True
                    break
            self._cache[code] = hit
        return hit

    def is_ai(self, codes: Iterable[str]) -> bool:
        return any(self.code_is_ai(c) for c in codes)
