"""Applicant regions in the default suite: a small simulation (6,000 applications:
~3,500 first-applicant and ~370 co-applicant mainland organisations) is ingested and
cleaned and every mainland organisation applicant is compared with the simulator's
truth, at the thresholds of the opt-in 20k acceptance run (test_clean_against_truth.py):
first applicants >= 99.5 %, co-applicants >= 98 %. The scoring function itself is
checked on a hand-made frame."""
from __future__ import annotations

import logging

import pandas as pd
import pytest
from stagerun import simulate_to_silver

from patentpanel.clean.accuracy import region_accuracy

pytest.importorskip("patentpanel.simulate.render")
log = logging.getLogger("patentpanel.tests")
N_APPS = 6_000


@pytest.fixture(scope="module")
def placed(spark, cfg, tmp_path_factory):
    out, store, _, _ = simulate_to_silver(spark, cfg, tmp_path_factory, N_APPS, "sim_small")
    applicants = store.read("silver.applicants").select(
        "name", "position", "city_code", "region_method").toPandas()
    return applicants, pd.read_parquet(out / "truth" / "entities.parquet")


def test_region_accuracy_on_a_small_simulation(placed):
    applicants, entities = placed
    acc = region_accuracy(applicants, entities)
    log.warning("%d applications: %s", N_APPS, acc.summary())
    assert acc.unmatched < 0.001                         # names map back to the truth
    assert acc.n_first > 1000 and acc.n_co > 300         # enough to measure
    assert acc.first >= 0.995, acc.summary()
    assert acc.co >= 0.98, acc.summary()
    n_miss = round((1 - acc.first) * acc.n_first + (1 - acc.co) * acc.n_co)
    assert int(acc.misses["n"].sum()) == n_miss


def test_region_accuracy_by_hand():
    entities = pd.DataFrame({
        "name": ["甲公司", "乙大学", "丙医院", "张伟", "Acme Inc", "丁研究所"],
        "kind": ["enterprise", "university", "hospital", "individual", "foreign", "institute"],
        "country": ["CN", "CN", "CN", "CN", "US", "CN"],
        "city_adcode": ["110000", "330100", "440300", "110000", None, "320500"]})
    applicants = pd.DataFrame({
        "name": ["甲公司", "乙大学", "丙医院", "张伟", "Acme Inc", "甲公司", "乙大学", "丁研究所",
                 "无名氏"],
        "position": [1, 1, 1, 2, 2, 2, 2, 3, 2],
        "city_code": ["110000", "330100", "440100", None, None, "110000", None, "320500", None],
        "region_method": ["own_address", "own_address", "own_address", "unresolved",
                          "unresolved", "org_gazetteer", "unresolved", "name_contains_city",
                          "unresolved"]})
    acc = region_accuracy(applicants, entities)
    # first: 甲 ok, 乙 ok, 丙 wrong -> 2/3; co (organisations, CN): 甲 ok, 乙 no city, 丁 ok -> 2/3
    assert (acc.n_first, acc.n_co) == (3, 3)
    assert acc.first == pytest.approx(2 / 3, abs=1e-12)
    assert acc.co == pytest.approx(2 / 3, abs=1e-12)
    assert acc.unmatched == pytest.approx(1 / 9, abs=1e-12)      # 无名氏
    assert acc.misses.to_dict("records") == [
        {"applicant": "first", "region_method": "own_address", "miss": "wrong_city", "n": 1},
        {"applicant": "co", "region_method": "unresolved", "miss": "no_city", "n": 1}]
    with pytest.raises(ValueError, match="missing column.*region_method"):
        region_accuracy(applicants.drop(columns="region_method"), entities)
