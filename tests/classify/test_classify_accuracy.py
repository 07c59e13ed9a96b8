"""Accuracy report against a truth table: counts and ratios computed by hand."""
from __future__ import annotations

import pytest

from patentpanel.classify.accuracy import TruthTableError, accuracy_report


def frames(spark):
    pred = spark.createDataFrame(
        [("a1", True, "FT"), ("a2", True, "GPT"), ("a3", True, "GPT"), ("a4", False, None),
         ("a5", True, "CT"), ("a6", False, None), ("a8", True, "CT"), ("a9", True, None)],
        "app_no string, is_ai boolean, tier string")
    truth = spark.createDataFrame(
        [("a1", True, "FT"), ("a2", True, "CT"), ("a3", True, "gpt"), ("a4", True, "CT"),
         ("a5", False, None), ("a6", False, None), ("a7", True, "FT"), ("a9", True, "FT")],
        "app_no string, is_ai boolean, tier string")
    return pred, truth


def test_accuracy_hand_calculation(spark):
    pred, truth = frames(spark)
    r = accuracy_report(pred, truth)
    # scored a1-a6, a9 (7); a8 has no truth, a7 no prediction
    assert (r.n_scored, r.n_missing_in_truth, r.n_missing_in_classified) == (7, 1, 1)
    # tp a1 a2 a3 a9; fn a4; fp a5; tn a6
    assert (r.tp, r.fp, r.fn, r.tn) == (4, 1, 1, 1)
    assert r.precision == pytest.approx(4 / 5) and r.recall == pytest.approx(4 / 5)
    assert r.f1 == pytest.approx(0.8)
    # tier among AI in both: a1 FT=FT, a2 CT->GPT, a3 GPT=GPT, a9 FT->untiered: 2/4
    assert r.tier_accuracy == pytest.approx(0.5)
    assert r.confusion.loc["CT", "GPT"] == 1 and r.confusion.loc["FT", "untiered"] == 1
    # none/FT/CT/GPT: a1 a3 a6 right of 7
    assert r.label_accuracy == pytest.approx(3 / 7)
    per = r.per_tier().set_index("tier")
    assert per.loc["GPT", "precision"] == pytest.approx(0.5) and per.loc["FT", "recall"] == pytest.approx(0.5)
    assert "precision 0.8000" in r.summary()
    assert r.to_dict()["is_ai"]["tp"] == 4


def test_truth_table_errors(spark):
    pred, truth = frames(spark)
    with pytest.raises(TruthTableError, match="'label' is missing"):
        accuracy_report(pred, truth, truth_tier="label")
    dup = truth.unionByName(truth.limit(1))
    with pytest.raises(TruthTableError, match="'a1' appears 2 times"):
        accuracy_report(pred, dup)
    bad = spark.createDataFrame([("a1", True, "XT")], "app_no string, is_ai boolean, tier string")
    with pytest.raises(TruthTableError, match="'XT'"):
        accuracy_report(pred, bad)
