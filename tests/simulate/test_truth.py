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


def _codes_reference():
    """Study 1's code list as the pipeline's classifier reads it (conf/taxonomy), a third
    implementation next to the truth's own (conf/simulate) and the plan's use of it."""
    from patentpanel.classify.ipc import CodeList, normalize_ipc
    from patentpanel.config import conf_dir
    cl = CodeList.from_csv(conf_dir() / "taxonomy" / "ai_ipc_codes.csv", groups=["sei2021", "bridge"])
    return lambda codes: any(cl.match(normalize_ipc(c)) for c in codes)


def _long(small):
    """One row per (application, applicant) with where a pipeline can place it:
    first applicant by its written address (or a municipality's province code when the
    address is withheld), organisations else by a written-address filing as first
    applicant in any year or by a placing name; individual co-applicants nowhere."""
    world, ent, plan, _ = small
    e = ent.frame.set_index("entity_id")
    ok = plan[plan["corruption"].isna()]
    is_ai_ipc = _codes_reference()
    lo = ok[["app_id", "app_year", "patent_type", "is_ai", "tier", "applicant_ids", "address_withheld",
             "province_code_blank"]].assign(is_ai_ipc=[is_ai_ipc(c) for c in ok["ipc_codes"]])
    lo = lo.assign(applicant_ids=lo["applicant_ids"].map(list)).explode("applicant_ids")
    lo["eid"] = lo["applicant_ids"].astype(np.int64)
    lo["pos"] = lo.groupby("app_id").cumcount()
    lo["k"] = lo.groupby("app_id")["eid"].transform("size")
    lo["home"] = e.loc[lo["eid"], "city_adcode"].to_numpy()
    lo["org"] = e.loc[lo["eid"], "kind"].isin(["enterprise", "university", "institute", "hospital", "government"]).to_numpy()
    lo["elig"] = lo.groupby("app_id")["org"].transform("all")
    written = lo[(lo["pos"] == 0) & ~lo["address_withheld"] & lo["org"]]["eid"].unique()
    n_org = int(ent.org_count.sum())
    places = pd.Series(False, index=e.index)
    places.iloc[:n_org] = ent.name_places
    muni = set(world.regions.loc[world.regions["is_municipality"].astype(int) == 1, "adcode"])
    first = lo["pos"] == 0
    own = first & (~lo["address_withheld"] | (lo["home"].isin(muni) & ~lo["province_code_blank"]))
    by_org = lo["org"] & (lo["eid"].isin(written) | places.loc[lo["eid"]].to_numpy())
    lo["adcode"] = np.where((own & (lo["home"] != "")) | by_org, lo["home"], "")
    return lo


def test_fractional_ti_and_totals(small, acc):
    lo = _long(small)
    assert (lo["address_withheld"] & (lo["pos"] == 0) & (lo["adcode"] == "")).any(), \
        "the sample must contain unplaceable withheld addresses"
    ry = acc.region_year().set_index(["adcode", "year"])
    for flag, col in (("is_ai_ipc", "ti_ipc_fractional"), ("is_ai", "ti_fractional")):
        ti = lo[lo["elig"] & lo[flag] & (lo["patent_type"] == "invention")]
        located = ti[ti["adcode"] != ""]
        ref = (1.0 / located["k"]).groupby([located["adcode"], located["app_year"]]).sum()
        got = ry.loc[ref.index, col]
        np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-12)
        assert np.isclose(ry[col].sum(), ref.sum())                 # nothing anywhere else
        assert ref.sum() <= ti["app_id"].nunique()                  # unplaced shares are lost
    first = lo[(lo["pos"] == 0) & (lo["adcode"] != "")]
    ref = first.groupby(["adcode", "app_year", "patent_type"]).size()
    for (ad, y, t), n in ref.sample(200, random_state=0).items():
        assert ry.loc[(ad, y), f"all_{t}"] == n
    assert ry[[f"all_{t}" for t in ("invention", "utility", "design")]].to_numpy().sum() == len(first)
    el = first[first["elig"] & first["is_ai_ipc"]].groupby(["adcode", "app_year"]).size()
    assert (ry.loc[el.index, "ai_ipc_eligible_total"].to_numpy() == el.to_numpy()).all()
    assert ry["ai_ipc_eligible_total"].sum() == el.sum()


def test_study1_label_and_codes_agree_in_its_population(small):
    lo = _long(small)
    apps = lo[lo["pos"] == 0]
    pop = apps[apps["elig"] & (apps["patent_type"] != "design")]
    assert (pop["is_ai"] == pop["is_ai_ipc"]).all()
    other = apps[~apps["elig"]]
    assert (other["is_ai"] != other["is_ai_ipc"]).any(), "outside study 1 the codes disagree as drawn"


def test_intra_inter_collaborations(small, acc):
    world = small[0]
    lo = _long(small)
    c = lo[lo["elig"] & lo["is_ai_ipc"] & (lo["k"] >= 2)]
    rows = []
    for _, g in c.groupby("app_id"):
        for x, y in itertools.combinations(g["adcode"].tolist(), 2):
            if x and y:
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
    """The planted network is observable: every surviving cooperative AI patent of the DGP
    is an edge of the code-defined, located truth, so NC is the DGP's to 1e-12."""
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
