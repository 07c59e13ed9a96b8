"""Applicant name normalisation and every typing rule of conf/ingest.yaml."""
from __future__ import annotations

import pytest

from patentpanel.clean.applicants import ApplicantTyper, normalise_name
from patentpanel.clean.patents import check_char
from patentpanel.config import load_config

RULES = load_config().get("ingest.applicants.rules")


@pytest.mark.parametrize("name,type_,rule", [
    ("香港科讯科技有限公司", "hmt", "name_hmt"),
    ("台湾宏达电子股份有限公司", "hmt", "name_hmt"),
    ("SIEMENS AG", "foreign", "name_foreign_script"),
    ("Intel Corporation", "foreign", "name_foreign_script"),
    ("日立株式会社", "foreign", "name_foreign_suffix"),
    ("美国高通公司", "foreign", "name_foreign_country"),
    ("北京百度网讯科技有限公司", "enterprise", "name_enterprise"),
    ("清华大学科技园有限公司", "enterprise", "name_enterprise"),       # a company, not a university
    ("杭州市第一人民医院", "hospital", "name_hospital"),
    ("南京医科大学附属第二医院", "hospital", "name_hospital"),         # hospital before university
    ("清华大学", "university", "name_university"),
    ("深圳职业技术学院", "university", "name_university"),
    ("中国科学院自动化研究所", "institute", "name_institute"),
    ("中国科学院大学", "university", "name_university"),
    ("之江实验室", "institute", "name_institute"),
    ("深圳市公安局", "government", "name_government"),
    ("国家电网公司", "enterprise", "name_enterprise"),
    ("张伟", "individual", "name_individual"),
    ("欧阳明明", "individual", "name_individual"),
    ("买买提·艾力", "individual", "name_individual"),
    ("腾讯科技深圳", "enterprise", "default_organisation"),
])
def test_type_rules(name, type_, rule):
    assert ApplicantTyper(RULES).type_of(normalise_name(name)) == (type_, rule)


def test_every_configured_rule_is_exercised_by_a_test_case():
    tested = {r for _, _, r in test_type_rules.pytestmark[0].args[1]}
    assert {r["rule"] for r in RULES} <= tested


def test_normalise_name():
    assert normalise_name("  北京大學　") == "北京大学"                # traditional, full-width space
    assert normalise_name("ＨＵＡＷＥＩ　Technologies") == "HUAWEI TECHNOLOGIES"
    assert normalise_name("臺灣積體電路製造股份有限公司") == "台湾积体电路制造股份有限公司"
    assert normalise_name("  ") is None


def test_bad_rule_config_is_named():
    with pytest.raises(ValueError, match=r"rules\[0\].*'robot'"):
        ApplicantTyper([{"rule": "x", "type": "robot", "contains": ["a"]}])


def test_check_char_matches_hand_calculation():
    # 2,0,2,0,1,0,1,2,3,4,5,6 x 2,3,4,5,6,7,8,9,2,3,4,5 = 112; 112 mod 11 = 2
    assert check_char("202010123456") == "2"
    # a remainder of 10 is written X: 2,0,1,9,1,0,0,0,0,0,0,3 -> 4+0+4+45+6+0+0+0+0+0+0+15 = 74 mod 11 = 8
    assert check_char("201910000003") == "8"
    digits = next(f"2020100{i:05d}" for i in range(1000)
                  if sum(int(d) * w for d, w in zip(f"2020100{i:05d}", (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5))) % 11 == 10)
    assert check_char(digits) == "X"
