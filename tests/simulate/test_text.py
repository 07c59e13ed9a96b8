"""Titles, abstracts and IPC codes: topic-consistent, valid in the filing year, with the
planted tier dominant and the documented hard cases."""
import random
import re

import pytest
import yaml

from patentpanel.config import conf_dir
from patentpanel.simulate.text import TextMaker, Vocabulary, format_ipc

CONF = conf_dir()
IPC_RE = re.compile(r"^[A-H]\d{2}[A-Z] \d{1,4}/\d{2,6}$")
LOCARNO_RE = re.compile(r"^\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.load(CONF / "simulate" / "vocab")


@pytest.fixture(scope="module")
def maker(vocab):
    settings = yaml.safe_load(open(CONF / "simulate" / "render.yaml", encoding="utf-8"))["render"]
    return TextMaker(vocab, settings)


def _codes(maker, vocab, year, n=30):
    out = []
    for topic, t in vocab.topics.items():
        for pt in t["patent_types"]:
            for i in range(n):
                out += maker.ipc_codes(topic, pt, year, t["tier"], i % 2 == 0, random.Random(i))
    return out


def test_topics_cover_the_three_tiers_and_non_ai(vocab):
    tiers = {t["tier"] for t in vocab.topics.values()}
    assert tiers == {"FT", "CT", "GPT", None}
    groups = {t["group"] for t in vocab.topics.values()}
    assert groups == {"ai", "digital", "nonai"}
    for tier in ("FT", "CT", "GPT"):
        ws = [t["weight"] for t in vocab.topics.values() if t["tier"] == tier]
        assert sum(ws) == pytest.approx(1.0)


@pytest.mark.parametrize("year", [2012, 2017, 2018, 2019, 2020, 2021, 2022, 2024])
def test_ipc_codes_valid_in_filing_year(maker, vocab, year):
    codes = _codes(maker, vocab, year)
    assert all(IPC_RE.match(c) or LOCARNO_RE.match(c) for c in codes)
    has = lambda p: any(c.startswith(p) for c in codes)  # noqa: E731
    # IPC 2022.01: G06K 9 -> G06V / G06F 18
    assert has("G06K 9/") == (year <= 2021)
    assert has("G06V") == (year >= 2022)
    # IPC 2021.01: A61B 5/04xx -> A61B 5/24-398
    assert has("A61B 5/04") == (year <= 2020)
    assert has("A61B 5/3") == (year >= 2021)
    # IPC 2020.01: G06F 17/27-28 -> G06F 40; IPC 2018.01: G16H
    assert has("G06F 17/27") == (year <= 2019) and has("G06F 40/") == (year >= 2020)
    assert has("G16H") == (year >= 2018)
    assert not has("H04L 29/") or year <= 2021


def test_design_patents_carry_locarno_classes(maker, vocab):
    for topic, t in vocab.topics.items():
        if "design" in t["patent_types"]:
            codes = maker.ipc_codes(topic, "design", 2015, t["tier"], False, random.Random(1))
            assert all(LOCARNO_RE.match(c) for c in codes)


def test_ipc_formats(vocab):
    v = vocab.ipc_versions
    assert format_ipc("G06N 3/08", "space", v) == "G06N 3/08"
    assert format_ipc("G06N 3/08", "compact", v) == "G06N3/08"
    assert format_ipc("G06N 3/08", "version", v) == "G06N 3/08(2006.01)"
    assert format_ipc("G06N 20/00", "compact_version", v) == "G06N20/00(2019.01)"
    assert format_ipc("G06V 10/82", "version", v) == "G06V 10/82(2022.01)"
    assert format_ipc("14-02", "version", v) == "14-02"


def test_text_is_deterministic_per_rng(maker):
    a = maker.text("ai_ct_vision", "invention", "CT", False, False, random.Random(42))
    b = maker.text("ai_ct_vision", "invention", "CT", False, False, random.Random(42))
    c = maker.text("ai_ct_vision", "invention", "CT", False, False, random.Random(43))
    assert a == b and a != c


def test_planted_topic_dominates_title(maker, vocab):
    """A non-borderline record's title names its own topic's function or technique."""
    for topic, t in vocab.topics.items():
        tv = vocab.zh["topics"][topic]
        terms = tv["core"] + tv["basis"] + tv.get("designs", [])
        for pt in t["patent_types"]:
            for i in range(20):
                x = maker.text(topic, pt, t["tier"], False, False, random.Random(i))
                assert any(term in x.title for term in terms), (topic, x.title)
                if pt == "invention":
                    assert x.abstract.startswith(("本发明", "本申请"))
                elif pt == "utility":
                    assert x.abstract.startswith("本实用新型")
                    assert "方法" not in x.title   # utility models claim products only
                else:
                    assert x.abstract.startswith("1.本外观设计产品的名称")


def test_borderline_ai_mentions_another_tier(maker, vocab):
    zh = vocab.zh
    for topic, t in vocab.topics.items():
        if t["group"] != "ai":
            continue
        for i in range(10):
            x = maker.text(topic, "invention" if "invention" in t["patent_types"] else "utility",
                           t["tier"], True, False, random.Random(i))
            others = [m for tier in ("FT", "CT", "GPT") if tier != t["tier"]
                      for m in zh["cross_mentions"][tier]]
            assert any(m in x.abstract for m in others), (topic, x.abstract)
            own = [m for m in zh["cross_mentions"][t["tier"]]]
            assert not any(m in x.abstract for m in own)


def test_borderline_non_ai_uses_decoys_without_ai_vocabulary(maker, vocab):
    zh = vocab.zh
    ai_terms = {"深度学习", "神经网络", "机器学习", "人工智能", "卷积"}
    for topic, t in vocab.topics.items():
        if t["group"] == "ai":
            continue
        d = zh["topics"][topic]["decoys"]
        for i in range(10):
            pt = "invention" if "invention" in t["patent_types"] else "utility"
            x = maker.text(topic, pt, None, True, False, random.Random(i))
            assert any(s in x.abstract for s in d["sentences"])
            assert not any(w in x.title + x.abstract for w in ai_terms), (topic, x.title)


def test_ai_design_patents_state_an_ai_use(maker, vocab):
    """A design brief carries only a name and a use; for an AI topic the use names the AI
    function (one of the topic's design_uses), so the AI label is codeable from the text."""
    for topic, t in vocab.topics.items():
        if t["group"] != "ai" or "design" not in t["patent_types"]:
            continue
        for english, voc in ((False, vocab.zh), (True, vocab.en)):
            uses = voc["topics"][topic]["design_uses"]
            for i in range(10):
                x = maker.text(topic, "design", t["tier"], False, english, random.Random(i))
                assert any(u in x.abstract for u in uses), (topic, x.abstract)


def test_ai_design_topic_without_design_uses_is_refused(vocab):
    import copy
    broken = copy.deepcopy(vocab)
    del broken.en["topics"]["ai_gpt_home"]["design_uses"]
    with pytest.raises(ValueError, match="'ai_gpt_home' allows design patents but has no en design_uses"):
        broken.validate()


def test_core_naming_the_product_is_not_followed_by_the_same_form(maker):
    """Decoy cores such as 智能灌溉装置 already end in a form: no "装置装置"."""
    titles = {maker.text("nonai_agriculture_food", "utility", None, True, False, random.Random(i)).title
              for i in range(200)}
    assert any("智能灌溉装置" in x for x in titles)
    assert not any("装置装置" in x or "设备设备" in x for x in titles)


def test_generic_digital_shares_words_but_not_ai_terms(maker):
    texts = [maker.text("digital_generic", "invention", None, False, False, random.Random(i))
             for i in range(50)]
    blob = "".join(x.title + x.abstract for x in texts)
    assert "数据" in blob and ("网络" in blob or "计算机" in blob)
    assert "深度学习" not in blob and "神经网络" not in blob


def test_english_text(maker, vocab):
    for topic, t in vocab.topics.items():
        pt = t["patent_types"][0]
        x = maker.text(topic, pt, t["tier"], False, True, random.Random(5))
        assert x.english and x.title.isascii() and x.title[0].isupper()
        assert x.abstract.startswith(("The ", "Disclosed", "1. Name"))


def test_unknown_topic_is_a_clear_error(maker):
    with pytest.raises(ValueError, match="unknown topic 'ai_magic'"):
        maker.text("ai_magic", "invention", "CT", False, False, random.Random(1))


def test_inventor_names(maker):
    names = maker.inventors(200, "CN", random.Random(1))
    assert all(2 <= len(n) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in n) for n in names)
    us = maker.inventors(5, "US", random.Random(1))
    assert all(re.match(r"^[A-Z][a-z]+ [A-Z][a-z]+$", n) for n in us)
