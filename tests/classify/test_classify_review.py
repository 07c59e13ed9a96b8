"""Review workflow: Cohen's kappa against hand calculations (and statsmodels), the
seeded review sample, coder sheets (CSV and XLSX) and the overrides table."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from patentpanel.classify.review import (ReviewBatch, ReviewSheetError, apply_overrides,
                                         cohen_kappa, draw_review_sample, export_review_sample,
                                         override_schema, read_coder_sheet, xlsx_available)


def test_kappa_two_categories_hand_calculation():
    a = list("YYYYYYNNNN")
    b = list("YYYYNNYNNN")
    # table: YY 4, YN 2, NY 1, NN 3; p_o = (4 + 3) / 10 = 0.7
    # marginals A: Y .6 N .4, B: Y .5 N .5; p_e = .6*.5 + .4*.5 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    k = cohen_kappa(a, b)
    assert (k.n, k.observed, k.expected) == (10, pytest.approx(0.7, abs=1e-12), pytest.approx(0.5, abs=1e-12))
    assert k.kappa == pytest.approx(0.4, abs=1e-12)
    assert k.percent_agreement == pytest.approx(70.0, abs=1e-12)
    assert k.table.loc["Y", "N"] == 2 and k.table.loc["N", "Y"] == 1


def test_kappa_three_tiers_hand_calculation_and_statsmodels():
    # rows rater A, columns rater B (FT, CT, GPT):
    #   FT [3 1 0], CT [0 4 1], GPT [1 0 2]   n = 12, diagonal 9 -> p_o = 108/144
    # A marginals 4 5 3, B marginals 4 5 3 -> p_e = (16 + 25 + 9) / 144 = 50/144
    # kappa = (108 - 50) / (144 - 50) = 58/94
    cells = {("FT", "FT"): 3, ("FT", "CT"): 1, ("CT", "CT"): 4, ("CT", "GPT"): 1,
             ("GPT", "FT"): 1, ("GPT", "GPT"): 2}
    a = [x for (x, _), n in cells.items() for _ in range(n)]
    b = [y for (_, y), n in cells.items() for _ in range(n)]
    k = cohen_kappa(a, b, labels=("FT", "CT", "GPT"))
    assert k.kappa == pytest.approx(58 / 94, abs=1e-12)
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
    assert k.kappa == pytest.approx(sm_kappa(k.table.to_numpy()).kappa, abs=1e-12)


def test_kappa_edge_cases():
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"]).kappa)          # p_e = 1: undefined
    k = cohen_kappa(["a", None, "b"], ["a", "b", None])                      # missing pairs skipped
    assert k.n == 1
    with pytest.raises(ValueError, match="length"):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="not among labels"):
        cohen_kappa(["a"], ["z"], labels=("a", "b"))


def hand_batch(consensus=None):
    auto = ["FT", "FT", "CT", "CT", "GPT", "GPT", "none", "none", "FT", "CT"]
    c1 = auto[:]
    c2 = ["FT", "CT", "CT", "CT", "GPT", "none", "none", "none", "FT", "GPT"]
    ids = [f"CN{i}" for i in range(10)]
    key = pd.DataFrame({"app_no": ids, "auto_is_ai": [int(x != "none") for x in auto],
                        "auto_tier": [x if x != "none" else "" for x in auto]})

    def sheet(labels):
        return pd.DataFrame({"app_no": ids, "is_ai": pd.array([x != "none" for x in labels], dtype="boolean"),
                             "tier": [x if x != "none" else None for x in labels], "note": ""})
    return ReviewBatch("b1", key, {"coder1": sheet(c1), "coder2": sheet(c2)}, consensus)


def test_review_batch_agreement_hand_calculation():
    rep = hand_batch().agreement()
    k = rep.pairs["coder1 vs coder2"]
    # labels: 7/10 agree; marginals c1 FT3 CT3 GPT2 none2, c2 FT2 CT3 GPT2 none3
    # p_e = (3*2 + 3*3 + 2*2 + 2*3) / 100 = 0.25; kappa = (0.7 - 0.25) / 0.75 = 0.6
    assert k["label"].kappa == pytest.approx(0.6, abs=1e-12)
    # is_ai: 9/10 agree; c1 AI 8/10, c2 AI 7/10; p_e = .8*.7 + .2*.3 = 0.62
    # kappa = (0.9 - 0.62) / 0.38
    assert k["is_ai"].kappa == pytest.approx(0.28 / 0.38, abs=1e-12)
    assert rep.pairs["coder1 vs auto"]["label"].kappa == pytest.approx(1.0)
    assert rep.to_frame().shape == (6, 7)


def test_overrides_from_agreement_and_consensus():
    b = hand_batch()
    assert list(b.disagreements()["app_no"]) == ["CN1", "CN5", "CN9"]
    ov = b.overrides(decided_at="2025-01-01T00:00:00Z")
    assert len(ov) == 7 and set(ov["decision"]) == {"agreement"}
    consensus = pd.DataFrame({"app_no": ["CN1", "CN5"], "is_ai": pd.array([True, True], dtype="boolean"),
                              "tier": ["CT", "GPT"], "note": ""})
    ov = hand_batch(consensus).overrides(decided_at="2025-01-01T00:00:00Z")
    assert len(ov) == 9
    row = ov.set_index("app_no").loc["CN1"]
    assert (bool(row["is_ai"]), row["tier"], row["decision"]) == (True, "CT", "consensus")
    assert "CN9" not in set(ov["app_no"])                                   # still pending
    none_row = ov.set_index("app_no").loc["CN6"]
    assert (bool(none_row["is_ai"]), none_row["tier"]) == (False, None)


def classified_frame(spark, n=60):
    rows = []
    for i in range(n):
        tier = ["FT", "CT", "GPT", None][i % 4]
        rows.append((f"CN{i:04d}", 2020, f"title {i}", "abstract", ["G06N3/08"], tier is not None,
                     "keyword" if tier else "none", tier, i % 10 == 0,
                     "tier_tie" if i % 10 == 0 else None, False, ["deep learning"],
                     ["G06N3/08"], None))
    schema = ("app_no string, app_year int, title string, abstract string, ipc_codes array<string>, "
              "is_ai boolean, ai_basis string, tier string, ambiguous boolean, ambiguity_reason string, "
              "generic_digital boolean, matched_terms array<string>, matched_codes array<string>, "
              "override_source string")
    return spark.createDataFrame(rows, schema)


def test_sample_is_seeded_stratified_and_partition_independent(spark):
    df = classified_frame(spark)
    s1 = draw_review_sample(df.repartition(1), seed=7, per_stratum=3)
    s2 = draw_review_sample(df.repartition(3), seed=7, per_stratum=3)
    s3 = draw_review_sample(df, seed=8, per_stratum=3)
    assert list(s1["app_no"]) == list(s2["app_no"])
    assert set(s1["app_no"]) != set(s3["app_no"])
    amb = s1[s1["sample_reason"] == "ambiguous"]
    assert sorted(amb["app_no"]) == [f"CN{i:04d}" for i in range(0, 60, 10)]   # all ambiguous
    per = s1[s1["sample_reason"] != "ambiguous"].groupby("sample_reason").size()
    assert per.to_dict() == {"stratum:-|none|false": 3, "stratum:CT|keyword|false": 3,
                             "stratum:FT|keyword|false": 3, "stratum:GPT|keyword|false": 3}


def test_export_fill_import_roundtrip(spark, tmp_path):
    sample = draw_review_sample(classified_frame(spark, 12), seed=1, per_stratum=2)
    files = export_review_sample(sample, tmp_path, "r1")
    key = pd.read_csv(files["key"], dtype=str, encoding="utf-8-sig")
    sheet = pd.read_csv(files["coder1"], dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert "auto_tier" not in sheet.columns and "auto_tier" in key.columns    # blind coding
    assert list(sheet.columns[-3:]) == ["is_ai", "tier", "note"]
    # coder1 copies the automatic labels; coder2 (in the XLSX when available) says 'not AI'
    # for the first item and agrees elsewhere
    sheet["is_ai"] = key["auto_is_ai"].values
    sheet["tier"] = key["auto_tier"].fillna("").values
    sheet.to_csv(files["coder1"], index=False, encoding="utf-8-sig")
    s2 = sheet.copy()
    s2.loc[0, ["is_ai", "tier"]] = ["否", ""]
    if xlsx_available():
        import os
        import time
        s2.to_excel(files["coder2_xlsx"], index=False)
        t = time.time() + 5
        os.utime(files["coder2_xlsx"], (t, t))
    else:
        s2.to_csv(files["coder2"], index=False, encoding="utf-8-sig")
    batch = ReviewBatch.load(tmp_path, "r1")
    assert list(batch.disagreements()["app_no"]) == [sheet.loc[0, "app_no"]]
    ov = batch.overrides()
    assert len(ov) == len(sheet) - 1
    over = spark.createDataFrame(ov, override_schema())
    got = {r["app_no"]: r for r in apply_overrides(classified_frame(spark, 12), over).collect()}
    some = ov.iloc[0]["app_no"]
    assert got[some]["override_source"] == "r1" and got[some]["ambiguous"] is False
    assert got[sheet.loc[0, "app_no"]]["override_source"] is None


def test_apply_overrides_latest_decision_wins(spark):
    base = classified_frame(spark, 4)
    ov = pd.DataFrame({"app_no": ["CN0000", "CN0000", "CN0001"], "is_ai": [True, False, True],
                       "tier": ["GPT", None, "FT"], "review_batch": ["r1", "r2", "r1"],
                       "decision": ["agreement", "consensus", "agreement"],
                       "decided_at": ["2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z",
                                      "2025-01-01T00:00:00Z"]})
    got = {r["app_no"]: r for r in apply_overrides(base, spark.createDataFrame(ov, override_schema())).collect()}
    assert (got["CN0000"]["is_ai"], got["CN0000"]["tier"], got["CN0000"]["override_source"]) == (False, None, "r2")
    assert (got["CN0001"]["is_ai"], got["CN0001"]["tier"]) == (True, "FT")
    assert (got["CN0002"]["tier"], got["CN0002"]["override_source"]) == ("GPT", None)
    assert got["CN0000"]["ambiguous"] is False


@pytest.mark.parametrize("is_ai,tier,message", [
    ("maybe", "FT", "is_ai 'maybe'"), ("1", "", "needs a tier"), ("1", "XX", "tier 'XX'"),
    ("0", "CT", "given but is_ai = 0")])
def test_bad_sheet_values_name_the_row(tmp_path, is_ai, tier, message):
    p = tmp_path / "s.csv"
    pd.DataFrame({"app_no": ["CN1", "CN2"], "is_ai": ["1", is_ai], "tier": ["FT", tier]}).to_csv(p, index=False)
    with pytest.raises(ReviewSheetError, match=f"row 3, app_no 'CN2'.*{message}"):
        read_coder_sheet(p)
