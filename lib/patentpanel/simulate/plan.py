"""The patent plan: one row per application with every decision made (year, type, AI label,
tier, topic, applicants, layout, publications, corruption), expanded from the DGP's cells
and cooperative patents, one year at a time.

Every year draws from its own named streams, and app_ids are offset by the counts of the
earlier years (known from the cells), so grouping years into chunks never changes a row.
"""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from .aicodes import AICodeList
from .dgp import MAX_APPLICANTS, TIERS, TYPES, World, _gravity_sampler
from .entities import Entities
from .rng import stream

log = logging.getLogger("patentpanel.simulate.plan")

__all__ = ["PlanChunk", "iter_plan", "plan_frame", "LAYOUTS", "PLAN_COLUMNS", "year_counts"]

LAYOUTS = ("trs", "incopat_utf8bom", "incopat_gb18030", "patsnap", "jsonl")
PLAN_COLUMNS = ["app_id", "app_year", "app_date", "patent_type", "type_digit", "serial", "is_ai",
                "tier", "topic", "borderline", "applicant_ids", "layout", "n_publications",
                "corruption", "address_withheld", "province_code_blank", "ipc_codes"]
_KIND_CODE = {"org": 0, "ind": 1, "ind_coop": 2, "org_coop_ind": 3, "org_coop_foreign": 4,
              "foreign": 5, "hmt": 6, "coop": 7}


@dataclass
class PlanChunk:
    """Plan rows of some years: ``frame`` (the contract columns) and ``applicants``, the
    same applicant ids as an (n, 6) int64 matrix padded with -1."""
    frame: pd.DataFrame
    applicants: np.ndarray


def year_counts(world: World) -> dict[int, int]:
    c = world.cells
    per = (c["n_ok"] + c["n_bad"]).groupby(c["year"]).sum()
    coop = pd.Series(world.coop["year"]).value_counts()
    return {int(t): int(per.get(t, 0) + coop.get(t, 0)) for t in world.years}


def _topics(spec) -> dict:
    with open(spec.path(spec.p["content"]["topics"]), encoding="utf-8") as fh:
        return yaml.safe_load(fh)["topics"]


def _topic_tables(spec):
    """(tier index or group, type index) -> (names, cumulative weights)."""
    topics = _topics(spec)
    table = {}
    keys = [(i, t) for i, t in enumerate(TIERS)] + [("digital", None), ("nonai", None)]
    for key, tier in keys:
        for ty_i, ty in enumerate(TYPES):
            if tier is not None:
                sel = [(n, v["weight"]) for n, v in topics.items() if v.get("tier") == tier and ty in v["patent_types"]]
            else:
                sel = [(n, v["weight"]) for n, v in topics.items() if v.get("group") == key and ty in v["patent_types"]]
            if sel:
                names = np.array([s[0] for s in sel], dtype=object)
                w = np.cumsum([s[1] for s in sel], dtype=float)
                table[(key, ty_i)] = (names, w / w[-1])
    return table


def _pick_org(ent: Entities, region: np.ndarray, u: np.ndarray, conc: float) -> np.ndarray:
    cnt = ent.org_count[region]
    return ent.org_start[region] + np.minimum((u ** conc * cnt).astype(np.int64), cnt - 1)


def _dedupe(ids: np.ndarray, ent: Entities, region_of: np.ndarray) -> np.ndarray:
    """Make the organisation ids of each row distinct: a repeated id moves to the next
    organisation of its region's pool (pools hold at least MAX_APPLICANTS)."""
    ids = ids.copy()
    for j in range(1, ids.shape[1]):
        for _ in range(MAX_APPLICANTS):
            col = ids[:, j]
            dup = (col >= 0) & (ids[:, :j] == col[:, None]).any(axis=1)
            if not dup.any():
                break
            r = region_of[dup, j]
            start, cnt = ent.org_start[r], ent.org_count[r]
            ids[dup, j] = start + (col[dup] - start + 1) % cnt
    return ids


