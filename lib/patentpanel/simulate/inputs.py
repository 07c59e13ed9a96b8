"""The other inputs: policy documents (Pkulaw-like), the yearbook city-year table, 1984
communication infrastructure with the national series, and the CSMAR-like firm panel
(study 1's mediation, Table 5). Each writer returns its truth frame(s)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .dgp import World
from .entities import Entities
from .rng import stream

log = logging.getLogger("patentpanel.simulate.inputs")

__all__ = ["policies_frame", "yearbook_frame", "firms_frame", "write_inputs"]

_TOPICS = ["人工智能产业发展", "新一代人工智能创新发展试验区建设", "智能制造推进", "人工智能与实体经济深度融合",
           "支持人工智能企业发展的若干措施", "人工智能应用场景建设", "算力基础设施建设", "智能网联汽车发展"]
_FORMS = ["关于促进{t}的实施意见", "{t}行动计划（{y}—{y2}年）", "关于印发{t}三年行动方案的通知",
          "{t}若干政策", "关于加快{t}的指导意见"]
_ORGANS_CITY = ["{c}人民政府", "{c}人民政府办公厅", "{c}科学技术局", "{c}工业和信息化局", "{c}发展和改革委员会"]
_ORGANS_PROV = ["{p}人民政府", "{p}人民政府办公厅", "{p}科学技术厅", "{p}工业和信息化厅", "{p}发展和改革委员会"]


def policies_frame(world: World) -> pd.DataFrame:
    """One row per document; counts per issuer-year are the DGP's, so IP is exact."""
    reg = world.regions
    plan = world.policies_plan
    rng = stream(world.spec.seed, "policy_docs")
    years = world.years
    rows = []
    # city-level (municipalities too: their own documents)
    cc = plan["city_counts"]
    r_idx, t_idx = np.nonzero(cc)
    reps = cc[r_idx, t_idx]
    ri, ti = np.repeat(r_idx, reps), np.repeat(t_idx, reps)
    n = len(ri)
    city_name = reg["name"].to_numpy(dtype=object)[ri]
    muni = reg["is_municipality"].to_numpy()[ri] == 1
    organ = np.array([_ORGANS_CITY[i] for i in rng.integers(0, len(_ORGANS_CITY), n)], dtype=object)
    organ = np.array([o.format(c=c) for o, c in zip(organ, city_name)], dtype=object)
    rows.append(pd.DataFrame({"level": np.where(muni, "province", "city"),
                              "province_adcode": reg["province_adcode"].to_numpy(dtype=object)[ri],
                              "city_adcode": reg["adcode"].to_numpy(dtype=object)[ri],
                              "issuing_organ": organ, "year": years[ti]}))
    pc = plan["province_counts"]
    p_idx, t_idx = np.nonzero(pc)
    reps = pc[p_idx, t_idx]
    pi, ti = np.repeat(p_idx, reps), np.repeat(t_idx, reps)
    provs = np.array(plan["province_adcodes"], dtype=object)[pi]
    pname = reg.drop_duplicates("province_adcode").set_index("province_adcode")["province"]
    organ = np.array([_ORGANS_PROV[i].format(p=pname[p]) for i, p in
                      zip(rng.integers(0, len(_ORGANS_PROV), len(pi)), provs)], dtype=object)
    rows.append(pd.DataFrame({"level": "province", "province_adcode": provs, "city_adcode": "",
                              "issuing_organ": organ, "year": years[ti]}))
    df = pd.concat(rows, ignore_index=True)
    n = len(df)
    doy = rng.integers(0, 365, n)
    df["issue_date"] = (pd.to_datetime(df["year"].astype(str) + "-01-01") + pd.to_timedelta(doy, "D")).dt.strftime("%Y-%m-%d")
    topic = np.array(_TOPICS, dtype=object)[rng.integers(0, len(_TOPICS), n)]
    form = np.array(_FORMS, dtype=object)[rng.integers(0, len(_FORMS), n)]
    prefix = np.where(df["level"] == "city", "", "")
    df["title"] = [prefix_ + f.format(t=t, y=y, y2=y + 2) for prefix_, f, t, y in zip(prefix, form, topic, df["year"])]
    df = df.sort_values(["issue_date", "issuing_organ", "title"], kind="stable").reset_index(drop=True)
    df.insert(0, "doc_id", [f"PKU{world.spec.seed % 100000:05d}{i:07d}" for i in range(n)])
    return df[["doc_id", "title", "issuing_organ", "level", "province_adcode", "city_adcode", "issue_date"]]


