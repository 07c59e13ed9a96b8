"""Log rule, min-max normalisation, centring, missing controls and the validator, on
hand-made frames with hand-computed expectations."""
import math

import numpy as np
import pandas as pd
import pytest

from patentpanel.panels.transforms import (PanelInputError, centred_product, handle_missing_controls,
                                           log_transform, minmax)
from patentpanel.panels.validate import CLUSTER_YEAR, Col, PanelSchema, PanelValidationError


def test_log_rule_adds_one_only_to_variables_with_a_zero():
    df = pd.DataFrame({"id": ["a", "a", "b"], "year": [1, 2, 1], "x": [0.0, 3.0, 1.0], "y": [2.0, 4.0, 8.0],
                       "z": [np.nan, 0.5, 2.0]})
    out, plus = log_transform(df, {"lx": "x", "ly": "y", "lz": "z"}, ["id", "year"], "t")
    assert plus == ["lx"]
    assert out["lx"].tolist() == [0.0, math.log(4.0), math.log(2.0)]
    assert out["ly"].tolist() == [math.log(2.0), math.log(4.0), math.log(8.0)]
    assert np.isnan(out["lz"][0]) and out["lz"][1] == math.log(0.5)   # missing stays missing, no zero -> log(x)


def test_log_rule_rejects_negative_values_naming_the_row():
    df = pd.DataFrame({"city_code": ["110000", "120000"], "year": [2011, 2012], "x": [1.0, -2.0]})
    with pytest.raises(PanelInputError, match=r"negative at \(city_code=120000, year=2012\)"):
        log_transform(df, {"lx": "x"}, ["city_code", "year"], "gold.t")


def test_minmax_by_hand():
    x = pd.Series([2.0, 4.0, np.nan, 10.0])
    out = minmax(x)
    assert out.tolist()[:2] == [0.0, 0.25] and np.isnan(out[2]) and out[3] == 1.0
    assert minmax(pd.Series([3.0, 3.0])).tolist() == [0.0, 0.0]


def test_centred_product_uses_sample_rows_with_both_factors():
    a = pd.Series([1.0, 2.0, 3.0, 4.0, 10.0])
    b = pd.Series([2.0, np.nan, 6.0, 8.0, 1.0])
    sample = pd.Series([True, True, True, True, False])        # last row outside the centring years
    prod, ma, mb = centred_product(a, b, sample)
    # rows 0, 2, 3 have both factors inside the sample: means (1+3+4)/3, (2+6+8)/3
    assert ma == pytest.approx(8 / 3, abs=1e-15) and mb == pytest.approx(16 / 3, abs=1e-15)
    assert np.isnan(prod[1])
    assert prod[0] == pytest.approx((1 - 8 / 3) * (2 - 16 / 3), abs=1e-14)
    assert prod[4] == pytest.approx((10 - 8 / 3) * (1 - 16 / 3), abs=1e-14)   # defined, just not in the means
    # centred over the sample: the product's factors each average zero there
    m = sample & a.notna() & b.notna()
    assert ((a[m] - ma).mean(), (b[m] - mb).mean()) == pytest.approx((0.0, 0.0), abs=1e-14)


def _controls_frame():
    return pd.DataFrame({"city_code": ["A"] * 4 + ["B"] * 2, "year": [1, 2, 3, 4, 1, 2],
                         "c1": [1.0, np.nan, 3.0, np.nan, 5.0, 6.0], "c2": [1.0, 1.0, 1.0, 1.0, np.nan, 2.0]})


def test_missing_controls_drop(caplog):
    with caplog.at_level("INFO", logger="patentpanel.panels"):
        out, rep = handle_missing_controls(_controls_frame(), ["c1", "c2"], "city_code", "year", "drop", "t")
    assert list(zip(out["city_code"], out["year"])) == [("A", 1), ("A", 3), ("B", 2)]
    assert rep.dropped[["city_code", "year", "missing"]].values.tolist() == [["A", 2, "c1"], ["A", 4, "c1"],
                                                                             ["B", 1, "c2"]]
    assert not out["controls_imputed"].any()
    assert "3 rows dropped, 0 values interpolated" in caplog.text


def test_missing_controls_interpolate_interior_only():
    out, rep = handle_missing_controls(_controls_frame(), ["c1", "c2"], "city_code", "year", "interpolate", "t")
    # A/2 interior gap -> (1+3)/2; A/4 trailing gap and B/1 leading gap cannot be interpolated -> dropped
    assert list(zip(out["city_code"], out["year"])) == [("A", 1), ("A", 2), ("A", 3), ("B", 2)]
    assert out.loc[1, "c1"] == 2.0 and out["controls_imputed"].tolist() == [False, True, False, False]
    assert rep.as_metadata() == {"method": "interpolate", "dropped_rows": 2, "imputed_rows": 1}
    with pytest.raises(PanelInputError, match="not in"):
        handle_missing_controls(_controls_frame(), ["c1"], "city_code", "year", "mean", "t")


def test_validator_names_offending_rows():
    schema = PanelSchema("gold.t", ("city_code", "year"), (
        Col("city_code", "string", pattern=r"\d{6}"), Col("year", "int"),
        Col("v", "double", min=0.0), Col("d", "int", allowed=(0, 1)), Col("n", "double", nullable=True)))
    df = pd.DataFrame({"city_code": ["110000", "110000", "12000X", "130100"], "year": [2011, 2011, 2012, 2013],
                       "v": [1.0, -0.5, np.inf, np.nan], "d": [0, 1, 2, 1], "n": [np.nan, 1.0, 2.0, 3.0]})
    with pytest.raises(PanelValidationError) as ei:
        schema.validate(df)
    msg = str(ei.value)
    assert "v: below minimum 0.0: 1 row(s): (city_code=110000, year=2011) value -0.5" in msg
    assert "v: not finite: 1 row(s): (city_code=12000X, year=2012)" in msg
    assert "v: null not allowed: 1 row(s): (city_code=130100, year=2013)" in msg
    assert "d: not one of [0, 1]: 1 row(s): (city_code=12000X, year=2012) value 2" in msg
    assert "city_code: does not match" in msg and "city_code+year: duplicate key: 2 row(s)" in msg
    f = ei.value.failures
    assert set(f["check"]) >= {"below minimum 0.0", "not finite", "null not allowed", "duplicate key"}
    ok = schema.validate(df.iloc[[0]])
    assert ok["year"].dtype == np.int64


def test_validator_reports_missing_and_undeclared_columns():
    df = pd.DataFrame({"city_code": ["110000"], "year": [2011], "surprise": [1]})
    with pytest.raises(PanelValidationError, match="missing column") as ei:
        CLUSTER_YEAR.validate(df)
    assert "undeclared column" in str(ei.value) and "surprise" in str(ei.value)