def _placeable_coapplicants(ids: np.ndarray, ent: Entities, ok: np.ndarray, conc: float,
                            rng) -> np.ndarray:
    """Replace every organisation co-applicant that files no surviving application as first
    applicant this year by one of its region's organisations that does (Zipf-weighted by
    pool rank, not already on the row); if the region has none this year, by one whose name
    places it (``Entities.name_places``). Real records carry only the first applicant's
    address, so an organisation that is never first and whose name carries no city cannot
    be placed by any pipeline. Regions, hence every aggregate of the truth, are unchanged;
    drawing from its own stream keeps every other draw of the plan as it was."""
    n_org = int(ent.org_count.sum())
    is_org = (ids >= 0) & (ids < n_org)
    filers = np.unique(ids[ok & is_org[:, 0], 0])
    need = is_org & ~np.isin(ids, filers)
    need[:, 0] = False
    if not need.any():
        return ids
    ids = ids.copy()
    region_of = ent.frame["region_id"].to_numpy()
    freg = region_of[filers]                       # filers are sorted by id, hence by region
    rows, cols = np.nonzero(need)
    u = rng.random(len(rows)) ** conc
    unplaced = 0
    for r, j, x in zip(rows, cols, u):
        reg = region_of[ids[r, j]]
        taken = ids[r][ids[r] >= 0]
        pool = filers[np.searchsorted(freg, reg, "left"):np.searchsorted(freg, reg, "right")]
        pool = pool[~np.isin(pool, taken)]
        if not len(pool):
            s, c = ent.org_start[reg], ent.org_count[reg]
            pool = np.arange(s, s + c)[ent.name_places[s:s + c]]
            pool = pool[~np.isin(pool, taken)]
        if not len(pool):
            unplaced += 1
            continue
        ids[r, j] = pool[min(int(x * len(pool)), len(pool) - 1)]
    if unplaced:
        log.warning("%d co-applicant(s) kept although neither a first applicant this year nor "
                    "placed by name (their region has no such organisation)", unplaced)
    return ids


def iter_plan(world: World, ent: Entities, chunk_years: int = 1) -> Iterator[PlanChunk]:
    """Yield the plan in chunks of ``chunk_years`` years (app_id order)."""
    counts = year_counts(world)
    offsets, acc = {}, 0
    for t in world.years:
        offsets[int(t)] = acc
        acc += counts[int(t)]
    years = [int(t) for t in world.years]
    for i in range(0, len(years), max(int(chunk_years), 1)):
        parts = [_plan_year(world, ent, t, offsets[t]) for t in years[i:i + chunk_years]]
        yield PlanChunk(frame=pd.concat([p.frame for p in parts], ignore_index=True),
                        applicants=np.concatenate([p.applicants for p in parts]))


def plan_frame(world: World, ent: Entities) -> PlanChunk:
    parts = list(iter_plan(world, ent, chunk_years=len(world.years)))
    return parts[0]


