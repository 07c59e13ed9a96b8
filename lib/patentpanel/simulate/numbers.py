"""Chinese application and publication numbers.

Application numbers (since 2003-10-01): ``YYYY`` + type digit + 7-digit serial + ``.`` +
check character. The check character is the weighted digit sum mod 11 with weights
2,3,4,5,6,7,8,9 repeating from the left over the 12 digits; 10 is written ``X``
(CNIPA's ChinaPatentNumberChecker). Users meet the number in several styles: ``CN``
prefix, ``ZL`` prefix (granted patents), bare, or without the dot.

Publication numbers are ``CN`` + 9 digits + kind code. The first digit is the series (1
invention, 2 utility model, 3 design); since the 2010 change the grant (B) reuses the
application publication's (A) number. Kind codes before 2010-04-01 are C (invention
grant), Y (utility model) and D (design); from then B, U and S.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "APP_NO_STYLES", "TYPE_DIGITS", "check_char", "make_app_no", "parse_app_no",
    "is_valid_app_no", "wrong_check_char", "kind_code", "make_pub_no",
    "assign_publication_serials", "AppNoError",
]

_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
TYPE_DIGITS = {1: "invention", 2: "utility", 3: "design", 8: "invention", 9: "utility"}
APP_NO_STYLES = ("cn", "plain", "zl", "nodot")
_APP_NO_RE = re.compile(r"^(?:CN|ZL)?(\d{4})([12389])(\d{7})\.?([0-9X])$")
# Kind codes changed with the 2010 revision of the publication standard.
_KIND_SWITCH = _dt.date(2010, 4, 1)


class AppNoError(ValueError):
    """An application number cannot be built or parsed."""


def check_char(digits: str) -> str:
    """Check character of the 12 digits ``YYYY`` + type digit + 7-digit serial."""
    if len(digits) != 12 or not digits.isdigit():
        raise AppNoError(f"check_char: expected 12 digits, got {digits!r}")
    d = digits
    s = (2 * int(d[0]) + 3 * int(d[1]) + 4 * int(d[2]) + 5 * int(d[3]) + 6 * int(d[4])
         + 7 * int(d[5]) + 8 * int(d[6]) + 9 * int(d[7]) + 2 * int(d[8]) + 3 * int(d[9])
         + 4 * int(d[10]) + 5 * int(d[11])) % 11
    return "X" if s == 10 else str(s)


def wrong_check_char(digits: str, pick: float) -> str:
    """A check character that is *not* the right one for ``digits``; ``pick`` in [0, 1)
    chooses among the ten wrong ones (deterministically)."""
    right = check_char(digits)
    wrong = [c for c in "0123456789X" if c != right]
    return wrong[min(int(pick * len(wrong)), len(wrong) - 1)]


def _digits(year: int, type_digit: int, serial: int) -> str:
    if not 1985 <= int(year) <= 9999:
        raise AppNoError(f"application year {year!r} outside 1985-9999")
    if int(type_digit) not in TYPE_DIGITS:
        raise AppNoError(f"type digit {type_digit!r}: expected one of {sorted(TYPE_DIGITS)}")
    if not 0 <= int(serial) <= 9_999_999:
        raise AppNoError(f"serial {serial!r}: expected 0..9999999 (7 digits)")
    return f"{int(year):04d}{int(type_digit)}{int(serial):07d}"


def make_app_no(year: int, type_digit: int, serial: int, style: str = "cn",
                check: str | None = None) -> str:
    """Application number in one of :data:`APP_NO_STYLES`.

    ``cn`` ``CN202010123456.7``; ``plain`` ``202010123456.7``; ``zl``
    ``ZL202010123456.7``; ``nodot`` ``CN2020101234567``. ``check`` overrides the check
    character (used to plant wrong check digits).
    """
    digits = _digits(year, type_digit, serial)
    c = check_char(digits) if check is None else check
    if style == "cn":
        return f"CN{digits}.{c}"
    if style == "plain":
        return f"{digits}.{c}"
    if style == "zl":
        return f"ZL{digits}.{c}"
    if style == "nodot":
        return f"CN{digits}{c}"
    raise AppNoError(f"app_no style {style!r}: expected one of {APP_NO_STYLES}")


def parse_app_no(text: str) -> tuple[int, int, int, str]:
    """``(year, type_digit, serial, check)`` of a well-formed number in any style;
    raises :class:`AppNoError` when the format is wrong (the check is not verified)."""
    m = _APP_NO_RE.match(text.strip())
    if not m:
        raise AppNoError(f"application number {text!r}: expected [CN|ZL]YYYY + type digit "
                         f"(1/2/3/8/9) + 7 digits + [.] + check character")
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def is_valid_app_no(text: str) -> bool:
    """Well-formed and with the right check character."""
    try:
        y, t, s, c = parse_app_no(text)
    except AppNoError:
        return False
    return check_char(f"{y:04d}{t}{s:07d}") == c


def kind_code(patent_type: str, publication: int, pub_date: _dt.date) -> str:
    """Kind code of the ``publication``-th (1 or 2) publication of an application."""
    new = pub_date >= _KIND_SWITCH
    if patent_type == "invention":
        if publication == 1:
            return "A"
        return "B" if new else "C"
    if patent_type == "utility":
        return "U" if new else "Y"
    if patent_type == "design":
        return "S" if new else "D"
    raise AppNoError(f"patent_type {patent_type!r}: expected invention, utility or design")


def make_pub_no(series_number: int, kind: str) -> str:
    """``CN`` + 9-digit publication number + kind code."""
    return f"CN{int(series_number):09d}{kind}"


_SERIES = {"invention": 1, "utility": 2, "design": 3}
_PER_YEAR = 4_000_000


def assign_publication_serials(app_year: Sequence[int], app_date: Sequence,
                               patent_type: Sequence[str], app_id: Sequence[int]) -> np.ndarray:
    """9-digit publication numbers, one per application (the A and B publications of an
    invention share it), unique across the plan.

    Real numbers run in publication order within a series; here an application's number
    is its series digit, a block for its filing year (``(year - 2000) mod 25``) and its
    rank by (filing date, app_id) within series and year. It depends on the whole plan,
    never on how rendering is chunked.
    """
    years = np.asarray(app_year, dtype=np.int64)
    distinct = np.unique(years)
    if len(np.unique(distinct % 25)) != len(distinct):
        raise AppNoError("filing years more than 24 years apart share a publication-number "
                         "block; render at most 25 consecutive filing years per plan")
    types = pd.Series(np.asarray(patent_type, dtype=object))
    unknown = set(types.unique()) - set(_SERIES)
    if unknown:
        raise AppNoError(f"patent_type values {sorted(map(str, unknown))}: expected "
                         f"invention, utility or design")
    series = types.map(_SERIES).to_numpy(np.int64)
    dates = pd.to_datetime(pd.Series(app_date)).to_numpy("datetime64[D]").astype(np.int64)
    ids = np.asarray(app_id, dtype=np.int64)
    order = np.lexsort((ids, dates, years, series))
    s, y = series[order], years[order]
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (s[1:] != s[:-1]) | (y[1:] != y[:-1])
    starts = np.flatnonzero(new_group)
    pos = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
    if len(pos) and pos.max() >= _PER_YEAR:
        raise AppNoError(f"more than {_PER_YEAR} applications of one type in one year; "
                         f"publication numbers would overflow their year block")
    out = np.empty(len(order), dtype=np.int64)
    out[order] = s * 100_000_000 + ((y - 2000) % 25) * _PER_YEAR + pos
    return out
