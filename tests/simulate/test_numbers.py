"""Application/publication numbers: check characters against hand calculations, styles,
parsing, kind codes and plan-wide publication numbers."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from patentpanel.simulate.numbers import (AppNoError, assign_publication_serials, check_char,
                                          is_valid_app_no, kind_code, make_app_no, make_pub_no,
                                          parse_app_no, wrong_check_char)


@pytest.mark.parametrize("digits, expected", [
    # 2*2+0*3+2*4+0*5+1*6+0*7+1*8+2*9+3*2+4*3+5*4+6*5 = 112; 112 mod 11 = 2
    ("202010123456", "2"),
    # 2*2+0+1*4+5*5+2*6+0+1*8+2*9+3*2+4*3+5*4+0 = 109; 109 mod 11 = 10 -> X
    ("201520123450", "X"),
    # 2*2+0+2*4+1*5+3*6+0+...+1*5 = 40; 40 mod 11 = 7
    ("202130000001", "7"),
])
def test_check_char_hand_computed(digits, expected):
    assert check_char(digits) == expected


def test_check_char_matches_independent_dot_product():
    rng = np.random.default_rng(0)
    weights = np.array([2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5])
    for row in rng.integers(0, 10, size=(500, 12)):
        r = int(row @ weights) % 11
        assert check_char("".join(map(str, row))) == ("X" if r == 10 else str(r))


def test_styles_and_round_trip():
    assert make_app_no(2020, 1, 123456, "cn") == "CN202010123456.2"
    assert make_app_no(2020, 1, 123456, "plain") == "202010123456.2"
    assert make_app_no(2020, 1, 123456, "zl") == "ZL202010123456.2"
    assert make_app_no(2020, 1, 123456, "nodot") == "CN2020101234562"
    for style in ("cn", "plain", "zl", "nodot"):
        s = make_app_no(2015, 2, 123450, style)
        assert parse_app_no(s) == (2015, 2, 123450, "X")
        assert is_valid_app_no(s)


def test_wrong_check_char_is_never_right():
    for pick in np.linspace(0, 0.999, 50):
        c = wrong_check_char("202010123456", float(pick))
        assert c != "2" and c in "0123456789X"
        assert not is_valid_app_no(f"CN202010123456.{c}")


@pytest.mark.parametrize("bad", ["CN20201012345.2", "CN2020101234567.2", "CN2020401234567.2",
                                 "CN2020101O3456.2", "", "2020-10123456.2"])
def test_malformed_numbers_rejected(bad):
    with pytest.raises(AppNoError):
        parse_app_no(bad)
    assert not is_valid_app_no(bad)


def test_make_app_no_rejects_bad_parts():
    with pytest.raises(AppNoError, match="type digit"):
        make_app_no(2020, 4, 1, "cn")
    with pytest.raises(AppNoError, match="serial"):
        make_app_no(2020, 1, 10_000_000, "cn")
    with pytest.raises(AppNoError, match="style"):
        make_app_no(2020, 1, 1, "xx")


def test_kind_codes_switch_in_2010():
    new, old = dt.date(2012, 1, 1), dt.date(2009, 6, 1)
    assert [kind_code("invention", 1, new), kind_code("invention", 2, new),
            kind_code("utility", 1, new), kind_code("design", 1, new)] == ["A", "B", "U", "S"]
    assert [kind_code("invention", 1, old), kind_code("invention", 2, old),
            kind_code("utility", 1, old), kind_code("design", 1, old)] == ["A", "C", "Y", "D"]
    assert make_pub_no(111234567, "A") == "CN111234567A"


def test_publication_serials_unique_ordered_and_plan_wide():
    rng = np.random.default_rng(3)
    n = 5000
    years = rng.integers(2010, 2022, n)
    dates = pd.to_datetime(pd.Series(years).astype(str) + "-01-01") + \
        pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    types = rng.choice(["invention", "utility", "design"], n)
    ids = np.arange(n)
    s = assign_publication_serials(years, dates, types, ids)
    assert len(np.unique(s)) == n
    assert all(len(str(x)) == 9 for x in s)
    first = {"invention": "1", "utility": "2", "design": "3"}
    assert all(str(x)[0] == first[t] for x, t in zip(s, types))
    # within a series and year, numbers follow filing dates
    df = pd.DataFrame({"s": s, "y": years, "t": types, "d": dates})
    for _, g in df.groupby(["t", "y"]):
        g = g.sort_values("s")
        assert g["d"].is_monotonic_increasing
    # the number of a row does not depend on the row order of the plan
    perm = rng.permutation(n)
    s2 = assign_publication_serials(years[perm], dates.iloc[perm].reset_index(drop=True),
                                    types[perm], ids[perm])
    assert np.array_equal(s2, s[perm])


def test_publication_serials_reject_years_sharing_a_block():
    with pytest.raises(AppNoError, match="25"):
        assign_publication_serials([2000, 2025], ["2000-01-01", "2025-01-01"],
                                   ["invention", "invention"], [0, 1])