def _plan_year(world: World, ent: Entities, t: int, offset: int) -> PlanChunk:
    spec = world.spec
    p = spec.p
    rng = stream(spec.seed, "plan", t)
    c = world.cells[world.cells["year"] == t]
    n_rows = (c["n_ok"] + c["n_bad"]).to_numpy()
    rep = np.repeat(np.arange(len(c)), n_rows)
    start = np.repeat(np.r_[0, np.cumsum(n_rows)[:-1]], n_rows)
    pos = np.arange(len(rep)) - start
    bad = pos >= np.repeat(c["n_ok"].to_numpy(), n_rows)
    kind = np.array([_KIND_CODE[k] for k in c["kind"]], dtype=np.int8)[rep] if len(c) else np.zeros(0, np.int8)
    region = c["region_id"].to_numpy()[rep]
    is_ai = c["is_ai"].to_numpy()[rep]
    tier = c["tier"].to_numpy()[rep]
    ptype = c["ptype"].to_numpy()[rep]
    # eligible cooperative AI patents of this year (from the DGP)
    cm = world.coop["year"] == t
    n_c = int(cm.sum())
    creg = world.coop["regions"][cm]
    kind = np.r_[kind, np.full(n_c, 7, np.int8)]
    region = np.r_[region, creg[:, 0]]
    is_ai = np.r_[is_ai, np.ones(n_c, bool)]
    tier = np.r_[tier, world.coop["tier"][cm]]
    ptype = np.r_[ptype, world.coop["ptype"][cm]]
    bad = np.r_[bad, world.coop["bad"][cm]]
    n = len(kind)
    # -- applicants ----------------------------------------------------------------------
    a = p["applicants"]
    conc = float(a["concentration"])
    regs = np.full((n, MAX_APPLICANTS), -1, dtype=np.int64)
    regs[:, 0] = region
    regs[n - n_c:, :] = creg
    # non-AI cooperative patents of organisations (do not enter any AI aggregate)
    org_non = (kind == 0) & ~is_ai
    co_non = org_non & (rng.random(n) < p["cooperation"]["nonai_share"])
    kp = np.asarray(p["cooperation"]["k_probs"], float)
    k_non = rng.choice(np.arange(2, 2 + len(kp)), size=n, p=kp / kp.sum())
    draw_other = _gravity_sampler(spec, world.regions, world.regions["volume_plan"].to_numpy())
    same = rng.random((n, MAX_APPLICANTS)) < p["cooperation"]["p_intra"]
    uo = rng.random((n, MAX_APPLICANTS))
    for j in range(1, MAX_APPLICANTS):
        m = co_non & (k_non > j)
        if m.any():
            regs[m, j] = np.where(same[m, j], region[m], draw_other(region[m], uo[m, j]))
    u = rng.random((n, MAX_APPLICANTS))
    ids = np.full((n, MAX_APPLICANTS), -1, dtype=np.int64)
    org_pos = regs >= 0
    org_first = np.isin(kind, [0, 3, 4, 7])
    org_mask = org_pos.copy()
    org_mask[:, 0] &= org_first
    rr = np.where(org_mask, regs, 0)
    ids = np.where(org_mask, ent.org_start[rr] + np.minimum((u ** conc * ent.org_count[rr]).astype(np.int64),
                                                             ent.org_count[rr] - 1), -1)
    ind_first = np.isin(kind, [1, 2])
    ui = rng.random(n)
    rind = np.where(ind_first | (kind == 3) | (kind == 2), region, 0)
    ind_id = ent.ind_start[rind] + np.minimum((ui * ent.ind_count[rind]).astype(np.int64), ent.ind_count[rind] - 1)
    ids[ind_first, 0] = ind_id[ind_first]
    # ind_coop: individual first + organisation of the same region
    m = kind == 2
    ids[m, 1] = _pick_org(ent, region[m], u[m, 1], conc)
    regs[m, 1] = region[m]
    # org_coop_ind: organisation first + individual of the same region
    m = kind == 3
    ids[m, 1] = ind_id[m]
    regs[m, 1] = region[m]
    # org_coop_foreign: organisation first + foreign (70%) or HMT co-applicant
    m = kind == 4
    fr = rng.random(n)
    fid = np.where(fr < 0.7, ent.foreign_start + (u[:, 2] * ent.foreign_count).astype(np.int64),
                   ent.hmt_start + (u[:, 2] * ent.hmt_count).astype(np.int64))
    ids[m, 1] = fid[m]
    m = kind == 5
    ids[m, 0] = ent.foreign_start + np.minimum((u[m, 0] ** 1.5 * ent.foreign_count).astype(np.int64), ent.foreign_count - 1)
    m = kind == 6
    ids[m, 0] = ent.hmt_start + np.minimum((u[m, 0] ** 1.5 * ent.hmt_count).astype(np.int64), ent.hmt_count - 1)
    # distinct organisations within a patent
    orgcols = org_mask.copy()
    if orgcols.any():
        ded = _dedupe(np.where(orgcols, ids, -1), ent, np.where(orgcols, regs, 0))
        ids = np.where(orgcols, ded, ids)
    withheld, pcode_blank = _withheld_addresses(ids, ent, _render_settings(spec),
                                                stream(spec.seed, "plan-address", t))
    # the cooperative AI patents of the DGP are the planted network (NC): their first
    # applicant's address is written, so every planted edge is observable
    withheld &= kind != 7
    # a co-applicant is placed from its first-applicant filings whose address is written
    ids = _placeable_coapplicants(ids, ent, ~bad & ~withheld, conc,
                                  stream(spec.seed, "plan-coapplicants", t))
    k = (ids >= 0).sum(axis=1)
    # -- types, topics, flags ------------------------------------------------------------------
    ty = p["types"]
    boost = np.where(np.isin(kind, [5, 6]), ty["pct_foreign_boost"], 1.0)
    upct = rng.random(n)
    type_digit = np.select([ptype == 0, ptype == 1], [np.where(upct < ty["pct_invention"] * boost, 8, 1),
                                                        np.where(upct < ty["pct_utility"] * boost, 9, 2)], 3)
    topic = np.empty(n, dtype=object)
    tables = _topic_tables(spec)
    ut = rng.random(n)
    digital = ~is_ai & (rng.random(n) < p["content"]["digital_share"])
    for key_i, key in list(enumerate(TIERS)) + [("digital", "digital"), ("nonai", "nonai")]:
        for ty_i in range(3):
            if key in TIERS:
                m = is_ai & (tier == key_i) & (ptype == ty_i)
            elif key == "digital":
                m = digital & (ptype == ty_i)
            else:
                m = ~is_ai & ~digital & (ptype == ty_i)
            if not m.any():
                continue
            tab = tables.get((key_i if key in TIERS else key, ty_i))
            if tab is None and key == "digital":
                tab = tables[("nonai", ty_i)]
            if tab is None:
                raise ValueError(f"{p['content']['topics']}: no topic for {key} {TYPES[ty_i]} patents")
            names, cw = tab
            topic[m] = names[np.searchsorted(cw, ut[m], side="right").clip(0, len(names) - 1)]
    borderline = rng.random(n) < np.where(is_ai, p["content"]["borderline_ai"], p["content"]["borderline_nonai"])
    days = np.where((t % 4 == 0) & ((t % 100 != 0) | (t % 400 == 0)), 366, 365)
    app_date = np.datetime64(f"{t}-01-01", "D") + rng.integers(0, days, n).astype("timedelta64[D]")
    serial = np.zeros(n, dtype=np.int64)
    for d in (1, 2, 3, 8, 9):
        m = type_digit == d
        if m.any():
            serial[m] = _distinct_serials(rng, int(m.sum()))
    # -- messiness -----------------------------------------------------------------------------
    ms = p["messiness"]
    lay_w = np.array([ms["layouts"][l_] for l_ in LAYOUTS], float)
    layout_i = rng.choice(len(LAYOUTS), n, p=lay_w / lay_w.sum())
    reasons = list(ms["corruption"].keys())
    rw = np.array([ms["corruption"][r] for r in reasons], float)
    corruption = np.full(n, None, dtype=object)
    if bad.any() and rw.sum() > 0:
        ri = rng.choice(len(reasons), int(bad.sum()), p=rw / rw.sum())
        corruption[bad] = np.array(reasons, dtype=object)[ri]
        ul = rng.random(n)
        for reason, allowed in (ms.get("corruption_layouts") or {}).items():
            mm = bad & (corruption == reason)
            if mm.any():
                al = np.array([LAYOUTS.index(x) for x in allowed])
                layout_i[mm] = al[np.minimum((ul[mm] * len(al)).astype(int), len(al) - 1)]
    n_pub = np.where((ptype == 0) & ~bad & (rng.random(n) < ms["duplicate_inventions"]), 2, 1)
    # -- shuffle within the year, ids ------------------------------------------------------------
    perm = rng.permutation(n)
    ids = ids[perm]
    app_id = offset + np.arange(n, dtype=np.int64)
    ipc = _ipc_codes(spec, app_id, t, topic[perm], ptype[perm], is_ai[perm], tier[perm],
                     borderline[perm], _study1_population(ids, ent))
    frame = pd.DataFrame({
        "app_id": app_id,
        "app_year": np.full(n, t, dtype=np.int64),
        "app_date": app_date[perm],
        "patent_type": np.array(TYPES, dtype=object)[ptype[perm]],
        "type_digit": type_digit[perm].astype(np.int64),
        "serial": serial[perm],
        "is_ai": is_ai[perm],
        "tier": np.where(is_ai[perm], np.array(TIERS, dtype=object)[np.clip(tier[perm], 0, 2)], None),
        "topic": topic[perm],
        "borderline": borderline[perm],
        "applicant_ids": _list_column(ids),
        "layout": np.array(LAYOUTS, dtype=object)[layout_i[perm]],
        "n_publications": n_pub[perm].astype(np.int64),
        "corruption": corruption[perm],
        "address_withheld": withheld[perm],
        "province_code_blank": pcode_blank[perm],
        "ipc_codes": ipc,
    })
    return PlanChunk(frame=frame, applicants=ids)


