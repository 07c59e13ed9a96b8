"""First-applicant addresses: variants, historical names, placeholders, HK/MO/TW."""
import random
import re

import pytest
import yaml

from patentpanel.config import conf_dir
from patentpanel.simulate.addresses import AddressError, AddressMaker, Gazetteer, to_fullwidth

CONF = conf_dir()
ZERO = {"postal_code": 0, "fullwidth": 0, "district_only": 0, "no_province": 0,
        "placeholder": 0, "placeholder_individual": 0, "historical_before": 0,
        "historical_after": 0, "historical_after_years": 4, "historical_partial_share": 0,
        "traditional_hmt": 0}


@pytest.fixture(scope="module")
def gaz():
    return Gazetteer.load(CONF / "geo")


@pytest.fixture(scope="module")
def vocab():
    return yaml.safe_load(open(CONF / "simulate" / "vocab" / "addresses.yaml", encoding="utf-8"))


def make(gaz, vocab, **rates):
    return AddressMaker(gaz, vocab, {**ZERO, **rates}, seed=11)


def test_gazetteer(gaz):
    assert len(gaz.regions) == 337
    assert "海淀区" in gaz.districts["110000"]
    assert [h.old_name for h in gaz.historical["420600"]] == ["襄樊市"]
    assert gaz.historical["370100"][0].partial     # 莱芜 merged into 济南


def test_full_address_names_province_city_and_district(gaz, vocab):
    m = make(gaz, vocab)
    addr, code = m.address(1, "enterprise", "330100", "CN", "33", 2015, random.Random(1))
    assert addr.startswith("浙江省杭州市") and code == "33"
    district = addr[len("浙江省杭州市"):]
    assert any(district.startswith(d) for d in gaz.districts["330100"])
    addr2, _ = m.address(1, "enterprise", "330100", "CN", "33", 2016, random.Random(99))
    assert addr2 == addr    # the organisation's base address is stable across records


def test_municipality_is_not_doubled(gaz, vocab):
    addr, code = make(gaz, vocab).address(2, "university", "110000", "CN", "11", 2015,
                                          random.Random(1))
    assert addr.startswith("北京市") and not addr.startswith("北京市北京市") and code == "11"


def test_district_only_postal_fullwidth(gaz, vocab):
    addr, _ = make(gaz, vocab, district_only=1).address(3, "enterprise", "440300", "CN", "44",
                                                        2015, random.Random(2))
    assert any(addr.startswith(d) for d in gaz.districts["440300"])
    assert "深圳" not in addr and "广东" not in addr
    addr, _ = make(gaz, vocab, postal_code=1).address(3, "enterprise", "440300", "CN", "44",
                                                      2015, random.Random(3))
    m = re.match(r"^(\d{6}) ?", addr)
    assert m and m.group(1)[:2] in ("51", "52")
    addr, _ = make(gaz, vocab, postal_code=1, fullwidth=1).address(
        3, "enterprise", "440300", "CN", "44", 2015, random.Random(3))
    assert not re.search(r"[0-9]", addr) and re.search("[０-９]", addr)
    assert to_fullwidth("A座12") == "Ａ座１２"


def test_historical_names_before_and_after_the_change(gaz, vocab):
    before = make(gaz, vocab, historical_before=1)
    addr, _ = before.address(4, "enterprise", "420600", "CN", "42", 2009, random.Random(1))
    assert "襄樊市" in addr and "襄阳" not in addr
    addr, _ = before.address(4, "enterprise", "420600", "CN", "42", 2010, random.Random(1))
    assert "襄阳市" in addr
    lagging = make(gaz, vocab, historical_after=1)
    assert "襄樊市" in lagging.address(4, "enterprise", "420600", "CN", "42", 2012,
                                      random.Random(1))[0]
    assert "襄阳市" in lagging.address(4, "enterprise", "420600", "CN", "42", 2014,
                                      random.Random(1))[0]
    # a merge applies only to the part of today's unit that was the old one
    partial_none = make(gaz, vocab, historical_before=1, historical_partial_share=0)
    assert "莱芜" not in partial_none.address(5, "enterprise", "370100", "CN", "37", 2015,
                                             random.Random(1))[0]
    partial_all = make(gaz, vocab, historical_before=1, historical_partial_share=1)
    assert "莱芜市" in partial_all.address(5, "enterprise", "370100", "CN", "37", 2015,
                                         random.Random(1))[0]


def test_placeholders(gaz, vocab):
    addr, code = make(gaz, vocab, placeholder_individual=1).address(
        6, "individual", "320100", "CN", "32", 2015, random.Random(1))
    assert addr in vocab["placeholders"] and code == "32"
    addr, _ = make(gaz, vocab, placeholder_individual=1).address(
        7, "enterprise", "320100", "CN", "32", 2015, random.Random(1))
    assert addr not in vocab["placeholders"]


def test_foreign_and_hmt(gaz, vocab):
    addr, code = make(gaz, vocab).address(8, "foreign", "", "DE", "", 2015, random.Random(1))
    assert addr.startswith("德国") and code == "DE"
    addr, code = make(gaz, vocab, traditional_hmt=1).address(9, "hmt", "", "TW", "", 2015,
                                                             random.Random(1))
    assert code == "TW" and addr in vocab["hmt"]["TW"]["trad"]
    addr, code = make(gaz, vocab).address(10, "hmt", "", "HK", "", 2015, random.Random(1))
    assert code == "HK" and addr in vocab["hmt"]["HK"]["simp"]


def test_mainland_entity_without_city_is_an_error(gaz, vocab):
    with pytest.raises(AddressError, match="entity 12"):
        make(gaz, vocab).address(12, "enterprise", "", "CN", "", 2015, random.Random(1))


def test_plan_decides_withholding(gaz, vocab):
    """With the plan's decision the configured rates play no part."""
    addr, code = make(gaz, vocab, placeholder_individual=1).address(
        6, "individual", "320100", "CN", "32", 2015, random.Random(1), withheld=False)
    assert addr not in vocab["placeholders"] and "南京" in addr and code == "32"
    addr, code = make(gaz, vocab).address(7, "enterprise", "110000", "CN", "11", 2015,
                                          random.Random(1), withheld=True)
    assert addr in vocab["placeholders"] and code == "11"


def test_district_only_form_only_where_it_names_one_city(gaz, vocab):
    """鼓楼区 is a district of Nanjing and Xuzhou (both Jiangsu), 海淀区 only of Beijing:
    a district-only address is written only when no geocoder could confuse it."""
    assert not gaz.district_names_one_city("鼓楼区", "320100", code_written=True)
    assert gaz.district_names_one_city("海淀区", "110000", code_written=True)
    assert not gaz.district_names_one_city("桥西区", "130100", code_written=False)
    maker = make(gaz, vocab, district_only=1.0, no_province=0.0)
    nanjing = [e for e in range(400) if maker._base(e, "enterprise", "320100", "CN").district == "鼓楼区"]
    assert nanjing, "some Nanjing entity has its base in 鼓楼区"
    addr, _ = maker.address(nanjing[0], "enterprise", "320100", "CN", "32", 2015, random.Random(3))
    assert "南京市鼓楼区" in addr
