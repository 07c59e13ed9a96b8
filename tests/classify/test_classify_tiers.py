"""Tier assignment, evidence rules and precedence.

* Study 2's Table A3 examples, in English and Chinese, with the real taxonomy.
* Precedence and tie rules with a tiny hand-made taxonomy whose scores are computed by
  hand in each case (title weight 3, abstract weight 1, anchor weight 2).
* is_ai under the five rules and the generic-digital exclusion (A5).
All records go through one Spark job per group to keep the suite fast.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patentpanel.classify.classifier import AIClassifier, InputSchemaError
from patentpanel.classify.taxonomy import Taxonomy, TaxonomyError
from patentpanel.classify.tiers import TierSettings
from patentpanel.config import ConfigError, conf_dir

SCHEMA = "app_no string, app_year int, title string, abstract string, ipc_codes array<string>"

A3 = [  # (English, Chinese, tier) — study 2, Table A3
    ("AI accelerator chip for neural network computation", "用于神经网络计算的人工智能加速芯片", "FT"),
    ("Deep-learning model optimisation method", "深度学习模型优化方法", "CT"),
    ("Intelligent medical image diagnosis system", "智能医学影像诊断系统", "GPT"),
    ("Edge-computing platform for real-time AI deployment", "面向实时人工智能部署的边缘计算平台", "FT"),
    ("Reinforcement learning-based scheduling method", "基于强化学习的调度方法", "CT"),
    ("Smart logistics recommendation platform", "智慧物流推荐平台", "GPT"),
]


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.load(conf_dir() / "taxonomy" / "taxonomy.yaml")


def classify(spark, clf, rows):
    df = spark.createDataFrame(rows, SCHEMA)
    return {r["app_no"]: r for r in clf.transform(df).collect()}


def test_table_a3_examples_english_and_chinese(spark, taxonomy):
    rows = []
    for i, (en, zh, _) in enumerate(A3):
        rows += [(f"en{i}", 2020, en, None, []), (f"zh{i}", 2020, zh, None, [])]
    got = classify(spark, AIClassifier(taxonomy), rows)
    for i, (en, zh, tier) in enumerate(A3):
        for key, text in ((f"en{i}", en), (f"zh{i}", zh)):
            r = got[key]
            assert (r["is_ai"], r["tier"], r["ambiguous"]) == (True, tier, False), (text, r.asDict())
            assert r["ai_basis"] == "keyword"


# ---- a hand-made taxonomy for precedence rules ------------------------------------------
KEYWORDS = """concept,lang,term,role,tier,weight
marker,en,ai,ai,,0
alpha,en,alpha,context,FT,1
beta,en,beta,context,CT,1
beta3,en,beta3,context,CT,3
gamma,en,gamma,context,GPT,1
delta2,en,delta2,context,FT,2
weak,en,smart,weak,,0
"""
RULES = """tiers:
  FT: {ipc_anchors: [H01L]}
  CT: {ipc_anchors: [G06N20]}
  GPT: {ipc_anchors: [G06Q]}
head_rules: {en_head_end: [" for "], en_modifier_end: [" based "], zh_modifier_end: ["的"]}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy_taxonomy")
    (d / "taxonomy.yaml").write_text(
        "version: toy-1\nfiles: {ipc_codes: codes.csv, keywords: kw.csv, "
        "generic_digital: generic.csv, tier_rules: rules.yaml}\n")
    shutil.copy(conf_dir() / "taxonomy" / "ai_ipc_codes.csv", d / "codes.csv")
    (d / "kw.csv").write_text(KEYWORDS)
    (d / "generic.csv").write_text("concept,lang,term\ndb,en,database\n")
    (d / "rules.yaml").write_text(RULES)
    return Taxonomy.load(d / "taxonomy.yaml")


def toy_settings(**kw):
    base = dict(head_bonus=0.0, title_weight=3.0, abstract_weight=1.0, ipc_anchor_weight=2.0)
    base.update(kw)
    return TierSettings(**base)