def _distinct_serials(rng, n: int, high: int = 9_999_999) -> np.ndarray:
    """n distinct serials in 1..high in random order (rejection of repeats; no O(high) work)."""
    if n > high:
        raise ValueError(f"more than {high} applications of one type digit in one year")
    got = np.zeros(0, dtype=np.int64)
    while len(got) < n:
        extra = rng.integers(1, high + 1, int((n - len(got)) * 1.1) + 16)
        got = np.unique(np.r_[got, extra])
    return got[rng.permutation(len(got))[:n]]


def _list_column(ids: np.ndarray) -> pd.Series:
    """The applicant matrix as an Arrow-backed list<int64> column (memory-light at 10M)."""
    valid = ids >= 0
    k = valid.sum(axis=1)
    offsets = np.r_[0, np.cumsum(k)].astype(np.int32)
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids[valid], type=pa.int64()))
    return pd.Series(pd.arrays.ArrowExtensionArray(arr))


# ------------------------------------------------------------------ addresses and codes
class _Settings(dict):
    """A mapping that ``render.load_render_settings`` reads like a Config."""

    def __init__(self, conf_dir, overrides: dict):
        super().__init__({"simulate": {"render": overrides}})
        self.directory = conf_dir


@lru_cache(maxsize=8)
def _settings_cached(conf_dir: str, overrides: str) -> dict:
    from .render import load_render_settings
    return load_render_settings(_Settings(Path(conf_dir), json.loads(overrides)))


