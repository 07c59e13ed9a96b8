"""Applicants: organisations with a home region, individuals, foreign and HK/MO/TW
applicants (the ``entities`` frame of docs/simulator.md).

Entities are laid out by region so that the plan can pick them with index arithmetic:
the organisations of region r are ids ``org_start[r] .. org_start[r]+org_count[r]-1``,
individuals likewise; foreign and HMT applicants follow. Canonical names are unique among
organisations (the org -> city map of the truth relies on it); individuals may share names.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from .rng import stream

__all__ = ["Entities", "build_entities", "ORG_KINDS"]

ORG_KINDS = ("enterprise", "university", "institute", "hospital", "government")


@dataclass
class Entities:
    frame: pd.DataFrame          # entity_id, kind, name, city_adcode, country, province_code
    org_start: np.ndarray        # per region
    org_count: np.ndarray
    ind_start: np.ndarray
    ind_count: np.ndarray
    foreign_start: int
    foreign_count: int
    hmt_start: int
    hmt_count: int
    name_places: np.ndarray      # per organisation: its name alone places it in its city


def _load_vocab(spec) -> dict:
    with open(spec.path("@conf/simulate/entities.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _pick(rng, items, n):
    arr = np.asarray(items, dtype=object)
    return arr[rng.integers(0, len(arr), n)]


def _brand(rng, chars, n, length=2):
    out = _pick(rng, chars, n)
    for _ in range(length - 1):
        out = out + _pick(rng, chars, n)
    return out


def build_entities(spec, regions: pd.DataFrame, located_volume: np.ndarray) -> Entities:
    """Organisation pools sized by each region's located applications per year
    (``orgs_base + orgs_scale * volume**0.6``), individuals, foreign and HMT applicants."""
    a = spec.p["applicants"]
    voc = _load_vocab(spec)
    rng = stream(spec.seed, "entities")
    R = len(regions)
    n_org = (a["orgs_base"] + np.round(a["orgs_scale"] * np.maximum(located_volume, 0) ** 0.6)).astype(np.int64)
    n_ind = np.full(R, int(a["individuals_per_region"]), dtype=np.int64) \
        + np.round(np.maximum(located_volume, 0) ** 0.5).astype(np.int64)
    org_region = np.repeat(np.arange(R), n_org)
    N_org = len(org_region)
    kinds = np.array(list(a["org_kinds"].keys()))
    kp = np.array(list(a["org_kinds"].values()), float)
    kind = kinds[rng.choice(len(kinds), N_org, p=kp / kp.sum())]
    short = regions["short"].to_numpy(dtype=object)[org_region]
    full = regions["name"].to_numpy(dtype=object)[org_region]      # 海南藏族自治州, not 海南市
    prov = regions["province"].to_numpy(dtype=object)[org_region]
    prov_short = pd.Series(prov).str.replace(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)$", "",
                                             regex=True).to_numpy(dtype=object)
    with_city = rng.random(N_org) >= a["name_without_city"]
    names = np.empty(N_org, dtype=object)

    def make(length):
        brand = _brand(rng, voc["brand_chars"], N_org, length)
        ent = np.where(with_city, short, "") + brand + _pick(rng, voc["trades"], N_org) \
            + _pick(rng, voc["enterprise_suffixes"], N_org)
        uni = short + np.where((rng.random(N_org) < 0.5) & (length == 2), "", brand) + _pick(rng, voc["university_kinds"], N_org)
        form = _pick(rng, voc["institute_forms"], N_org)
        field = _pick(rng, voc["institute_fields"], N_org)
        inst = np.array([f.format(city=c, field=fl + (b if length > 2 else ""), province=p_)
                         for f, c, fl, b, p_ in zip(form, short, field, brand, prov_short)], dtype=object)
        hform = _pick(rng, voc["hospital_forms"], N_org)
        nth = rng.integers(1, 9, N_org)
        hosp = np.array([f.format(city=c + (b if length > 2 else ""), n=k, province=p_)
                         for f, c, k, b, p_ in zip(hform, short, nth, brand, prov_short)], dtype=object)
        gov = full + np.where(length > 2, brand, "") + _pick(rng, voc["government_bodies"], N_org)
        return {"enterprise": ent, "university": uni, "institute": inst, "hospital": hosp, "government": gov}

    todo = np.ones(N_org, dtype=bool)
    length = 2
    while todo.any():
        cand = make(length)
        for k in ORG_KINDS:
            m = todo & (kind == k)
            names[m] = cand[k][m]
        dup = pd.Series(names).duplicated(keep="first").to_numpy()
        todo = dup
        length += 1
        if todo.any() and length > 8:
            raise RuntimeError("could not make unique organisation names: "
                               f"{pd.Series(names[dup]).head(5).tolist()}")
    # individuals
    ind_region = np.repeat(np.arange(R), n_ind)
    N_ind = len(ind_region)
    glen = rng.integers(1, 3, N_ind)
    ind_names = _pick(rng, voc["surnames"], N_ind) + _pick(rng, voc["given"], N_ind) \
        + np.where(glen == 2, _pick(rng, voc["given"], N_ind), "")
    # foreign
    f = voc["foreign"]
    nf = int(a["n_foreign"])
    countries = np.array(list(f["countries"].keys()))
    cp = np.array(list(f["countries"].values()), float)
    fc = countries[rng.choice(len(countries), nf, p=cp / cp.sum())]
    latin = _pick(rng, f["latin_stems"], nf) + _pick(rng, f["latin_tails"], nf)
    suf = np.array([f["suffixes"].get(c, ["LTD"])[i % len(f["suffixes"].get(c, ["LTD"]))]
                    for c, i in zip(fc, rng.integers(0, 6, nf))], dtype=object)
    jp = _pick(rng, f["jp_stems"], nf) + _brand(rng, voc["brand_chars"], nf, 1)
    fnames = np.where(fc == "JP", np.where(rng.random(nf) < 0.6, jp + "株式会社", latin + " CORPORATION"),
                      latin + " " + suf)
    fnames = pd.Series(fnames).where(~pd.Series(fnames).duplicated(), pd.Series(fnames) + " " +
                                     pd.Series(np.arange(nf)).astype(str)).to_numpy(dtype=object)
    # HK / MO / TW
    h = voc["hmt"]
    nh = int(a["n_hmt"])
    areas = np.array(list(h["areas"].keys()))
    ap = np.array(list(h["areas"].values()), float)
    ha = areas[rng.choice(len(areas), nh, p=ap / ap.sum())]
    hb = _brand(rng, voc["brand_chars"], nh, 2)
    hform = np.array([h["forms"][x][i % len(h["forms"][x])] for x, i in zip(ha, rng.integers(0, 6, nh))])
    hnames = np.array([fm.format(brand=b) for fm, b in zip(hform, hb)], dtype=object)
    dup = pd.Series(hnames).duplicated().to_numpy()
    hnames[dup] = [fm.format(brand=b + c) for fm, b, c in zip(hform[dup], hb[dup], _pick(rng, voc["brand_chars"], int(dup.sum())))]
    adcode = regions["adcode"].to_numpy(dtype=object)
    pcode = regions["province_adcode"].str[:2].to_numpy(dtype=object)
    frame = pd.DataFrame({
        "entity_id": np.arange(N_org + N_ind + nf + nh, dtype=np.int64),
        "kind": np.concatenate([kind.astype(object), np.full(N_ind, "individual", dtype=object),
                                np.full(nf, "foreign", dtype=object), np.full(nh, "hmt", dtype=object)]),
        "name": np.concatenate([names, ind_names, fnames, hnames]),
        "city_adcode": np.concatenate([adcode[org_region], adcode[ind_region], np.full(nf + nh, "", dtype=object)]),
        "country": np.concatenate([np.full(N_org + N_ind, "CN", dtype=object), fc.astype(object), ha.astype(object)]),
        "province_code": np.concatenate([pcode[org_region], pcode[ind_region], np.full(nf + nh, "", dtype=object)]),
        "region_id": np.concatenate([org_region, ind_region, np.full(nf + nh, -1)]).astype(np.int64),
    })
    org_start = np.r_[0, np.cumsum(n_org)[:-1]]
    name_places = _name_places(names, org_region, regions, set(prov_short))
    ind_start = N_org + np.r_[0, np.cumsum(n_ind)[:-1]]
    return Entities(frame=frame, org_start=org_start, org_count=n_org, ind_start=ind_start,
                    ind_count=n_ind, foreign_start=N_org + N_ind, foreign_count=nf,
                    hmt_start=N_org + N_ind + nf, hmt_count=nh, name_places=name_places)


def _name_places(names: np.ndarray, org_region: np.ndarray, regions: pd.DataFrame,
                 province_shorts: set) -> np.ndarray:
    """Whether an organisation's name alone places it: it opens with its region's full name
    (吉林市, 海南藏族自治州), or with its short name when that is the longest region short
    name opening the name and does not also name a province (吉林, 海南) unless the region is
    a municipality (the pipeline's name rule, docs/simulator.md)."""
    shorts = regions["short"].to_numpy(dtype=object)
    muni = np.asarray(regions["is_municipality"]) == 1
    full = regions["name"].to_numpy(dtype=object)
    ok_short = np.array([len(s) >= 2 and (s not in province_shorts or m) for s, m in zip(shorts, muni)])
    lengths = sorted({len(s) for s in shorts if len(s) >= 2}, reverse=True)
    known = set(shorts)
    out = np.zeros(len(names), dtype=bool)
    for i, (name, r) in enumerate(zip(names, org_region)):
        lead = next((name[:n] for n in lengths if name[:n] in known), None)
        out[i] = (ok_short[r] and lead == shorts[r]) or name.startswith(full[r])
    return out