def test_precedence_and_ties(spark, toy):
    rows = [
        # S_FT = 3*1 = 3 (title), S_CT = 1*3 = 3 (abstract): tie on total, FT wins on title part
        ("title_part", 2020, "ai alpha", "beta3", []),
        # S_FT = 3*1 + 1*2 = 5; S_CT = 3*1 + anchor 2 = 5; title parts 3 = 3; CT has the anchor
        ("anchor", 2020, "ai alpha beta", "delta2", ["G06N20/00"]),
        # S_FT = S_CT = 3, same title part, no anchor: tie_order FT > GPT > CT -> FT
        ("order", 2020, "ai alpha beta", None, []),
        # S_GPT = 3 vs S_CT = 3: GPT precedes CT in the default order
        ("order2", 2020, "ai gamma beta", None, []),
        # S_FT = 3*2 = 6; S_CT = 3 (beta counts once, in the title; beta3x is not beta3) -> clear
        ("clear", 2020, "ai delta2 beta", "beta3x beta", []),
        # S_FT = 3*2 = 6, S_CT = 3*1 + 1*3 = 6: tie, FT wins on title part 6 > 3
        ("tie_title", 2020, "ai delta2 beta", "beta3", []),
        # S_FT = 3*2 = 6, S_GPT = 3*1 + 2 (anchor) = 5 -> (6-5)/6 = 0.167 < 0.25: low_margin
        ("low_margin", 2020, "ai delta2 gamma", None, ["G06Q10/08"]),
        # AI marker only: no tier signal -> fallback CT
        ("no_signal", 2020, "ai method", None, []),
    ]
    got = classify(spark, AIClassifier(toy, toy_settings()), rows)
    t = {k: (r["tier"], r["ambiguity_reason"]) for k, r in got.items()}
    assert t["title_part"] == ("FT", "tier_tie")
    assert t["anchor"] == ("CT", "tier_tie")
    assert t["order"] == ("FT", "tier_tie")
    assert t["order2"] == ("GPT", "tier_tie")
    assert t["clear"] == ("FT", None)
    assert t["tie_title"] == ("FT", "tier_tie")
    assert t["low_margin"] == ("FT", "low_margin")
    assert t["no_signal"] == ("CT", "no_tier_signal")
    assert {k: dict(got[k]["tier_scores"].asDict()) for k in ("anchor", "low_margin")} == {
        "anchor": {"FT": 5.0, "CT": 5.0, "GPT": 0.0}, "low_margin": {"FT": 6.0, "CT": 0.0, "GPT": 5.0}}
    assert all(got[k]["ambiguous"] for k in ("title_part", "anchor", "order", "low_margin", "no_signal"))
    assert not got["clear"]["ambiguous"]

    # another order and no fallback tier
    other = classify(spark, AIClassifier(toy, toy_settings(tie_order=("CT", "GPT", "FT"),
                                                           fallback_tier=None)),
                     [r for r in rows if r[0] in ("order", "no_signal")])
    assert (other["order"]["tier"], other["no_signal"]["tier"]) == ("CT", None)


def test_head_bonus_decides_dominant_function(spark, toy):
    # 'ai alpha for beta': head segment 'ai alpha' -> FT gets +2: S_FT = 3 + 2, S_CT = 3
    # 'ai alpha based beta': head segment after 'based' -> CT gets +2
    got = classify(spark, AIClassifier(toy, toy_settings(head_bonus=2.0)), [
        ("for", 2020, "ai alpha for beta", None, []),
        ("based", 2020, "ai alpha based beta", None, [])])
    assert (got["for"]["tier"], got["for"]["tier_scores"]["FT"], got["for"]["ambiguous"]) == ("FT", 5.0, False)
    assert (got["based"]["tier"], got["based"]["tier_scores"]["CT"]) == ("CT", 5.0)


def test_weak_evidence(spark, toy):
    got = classify(spark, AIClassifier(toy, toy_settings()), [
        ("title", 2020, "smart alpha device", None, []),           # weak + context in the title
        ("abstract", 2020, "a device", "smart alpha", []),         # only in the abstract
        ("alone", 2020, "smart device", None, [])])                # weak marker without context
    assert (got["title"]["is_ai"], got["title"]["ambiguous"]) == (True, False)
    # weak marker + context only in the abstract: not AI without a code, flagged for review
    assert (got["abstract"]["is_ai"], got["abstract"]["ambiguity_reason"],
            got["abstract"]["ambiguous"]) == (False, "weak_evidence", True)
    assert got["alone"]["is_ai"] is False