def _render_settings(spec) -> dict:
    """``conf/simulate/render.yaml`` with the run's ``simulate.render`` overrides: the plan
    decides the rendering choices the truth depends on, at the rates set there."""
    return _settings_cached(str(spec.conf_dir), json.dumps(spec.p.get("render") or {}, sort_keys=True))


def _withheld_addresses(ids: np.ndarray, ent: Entities, settings: dict, rng
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Which first applicants' addresses are withheld (申请人要求不公布地址; mainland
    applicants only, at ``render.address.placeholder`` for organisations and
    ``placeholder_individual`` for individuals) and which records leave the province-code
    field blank (``render.blank.province_code``). Decided here, not at render time, so the
    truth knows what the records let a pipeline place. Own stream: no other draw moves."""
    n = len(ids)
    n_org = int(ent.org_count.sum())
    n_main = n_org + int(ent.ind_count.sum())
    first = ids[:, 0]
    a = settings["address"]
    rate = np.where(first < n_org, float(a["placeholder"]),
                    np.where(first < n_main, float(a["placeholder_individual"]), 0.0))
    u = rng.random((n, 2))
    withheld = (first >= 0) & (u[:, 0] < rate)
    blank = u[:, 1] < float(settings["blank"]["province_code"])
    return withheld, blank


def _study1_population(ids: np.ndarray, ent: Entities) -> np.ndarray:
    """Applications whose applicants are all mainland organisations (study 1, steps 2-3)."""
    n_org = int(ent.org_count.sum())
    valid = ids >= 0
    return (valid.any(axis=1)) & ((~valid) | (ids < n_org)).all(axis=1)


@lru_cache(maxsize=4)
def _code_tools(topics_path: str, codes_path: str, settings_key: str):
    from .text import TextMaker, Vocabulary
    vocab = Vocabulary.load(Path(topics_path).parent)
    return TextMaker(vocab, json.loads(settings_key)), AICodeList.load(codes_path)


def _ipc_codes(spec, app_id: np.ndarray, year: int, topic: np.ndarray, ptype: np.ndarray,
               is_ai: np.ndarray, tier: np.ndarray, borderline: np.ndarray,
               study1: np.ndarray) -> pd.Series:
    """The canonical IPC codes of every application (main code first; Locarno classes for
    designs; empty when the record leaves the field blank), drawn per application from
    ``(seed, app_id)`` so chunking never changes them.

    Study 1 identifies AI patents by the SEI code list (``content.study1_ai_codes``).
    In study 1's population (every applicant a mainland organisation) the planted label
    and that definition are made to agree, so the planted study-1 DGP (cluster set, TI,
    NC) is what the code-defined truth yields: an AI application whose drawn codes miss
    the list gets one listed code of its topic (else ``content.study1_fallback_code``)
    appended; a non-AI one loses its listed codes (a listed main code is replaced by an
    unlisted code of its topic); its IPC field is never blank. The exception that remains,
    counted by the truth as the codes say: AI design patents (Locarno classes only).
    Outside the population the codes are left as drawn (the classifier meets the real
    disagreement there)."""
    settings = _render_settings(spec)
    c = spec.p["content"]
    tm, codes = _code_tools(str(spec.path(c["topics"])),
                            str(spec.path(c["study1_ai_codes"])),
                            json.dumps(settings, sort_keys=True, default=str))
    fallback = str(c["study1_fallback_code"])
    blank_rate = float(settings["blank"]["ipc"])
    out = []
    for i in range(len(app_id)):
        rng = random.Random(f"ipc:{spec.seed}:{int(app_id[i])}")
        ptype_name = TYPES[int(ptype[i])]
        tier_name = TIERS[int(tier[i])] if is_ai[i] else None
        drawn = tm.ipc_codes(topic[i], ptype_name, year, tier_name, bool(borderline[i]), rng)
        blank = rng.random() < blank_rate
        if blank and not (study1[i] and is_ai[i] and ptype_name != "design"):
            out.append([])
            continue
        if study1[i] and ptype_name != "design":
            listed = codes.is_ai(drawn)
            if is_ai[i] and not listed:
                period = tm._period(topic[i], year)
                pool = [x for x in period["main"] + period["extra"] if codes.code_is_ai(x)]
                drawn = drawn + [pool[int(rng.random() * len(pool))] if pool else fallback]
            elif not is_ai[i] and listed:
                keep = [x for x in drawn if not codes.code_is_ai(x)]
                if not keep or keep[0] != drawn[0]:
                    period = tm._period(topic[i], year)
                    pool = [x for x in period["main"] + period["extra"]
                            if not codes.code_is_ai(x) and x not in keep]
                    if pool:
                        keep = [pool[int(rng.random() * len(pool))]] + keep
                if not keep:
                    raise ValueError(f"{c['topics']}: topic {topic[i]!r} has no code outside "
                                     f"{c['study1_ai_codes']} for a non-AI application")
                drawn = keep
        out.append(drawn)
    arr = pa.array(out, type=pa.list_(pa.string()))
    return pd.Series(pd.arrays.ArrowExtensionArray(arr))
