"""Aho-Corasick keyword matcher: boundaries, case and width folding, nesting, positions in
the original text, head terms; the Spark path against the per-record Python path."""
from __future__ import annotations

import pytest

from patentpanel.classify.keywords import KeywordMatcher, normalize_text
from patentpanel.classify.taxonomy import Taxonomy


@pytest.fixture(scope="module")
def matcher():
    from patentpanel.config import conf_dir
    return KeywordMatcher.from_taxonomy(Taxonomy.load(conf_dir() / "taxonomy" / "taxonomy.yaml"))


def terms(hits, field=None):
    return [h.term for h in hits if field is None or h.field == field]


def test_english_word_boundaries(matcher):
    assert terms(matcher.match("Method to maintain chains")) == []          # no 'ai' inside words
    assert terms(matcher.match("AI-based chips")) == ["ai", "chip"]          # plural accepted
    assert "ai" not in terms(matcher.match("Said apparatus"))
    assert terms(matcher.match("neural networking")) == []                  # not a plural
    assert terms(matcher.match("AIS receiver")) == []                       # no plural of 'ai'


def test_case_and_full_width_folding(matcher):
    assert terms(matcher.match("ＡＩ芯片设计")) == ["AI芯片"]
    assert terms(matcher.match("DEEP LEARNING")) == ["deep learning"]
    assert terms(matcher.match("Deep-Learning")) == ["deep learning"]


def test_nested_hits_are_dropped_overlaps_kept(matcher):
    assert terms(matcher.match("基于卷积神经网络的识别")) == ["卷积神经网络"]
    assert terms(matcher.match("一种智能手机")) == ["智能手机"]               # generic hides the weak 智能
    got = matcher.match("Intelligent medical image diagnosis system")
    assert terms(got) == ["intelligent medical", "medical image", "diagnosis"]


def test_positions_refer_to_the_original_text(matcher):
    text = "Use of  neural   networks in  AI"
    hits = matcher.match(text)
    assert [(h.term, text[h.start:h.end]) for h in hits] == [
        ("neural network", "neural   network"), ("ai", "AI")]
    zh = "摘要：本发明涉及深度学习。"
    h = matcher.match(None, zh)[0]
    assert (h.field, zh[h.start:h.end]) == ("abstract", "深度学习")
    assert normalize_text("A\u3000B")[0] == "a b"


@pytest.mark.parametrize("title,head", [
    ("AI accelerator chip for neural network computation", "chip"),
    ("Deep learning based medical image diagnosis method", "diagnosis"),
    ("Reinforcement learning-based scheduling method", None),
    ("Image recognition method using convolutional neural network", "image recognition"),
    ("System for medical image diagnosis based on deep learning", "diagnosis"),   # generic head
    ("Method for training a neural network", "neural network"),
    ("用于神经网络计算的人工智能加速芯片", "人工智能加速芯片"),
    ("基于深度学习的医学影像诊断方法", "诊断"),
    ("基于强化学习的调度方法", None),
])
def test_head_term(matcher, title, head):
    heads = [h.term for h in matcher.match(title) if h.head]
    assert heads == ([head] if head else [])


def test_spark_transform_equals_python(spark, matcher):
    rows = [("1", "AI accelerator chip for neural network computation", "本发明公开一种深度学习芯片。"),
            ("2", None, "A smart logistics recommendation platform."),
            ("3", "一种阀门", None),
            ("4", "Use of  neural   networks", "")]
    df = spark.createDataFrame(rows, "app_no string, title string, abstract string").repartition(2)
    got = {r["app_no"]: [tuple(h) for h in r["keyword_hits"]]
           for r in matcher.transform(df).collect()}
    expected = {a: [(h.term, h.concept, h.field, h.start, h.end, h.role, h.tier, h.weight, h.branch,
                     h.branch_secondary, h.head) for h in matcher.match(t, ab)] for a, t, ab in rows}
    assert got == expected
    assert got["3"] == []