def test_is_ai_rules_and_generic_digital(spark, taxonomy):
    rows = [
        ("kw", 2020, "一种基于深度学习的图像识别方法", None, []),
        ("ipc_specific", 2020, "一种装置", None, ["G06N3/08"]),
        ("ipc_broad_digital", 2020, "一种数据库查询方法", None, ["G06F9/44"]),
        ("ipc_broad_weak", 2020, "一种智能终端控制方法", None, ["G06F3/01"]),
        ("both", 2020, "Neural network training method", None, ["G06N3/08"]),
        ("none", 2020, "一种阀门", None, ["F16K1/00"]),
        ("digital_text", 2020, "一种区块链数据存储系统", None, []),
    ]
    from functools import reduce
    from pyspark.sql import functions as F
    df = spark.createDataFrame(rows, SCHEMA)
    rules = ("ipc", "keyword", "either", "both", "combined")
    parts = [AIClassifier(taxonomy, TierSettings(is_ai_rule=rule)).transform(df)
             .withColumn("rule", F.lit(rule)) for rule in rules]
    collected = reduce(lambda a, b: a.unionByName(b), parts).collect()      # one Spark job
    out = {rule: {r["app_no"]: r["is_ai"] for r in collected if r["rule"] == rule} for rule in rules}
    combined = {r["app_no"]: r for r in collected if r["rule"] == "combined"}
    assert out["ipc"] == {"kw": False, "ipc_specific": True, "ipc_broad_digital": True,
                          "ipc_broad_weak": True, "both": True, "none": False, "digital_text": False}
    assert out["keyword"] == {"kw": True, "ipc_specific": False, "ipc_broad_digital": False,
                              "ipc_broad_weak": False, "both": True, "none": False, "digital_text": False}
    assert out["either"] == {k: out["ipc"][k] or out["keyword"][k] for k in out["ipc"]}
    assert out["both"] == {k: out["ipc"][k] and out["keyword"][k] for k in out["ipc"]}
    # combined: codes count unless the patent is generic-digital (broad codes only and no
    # strong or title-supported AI wording; a bare 智能 does not clear it)
    assert out["combined"] == {"kw": True, "ipc_specific": True, "ipc_broad_digital": False,
                               "ipc_broad_weak": False, "both": True, "none": False,
                               "digital_text": False}
    g = {k: r["generic_digital"] for k, r in combined.items()}
    assert g == {"kw": False, "ipc_specific": False, "ipc_broad_digital": True,
                 "ipc_broad_weak": True, "both": False, "none": False, "digital_text": True}
    b = {k: r["ai_basis"] for k, r in combined.items()}
    assert b == {"kw": "keyword", "ipc_specific": "ipc", "ipc_broad_digital": "none",
                 "ipc_broad_weak": "none", "both": "both", "none": "none", "digital_text": "none"}
    assert combined["ipc_specific"]["ambiguity_reason"] == "ipc_only"     # recorded, not flagged
    assert combined["ipc_specific"]["ambiguous"] is False
    assert "weak_evidence" in combined["ipc_broad_weak"]["ambiguity_reason"]
    assert combined["both"]["matched_codes"] == ["G06N3/08"]
    assert combined["both"]["matched_terms"] == ["neural network", "training method"]
    # the three columns exposing both studies' definitions are always present
    assert (combined["kw"]["is_ai_ipc"], combined["kw"]["is_ai_kw"]) == (False, True)


def test_branch_label_follows_table_3_not_the_tier(spark, taxonomy):
    """Table 3 files 'neural networks' under foundational (intelligent chips) and machine
    learning under general-purpose; the tier follows Table A2 (CT), the branch Table 3."""
    got = classify(spark, AIClassifier(taxonomy), [
        ("nn", 2020, "一种神经网络模型训练方法", None, []),
        ("ml", 2020, "Machine learning method", None, [])])
    assert (got["nn"]["tier"], got["nn"]["branch"], got["nn"]["branch_secondary"]) == \
        ("CT", "Foundational technologies", "Intelligent chips")
    assert (got["ml"]["tier"], got["ml"]["branch"]) == ("CT", "General-purpose technologies")


def test_bad_input_and_settings(spark, taxonomy, tmp_path):
    clf = AIClassifier(taxonomy)
    with pytest.raises(InputSchemaError, match="'abstract' is missing"):
        clf.transform(spark.createDataFrame([("1", "t", [])], "app_no string, title string, ipc_codes array<string>"))
    with pytest.raises(InputSchemaError, match="ipc_codes"):
        clf.transform(spark.createDataFrame([("1", "t", "a", 3)],
                                            "app_no string, title string, abstract string, ipc_codes int"))
    with pytest.raises(ConfigError, match="tie_order"):
        TierSettings(tie_order=("FT", "CT"))
    with pytest.raises(ConfigError, match="is_ai_rule"):
        TierSettings(is_ai_rule="ipc_or_maybe")
    # unreadable codes are dropped and counted, a string IPC field is split
    df = spark.createDataFrame([("1", "一种装置", None, "G06N 3/08；junk | G06F 9/44(2006.01)")],
                               "app_no string, title string, abstract string, ipc_codes string")
    r = clf.transform(df).first()
    assert (r["matched_codes"], r["n_invalid_codes"], r["app_year"]) == (["G06N3/08", "G06F9/44"], 1, None)
    # a taxonomy term that would hide an AI term is refused
    d = Path(tmp_path)
    for f in ("taxonomy.yaml", "ai_ipc_codes.csv", "generic_digital_terms.csv", "tier_rules.yaml"):
        shutil.copy(conf_dir() / "taxonomy" / f, d / f)
    text = (conf_dir() / "taxonomy" / "keywords.csv").read_text(encoding="utf-8")
    (d / "keywords.csv").write_text(text + "x,en,deep learning chip,context,FT,1\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="deep learning chip"):
        Taxonomy.load(d / "taxonomy.yaml")
