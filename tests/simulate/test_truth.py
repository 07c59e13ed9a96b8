"""Truth aggregates against an independent recomputation from the plan (pandas explode)."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from patentpanel.simulate.numbers import check_char
from patentpanel.simulate.truth import TruthAccumulator, canonical_app_no
from patentpanel.simulate.plan import iter_plan


@pytest.fixture(scope="module")
def acc(small):
    world, ent, _, _ = small
    a = TruthAccumulator(world, ent, None)
    for ch in iter_plan(world, ent, 3):
        a.add(ch)
    return a


def _long(small):
    world, ent, plan, _ = small
    e = ent.frame.set_index("entity_id")
    lo = plan[plan["corruption"].isna()][["app_id", "app_year", "patent_type", "is_ai", "tier", "applicant_ids"]]
    lo = lo.assign(applicant_ids=lo["applicant_ids"].map(list)).explode("applicant_ids")
    lo["eid"] = lo["applicant_ids"].astype(np.int64)
    lo["pos"] = lo.groupby("app_id").cumcount()
    lo["k"] = lo.groupby("app_id")["eid"].transform("size")
    lo["adcode"] = e.loc[lo["eid"], "city_adcode"].to_numpy()
    lo["org"] = e.loc[lo["eid"], "kind"].isin(["enterprise", "university", "institute", "hospital", "government"]).to_numpy()
    lo["elig"] = lo.groupby("app_id")["org"].transform("all")
    return lo


def test_fractional_ti_and_totals(small, acc):
    lo = _long(small)
    ry = acc.region_year().set_index(["adcode", "year"])
    ti = lo[lo["elig"] & lo["is_ai"] & (lo["patent_type"] == "invention")]
    ref = (1.0 / ti["k"]).groupby([ti["adcode"], ti["app_year"]]).sum()
    got = ry.loc[ref.index, "ti_fractional"]
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-12)
    assert np.isclose(ry["ti_fractional"].sum(), ti["app_id"].nunique())    # fractions sum to patents
    first = lo[(lo["pos"] == 0) & (lo["adcode"] != "")]
    ref = first.groupby(["adcode", "app_year", "patent_type"]).size()
    for (ad, y, t), n in ref.sample(200, random_state=0).items():
        assert ry.loc[(ad, y), f"all_{t}"] == n


def test_intra_inter_collaborations(small, acc):
    world = small[0]
    lo = _long(small)
    c = lo[lo["elig"] & lo["is_ai"] & (lo["k"] >= 2)]
    rows = []
    for _, g in c.groupby("app_id"):
        for x, y in itertools.combinations(g["adcode"].tolist(), 2):
            rows.append((g["app_year"].iloc[0], x, y))
    pairs = pd.DataFrame(rows, columns=["year", "a", "b"])
    w = pairs[(pairs["year"] >= 2011) & (pairs["year"] <= 2020)]
    intra = w[w["a"] == w["b"]].groupby("a").size()
    x = w[w["a"] != w["b"]]
    inter = pd.concat([x["a"], x["b"]]).value_counts()
    lq, _ = acc.lq(acc.region_year(), acc.edge_table())
    lq = lq.set_index("adcode")
    assert (lq["intra"] == intra.reindex(lq.index, fill_value=0)).all()
    assert (lq["inter"] == inter.reindex(lq.index, fill_value=0)).all()
    assert lq["intra"].sum() > 0 and lq["inter"].sum() > lq["intra"].sum()


def test_nc_recomputed_equals_dgp(small, acc):
    world = small[0]
    got = acc.nc(acc.edge_table()).set_index(["region_id", "year"])["nc"]
    ref = world.nc.set_index(["region_id", "year"])["nc"]
    pd.testing.assert_series_equal(got.sort_index(), ref.sort_index(), check_dtype=False, rtol=1e-12)


def test_canonical_app_no_check_digit_matches_numbers_module():
    rng = np.random.default_rng(1)
    y, d, s = rng.integers(2004, 2022, 300), rng.choice([1, 2, 3, 8, 9], 300), rng.integers(1, 10_000_000, 300)
    got = canonical_app_no(y, d, s)
    ref = [f"CN{a}{b}{c:07d}.{check_char(f'{a}{b}{c:07d}')}" for a, b, c in zip(y, d, s)]
    assert list(got) == ref


def test_lq_formula_by_hand(acc):
    lq, info = acc.lq(acc.region_year(), acc.edge_table())
    A, P = lq["ai_applications"].sum(), lq["all_applications"].sum()
    r = lq[lq["all_applications"] > 0].iloc[0]
    assert np.isclose(r["lq"], (r["ai_applications"] / r["all_applications"]) / (A / P))
    assert np.isclose(info["threshold"], np.percentile(lq["ai_applications"], 80))