def yearbook_frame(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The published yearbook (with gaps outside both study samples) and the gap list."""
    yb = world.yearbook.copy()
    spec = world.spec
    rng = stream(spec.seed, "yearbook_gaps")
    reg = world.regions
    protected = (reg["group"].isin(["cluster"]) | reg["study2"]).to_numpy()
    # (the robustness controls last: their gap draws follow the others', which stay as they were)
    cols = ["gdp_per_capita", "road_area_per_capita", "st_expenditure", "population_10k", "fdi_gdp",
            "trade_gdp", "edu_exp_share", "theil_index", "rd_gdp", "diversification", "findev"]
    gaps = []
    free = ~protected[yb["region_id"].to_numpy()]
    for c in cols:
        m = free & (rng.random(len(yb)) < spec.p["yearbook"]["gap_rate"])
        gaps.append(pd.DataFrame({"adcode": yb.loc[m, "adcode"], "year": yb.loc[m, "year"], "column": c,
                                  "true_value": yb.loc[m, c]}))
        yb.loc[m, c] = np.nan
    yb["pop_density"] = yb["population_10k"] * 1e4 / yb["area_km2"]
    out = yb[["adcode", "year", "gdp_per_capita", "road_area_per_capita", "st_expenditure", "population_10k",
              "area_km2", "pop_density", "fdi_gdp", "trade_gdp", "edu_exp_share", "theil_index", "rd_gdp",
              "diversification", "findev"]]
    return out, pd.concat(gaps, ignore_index=True)


def firms_frame(world: World, ent: Entities) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Listed AI firms in the clusters with the planted mediation (Table 5, Models 5-6):
    GS = ln(subsidies), TI^ = ln(1 + invention applications), IP = ln(1 + city IP)."""
    spec = world.spec
    fp = spec.p["firms"]
    rng = stream(spec.seed, "firms")
    reg = world.regions
    cl = np.flatnonzero(reg["group"].to_numpy() == "cluster")
    n = int(fp["n_firms"]) + int(fp["n_incomplete"])
    vol = reg["volume_plan"].to_numpy()[cl]
    city = cl[rng.choice(len(cl), n, p=vol / vol.sum())]
    fr = ent.frame
    ent_pool = fr[(fr["kind"] == "enterprise")]
    picks = []
    for c in city:   # n ~ 131 firms: a per-firm loop, not per record
        cand = ent_pool.index[ent_pool["region_id"] == c].to_numpy()
        cand = np.setdiff1d(cand, picks) if len(cand) > len(picks) else cand
        picks.append(int(cand[rng.integers(0, len(cand))]))
    names = fr.loc[picks, "name"].to_numpy()
    w0, w1 = int(fp["window"]["start"]), int(fp["window"]["end"])
    years = np.arange(w0 - 1, w1 + 1)
    T = len(years)
    ipw = world.ip.pivot(index="region_id", columns="year", values="ip")
    ip = np.log1p(ipw.loc[city, years].to_numpy(float))
    eta_g = rng.normal(0, 0.3, n)
    eta_t = rng.normal(0, 0.3, n)
    ep = np.clip(0.05 + rng.normal(0, 0.03, (n, 1)) + rng.normal(0, 0.03, (n, T)), -0.3, 0.4)
    cs = np.clip(0.42 + rng.normal(0, 0.12, (n, 1)) + rng.normal(0, 0.04, (n, T)), 0.03, 0.95)
    oc = np.clip(0.65 * np.exp(rng.normal(0, 0.3, (n, 1)) + rng.normal(0, 0.08, (n, T))), 0.05, 3.0)
    g, tt = fp["gs"], fp["ti"]
    GS = np.zeros((n, T))
    TI = np.zeros((n, T))
    cnt = np.zeros((n, T), dtype=np.int64)
    gs0 = (g["const"] + g["ip"] * ip[:, 0] + g["ep"] * ep[:, 0] + g["cs"] * cs[:, 0] + g["oc"] * oc[:, 0] + eta_g) / (1 - g["lag"])
    GS[:, 0] = gs0 + rng.normal(0, g["sigma"], n)
    ti0 = (tt["const"] + tt["ip"] * ip[:, 0] + tt["gs"] * GS[:, 0] + tt["ep"] * ep[:, 0] + tt["cs"] * cs[:, 0]
           + tt["oc"] * oc[:, 0] + eta_t) / (1 - tt["lag"])
    cnt[:, 0] = np.round(np.expm1(ti0 + rng.normal(0, tt["sigma"], n))).clip(0)
    TI[:, 0] = np.log1p(cnt[:, 0])
    for t in range(1, T):
        GS[:, t] = (g["const"] + g["lag"] * GS[:, t - 1] + g["ip"] * ip[:, t] + g["ep"] * ep[:, t]
                    + g["cs"] * cs[:, t] + g["oc"] * oc[:, t] + eta_g + rng.normal(0, g["sigma"], n))
        lt = (tt["const"] + tt["lag"] * TI[:, t - 1] + tt["ip"] * ip[:, t] + tt["gs"] * GS[:, t] + tt["ep"] * ep[:, t]
              + tt["cs"] * cs[:, t] + tt["oc"] * oc[:, t] + eta_t + rng.normal(0, tt["sigma"], n))
        cnt[:, t] = np.round(np.expm1(lt)).clip(0)
        TI[:, t] = np.log1p(cnt[:, t])
    adc = reg["adcode"].to_numpy(dtype=object)
    df = pd.DataFrame({
        "firm_id": np.repeat(np.arange(1, n + 1) + 600000, T), "name": np.repeat(names, T),
        "adcode": np.repeat(adc[city], T), "year": np.tile(years, n),
        "subsidies": np.round(np.exp(GS), 0).ravel(), "roa": np.round(ep, 6).ravel(),
        "leverage": np.round(cs, 6).ravel(), "asset_turnover": np.round(oc, 6).ravel(),
        "invention_applications": cnt.ravel(),
    })
    truth = df.copy()
    truth["gs"] = GS.ravel()
    truth["ti_hat"] = TI.ravel()
    truth["ip_log1p"] = ip.ravel()
    truth["entity_id"] = np.repeat(np.asarray(picks), T)
    # incomplete firms: one missing cell each (dropped for balance, note 21)
    inc = rng.choice(n, int(fp["n_incomplete"]), replace=False)
    cols = ["subsidies", "roa", "leverage", "asset_turnover"]
    for j, f_ in enumerate(inc):
        row = f_ * T + int(rng.integers(1, T))
        df.loc[row, cols[j % len(cols)]] = np.nan
    truth["complete_firm"] = ~np.isin(np.repeat(np.arange(n), T), inc)
    return df, truth


def write_inputs(world: World, ent: Entities, out: Path) -> dict[str, pd.DataFrame]:
    """Write policies/, yearbook/, history/, firms/ under ``out``; return truth frames."""
    out = Path(out)
    for d in ("policies", "yearbook", "history", "firms"):
        (out / d).mkdir(parents=True, exist_ok=True)
    pol = policies_frame(world)
    pol.to_csv(out / "policies/policies.csv", index=False, encoding="utf-8", lineterminator="\n")
    yb, gaps = yearbook_frame(world)
    yb.to_csv(out / "yearbook/city_year.csv", index=False, encoding="utf-8", lineterminator="\n")
    world.history.drop(columns="region_id").to_csv(out / "history/infrastructure_1984.csv", index=False,
                                                   lineterminator="\n")
    world.national.to_csv(out / "history/national_series.csv", index=False, lineterminator="\n")
    firms, firm_truth = firms_frame(world, ent)
    firms.to_csv(out / "firms/firm_year.csv", index=False, encoding="utf-8", lineterminator="\n")
    return {"yearbook_gaps": gaps, "firm_panel": firm_truth, "policies": pol}
