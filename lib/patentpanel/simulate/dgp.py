"""The data-generating process: latent city-year panels first, then counts from them.

Order (docs/simulator.md, "The DGP"):

1. regions and groups (29 planted clusters, 4 small LQ>1 regions, 39 large non-clusters,
   the rest) and a volume plan (mean annual eligible AI applications per region);
2. study 2's latent layer: 1984 infrastructure, the national series, the Nunn-Qian
   instruments z_k and an unobserved city-year confounder u, which tilt the tier mix;
3. the cooperative AI patents of every year (regions of all applicants, hubs, distance
   decay) and their corruption flags;
4. NC of every region-year, computed from the surviving cooperative patents exactly as the
   network stage does (convention from ``network.centrality``);
5. policies (IP), controls, then TI of each cluster from Eq. 3 (Table 4, Model 3), and
   single-applicant AI inventions filled so that realized fractional counts match;
6. tier counts of the other regions (study 2's first stage), innovation from the realized
   tier variables (Table 5, Model 8) and the non-AI counts that realize it;
7. non-AI counts elsewhere (LQ plan) and a filler so the total is exactly ``records``.

Everything is vectorised numpy over regions, years, cells or patents; the only Python
loops run over years (12) or convention branches.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from .rng import stream

log = logging.getLogger("patentpanel.simulate.dgp")

__all__ = ["DGPSpec", "World", "build_world", "closeness", "load_regions", "TIERS", "TYPES",
           "CELL_KINDS", "MAX_APPLICANTS"]

TIERS = ("FT", "CT", "GPT")
TYPES = ("invention", "utility", "design")
MAX_APPLICANTS = 6
# First-applicant kinds of a cell (coop_* cells are cooperative patents that study 1 drops).
CELL_KINDS = ("org", "ind", "ind_coop", "org_coop_ind", "org_coop_foreign", "foreign", "hmt")
CORRUPTION_REASONS = ("missing_app_no", "bad_app_no_format", "bad_check_digit", "missing_date",
                      "bad_date", "truncated_record", "field_count_mismatch", "encoding_error",
                      "missing_applicant")


@dataclass(frozen=True)
class DGPSpec:
    """Everything the DGP reads: the ``simulate`` section, the network conventions and the
    run arguments. ``from_config`` is the only place that touches Config."""
    records: int
    years: tuple[int, int]
    seed: int
    p: dict
    network: dict
    conf_dir: Any

    @classmethod
    def from_config(cls, cfg, records: int | None = None, years: tuple[int, int] | None = None,
                    seed: int | None = None) -> "DGPSpec":
        p = cfg.section("simulate")
        net = cfg.get("network", {}) or {}
        y = years or (int(p["years"]["start"]), int(p["years"]["end"]))
        n = int(records if records is not None else p["records"])
        if n < 1000:
            raise ValueError(f"simulate.records: at least 1000 applications are needed to plant "
                             f"the cluster structure, got {n}")
        if y[0] > y[1]:
            raise ValueError(f"simulate years: start {y[0]} is after end {y[1]}")
        w = p["study1"]["window"]
        if not (y[0] < int(w["start"]) and int(w["end"]) <= y[1]):
            raise ValueError(f"simulate years {y[0]}-{y[1]} must cover study 1's window "
                             f"{w['start']}-{w['end']} plus one earlier year (TI lag)")
        return cls(records=n, years=(int(y[0]), int(y[1])),
                   seed=int(seed if seed is not None else cfg.get("run.seed")),
                   p=p, network=net, conf_dir=cfg.directory)

    def path(self, raw: str):
        from ..config import resolve_path
        return resolve_path(raw, self.conf_dir)

    @property
    def year_list(self) -> np.ndarray:
        return np.arange(self.years[0], self.years[1] + 1)

    def net(self, dotted: str, default):
        node: Any = self.network
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


@dataclass
class World:
    """The latent and count layers of one simulation (see module docstring)."""
    spec: DGPSpec
    regions: pd.DataFrame            # 337 rows; index = region id 0..R-1
    years: np.ndarray
    coop: dict                       # eligible cooperative AI patents: arrays
    cells: pd.DataFrame              # (region, year, kind, is_ai, tier, ptype, n_ok, n_bad)
    nc: pd.DataFrame                 # region-year NC (all active nodes)
    ip: pd.DataFrame                 # region-year policy counts (city, province parts, IP)
    policies_plan: dict              # counts by issuer for inputs.policies
    yearbook: pd.DataFrame           # true city-year statistics (all regions)
    study1: pd.DataFrame             # cluster-year panel as planted and realized
    study2: pd.DataFrame             # 120 city-year panel
    history: pd.DataFrame            # 1984 infrastructure per region
    national: pd.DataFrame           # national series per year
    params: dict = field(default_factory=dict)   # realized DGP parameters (s, a, eta, ...)
    diagnostics: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- regions
def load_regions(spec: DGPSpec) -> pd.DataFrame:
    g = spec.p["geo"]
    reg = pd.read_csv(spec.path(g["regions"]), dtype={"adcode": str, "province_adcode": str})
    s2 = pd.read_csv(spec.path(g["study2_cities"]), dtype={"adcode": str})
    reg = reg.reset_index(drop=True)
    by_en = {}
    for i, (en, prov) in enumerate(zip(reg["name_en"], reg["province_en"])):
        by_en.setdefault(en, []).append(i)

    def find(name: str) -> int:
        hits = by_en.get(name, [])
        if len(hits) == 1:
            return hits[0]
        # ambiguous English names (Fuzhou, Suzhou, Taizhou): prefer a provincial capital
        caps = [h for h in hits if int(reg.loc[h, "is_provincial_capital"]) == 1]
        if len(caps) == 1:
            return caps[0]
        raise ValueError(f"simulate.study1: region {name!r} matches {len(hits)} gazetteer rows")

    s1 = spec.p["study1"]
    clusters = [find(n) for n in s1["clusters"]]
    small = [find(n) for n in s1["small_lq"]]
    if len(s1["table1_volume"]) != len(clusters):
        raise ValueError("simulate.study1.table1_volume must have one value per cluster "
                         f"({len(clusters)}), got {len(s1['table1_volume'])}")
    reg["group"] = "other"
    reg.loc[clusters, "group"] = "cluster"
    reg.loc[small, "group"] = "small_lq"
    reg["cluster_rank"] = -1
    reg.loc[clusters, "cluster_rank"] = np.arange(len(clusters))
    s2 = s2.set_index("adcode")
    reg["study2"] = reg["adcode"].isin(s2.index)
    missing = set(s2.index) - set(reg["adcode"])
    if missing:
        raise ValueError(f"study2_cities.csv: adcodes not in the gazetteer: {sorted(missing)[:5]}")
    for col in ("coastal", "capital", "transport_hub", "city_scale"):
        reg[col] = reg["adcode"].map(s2[col]).fillna(0).astype(int)
    reg["region_id"] = np.arange(len(reg))
    return reg


def _distance_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    dlo = lo[:, None] - lo[None, :]
    dla = la[:, None] - la[None, :]
    a = np.sin(dla / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :]) * np.sin(dlo / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _volume_plan(spec: DGPSpec, reg: pd.DataFrame) -> np.ndarray:
    """Mean annual eligible AI applications per region (the plan; realized values differ)."""
    v = spec.p["volume"]
    rng = stream(spec.seed, "volume")
    R = len(reg)
    T = len(spec.year_list)
    budget = v["ai_fraction"] * spec.records / T
    grp = reg["group"].to_numpy()
    vol = np.zeros(R)
    cl = np.flatnonzero(grp == "cluster")
    t1 = np.asarray(spec.p["study1"]["table1_volume"], float)[reg.loc[cl, "cluster_rank"].to_numpy()]
    w_cl = t1 ** 0.6
    vol[cl] = budget * v["cluster_share"] * w_cl / w_cl.sum()
    min_cluster = vol[cl].min()
    # 39 large non-clusters (capitals and the largest remaining units by a latent size) sit
    # above the percentile threshold with the clusters; the rest (incl. the small 4) below.
    others = np.flatnonzero(grp == "other")
    size = rng.lognormal(0.0, 1.0, R) + 3.0 * reg["is_provincial_capital"].to_numpy() \
        + 1.0 * reg["study2"].to_numpy()
    n_top = int(np.floor(R - 0.8 * (R - 1)))            # regions at/above the 80th percentile
    n_big = max(n_top - len(cl), 0)
    big = others[np.argsort(-size[others], kind="stable")[:n_big]]
    rest = np.setdiff1d(np.flatnonzero(grp != "cluster"), big)
    small = np.flatnonzero(grp == "small_lq")
    w_rest = rng.lognormal(0.0, v["other_sigma"], len(rest))
    rest_budget = budget * (1 - v["cluster_share"] - v["small_lq_share"])
    w_big = rng.uniform(1.0, v["big_other_boost"], len(big))
    # big others: between 0.6 and big_other_boost x the smallest cluster; the rest share what
    # is left but every one stays below 40% of the smallest top region (a clear gap).
    vol[big] = 0.6 * min_cluster * w_big
    top_min = min(vol[big].min() if len(big) else np.inf, min_cluster)
    rest_wo_small = np.setdiff1d(rest, small)
    left = max(rest_budget - vol[big].sum(), 0.05 * rest_budget)
    wr = rng.lognormal(0.0, v["other_sigma"], len(rest_wo_small))
    vr = left * wr / wr.sum()
    vol[rest_wo_small] = np.minimum(vr, 0.4 * top_min)
    vol[small] = np.minimum(budget * v["small_lq_share"] / max(len(small), 1), 0.35 * top_min)
    del w_rest
    reg["volume_group"] = np.where(np.isin(np.arange(R), big), "big_other", grp)
    return vol


# ----------------------------------------------------------------------------- network
def closeness(n_nodes: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, convention: str,
              distance: str = "hops") -> np.ndarray:
    """Closeness of nodes 0..n-1 of an undirected graph (edges a-b with collaboration
    counts w; duplicates summed, self-loops ignored), by the conventions of
    ``network.centrality`` (see lib/patentpanel/network/centrality.py), unscaled."""
    n = int(n_nodes)
    if n <= 1:
        return np.full(n, np.nan if convention == "component" else 0.0)
    keep = a != b
    a, b, w = a[keep], b[keep], w[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo.astype(np.int64) * n + hi
    uk, inv = np.unique(key, return_inverse=True)
    ws = np.bincount(inv, weights=w, minlength=len(uk))
    ulo, uhi = uk // n, uk % n
    if distance == "hops":
        length = np.ones(len(uk))
    elif distance == "inverse_weight":
        length = 1.0 / ws
    else:
        raise ValueError(f"network.centrality.distance: {distance!r} not in (hops, inverse_weight)")
    m = csr_matrix((np.r_[length, length], (np.r_[ulo, uhi], np.r_[uhi, ulo])), shape=(n, n))
    d = shortest_path(m, method="D", directed=False, unweighted=(distance == "hops"))
    finite = np.isfinite(d)
    reach = finite.sum(axis=1)
    total = np.where(finite, d, 0.0).sum(axis=1)
    if convention == "ucinet":
        return (n - 1) / (total + (n - reach) * float(n))
    if convention == "wf":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, ((reach - 1) / total) * ((reach - 1) / (n - 1)), 0.0)
    if convention == "component":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, (reach - 1) / total, np.nan)
    if convention == "harmonic":
        with np.errstate(divide="ignore"):
            inv_d = np.where(finite & (d > 0), 1.0 / np.where(d > 0, d, 1.0), 0.0)
        return inv_d.sum(axis=1) / (n - 1)
    raise ValueError(f"network.centrality.closeness: unknown convention {convention!r}")


def nc_convention(spec: DGPSpec) -> dict:
    """The NC convention the DGP uses: ``network.centrality`` when configured, else
    networkx's closeness_centrality (wf_improved=True) x 100 on active nodes."""
    conv = {
        "closeness": spec.net("centrality.closeness", "wf"),
        "scale": float(spec.net("centrality.scale", 100.0)),
        "distance": spec.net("centrality.distance", "hops"),
        "nodes": spec.net("centrality.nodes", "active"),
        "edge_scope": spec.net("centrality.edge_scope", "all"),
        "source": "network.centrality" if spec.net("centrality.closeness", None) else
                  "default (networkx closeness_centrality, wf_improved=True, x100)",
    }
    return conv


def pair_arrays(regions: np.ndarray, k: np.ndarray):
    """All unordered applicant pairs of patents: (patent index, region a, region b)."""
    rows, ra, rb = [], [], []
    for i in range(MAX_APPLICANTS):
        for j in range(i + 1, MAX_APPLICANTS):
            sel = np.flatnonzero(k > j)
            rows.append(sel)
            ra.append(regions[sel, i])
            rb.append(regions[sel, j])
    return np.concatenate(rows), np.concatenate(ra), np.concatenate(rb)


def yearly_nc(spec: DGPSpec, R: int, year: np.ndarray, regions: np.ndarray, k: np.ndarray,
              ok: np.ndarray, cluster_ids: np.ndarray) -> pd.DataFrame:
    """NC of every active region-year from the surviving eligible cooperative AI patents."""
    conv = nc_convention(spec)
    out = []
    for t in spec.year_list:
        sel = (year == t) & ok
        pi, a, b = pair_arrays(regions[sel], k[sel])
        if conv["nodes"] == "gazetteer":
            nodes = np.arange(R)
        else:
            if conv["nodes"] == "inter":
                m = a != b
                nodes = np.unique(np.r_[a[m], b[m]])
            else:
                nodes = np.unique(regions[sel][regions[sel] >= 0])
        if len(nodes) == 0:
            continue
        idx = np.full(R, -1)
        idx[nodes] = np.arange(len(nodes))
        m = (a != b)
        if conv["edge_scope"] != "all":
            m &= np.isin(a, cluster_ids) | np.isin(b, cluster_ids)
        c = closeness(len(nodes), idx[a[m]], idx[b[m]], np.ones(int(m.sum())),
                      conv["closeness"], conv["distance"]) * conv["scale"]
        out.append(pd.DataFrame({"region_id": nodes, "year": t, "nc": c}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        {"region_id": [], "year": [], "nc": []})


def _gravity_sampler(spec: DGPSpec, reg: pd.DataFrame, vol: np.ndarray):
    c = spec.p["cooperation"]
    d = _distance_km(reg["lon"].to_numpy(float), reg["lat"].to_numpy(float))
    hub = np.ones(len(reg))
    for ad, bonus in (c.get("hubs") or {}).items():
        hub[reg["adcode"].to_numpy() == str(ad)] = float(bonus)
    w = (np.maximum(vol, 1e-9) ** c["mass_exp"])[None, :] * np.exp(-d / c["decay_km"]) * hub[None, :]
    np.fill_diagonal(w, 0.0)
    w /= w.sum(axis=1, keepdims=True)
    flat = (np.cumsum(w, axis=1) + np.arange(len(reg))[:, None]).ravel()
    R = len(reg)

    def draw(origin: np.ndarray, u: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(flat, origin + np.minimum(u, 1 - 1e-12), side="right")
        return np.minimum(pos - origin * R, R - 1)
    return draw


def _coop_regions(spec, rng, first: np.ndarray, draw_other) -> tuple[np.ndarray, np.ndarray]:
    c = spec.p["cooperation"]
    n = len(first)
    k = rng.choice(np.arange(2, 2 + len(c["k_probs"])), size=n, p=np.asarray(c["k_probs"]) / np.sum(c["k_probs"]))
    k = np.minimum(k, MAX_APPLICANTS)
    regions = np.full((n, MAX_APPLICANTS), -1, dtype=np.int64)
    regions[:, 0] = first
    same = rng.random((n, MAX_APPLICANTS)) < c["p_intra"]
    u = rng.random((n, MAX_APPLICANTS))
    for j in range(1, MAX_APPLICANTS):
        other = draw_other(first, u[:, j])
        col = np.where(same[:, j], first, other)
        regions[:, j] = np.where(k > j, col, -1)
    return regions, k


# ----------------------------------------------------------------------------- helpers
def _choice_rows(rng, probs: np.ndarray) -> np.ndarray:
    """One category per row of a (n, m) probability matrix."""
    c = np.cumsum(probs, axis=1)
    c /= c[:, -1:]
    u = rng.random(len(probs))[:, None]
    return (u > c).sum(axis=1)


def _neg_bad(rng, n_ok: np.ndarray, rate: float) -> np.ndarray:
    """Corrupted applications drawn alongside n_ok surviving ones: the failures before n_ok
    successes of Bernoulli(1 - rate) trials (keep drawing until n_ok survive)."""
    n_ok = np.asarray(n_ok, dtype=np.int64)
    out = np.zeros_like(n_ok)
    pos = n_ok > 0
    if rate > 0 and pos.any():
        out[pos] = rng.negative_binomial(n_ok[pos], 1.0 - rate)
    return out


def _profile(years: np.ndarray, growth: float) -> np.ndarray:
    g = np.exp(growth * (years - years.mean()))
    return g / g.mean()


def type_probs_by_tier(spec: DGPSpec) -> np.ndarray:
    """P(type | tier) for AI applications: the AI type mix restricted to the types that some
    topic of the tier allows (conf/simulate/vocab/topics.yaml; CT topics are inventions)."""
    import yaml
    with open(spec.path(spec.p["content"]["topics"]), encoding="utf-8") as fh:
        topics = yaml.safe_load(fh)["topics"]
    mix = np.array([spec.p["types"]["ai"][t] for t in TYPES], float)
    out = np.zeros((3, 3))
    for i, tier in enumerate(TIERS):
        allowed = {ty for t in topics.values() if t.get("tier") == tier for ty in t["patent_types"]}
        if not allowed:
            raise ValueError(f"{spec.p['content']['topics']}: no topic of tier {tier}")
        out[i] = mix * np.array([ty in allowed for ty in TYPES])
        out[i] /= out[i].sum()
    return out


def corruption_rate(p: dict) -> float:
    return float(sum(p["messiness"]["corruption"].values()))


# ----------------------------------------------------------------------------- build
def build_world(spec: DGPSpec) -> World:
    p = spec.p
    reg = load_regions(spec)
    R = len(reg)
    years = spec.year_list
    T = len(years)
    y0 = years[0]
    vol = _volume_plan(spec, reg)
    reg["volume_plan"] = vol
    grp = reg["group"].to_numpy()
    is_cluster = grp == "cluster"
    cluster_ids = np.flatnonzero(is_cluster)
    is_s2 = reg["study2"].to_numpy()
    rate_bad = corruption_rate(p)
    g_ai = _profile(years, p["volume"]["ai_growth"])
    g_non = _profile(years, p["volume"]["nonai_growth"])
    s1p, s2p = p["study1"], p["study2"]
    diag: dict = {}

    # -- 2. study 2 latent layer: history, national series, instruments, confounder -------
    rng = stream(spec.seed, "history")
    size = np.log(np.maximum(vol, 1e-3))
    size_z = (size - size.mean()) / size.std()
    hist_raw = {}
    base = {"post_offices": (4.0, 0.5), "telephones": (9.5, 0.8), "postal_output": (6.5, 0.7)}
    for j, (name, (mu, sd)) in enumerate(base.items()):
        hist_raw[name] = np.exp(mu + sd * (0.5 * size_z + rng.normal(0, 1, R)))
    history = pd.DataFrame({"region_id": np.arange(R), "adcode": reg["adcode"],
                            "post_offices": np.round(hist_raw["post_offices"]).astype(int),
                            "telephones": np.round(hist_raw["telephones"]).astype(int),
                            "postal_output": np.round(hist_raw["postal_output"], 1)})
    # national series (internet users, 10k persons; CNNIC-like growth), standardised
    internet = np.round(45730 * np.exp(0.085 * (years - 2010)) + 0 * years, 0)
    national = pd.DataFrame({"year": years, "internet_users_10k": internet})
    s_std = (np.log(internet) - np.log(internet).mean()) / np.log(internet).std()
    s2_mask = is_s2
    z = {}
    for k, var in s2p["instruments"].items():
        h = np.log(history[var].to_numpy(float))
        hz = (h - h[s2_mask].mean()) / h[s2_mask].std()
        z[k] = np.clip(hz, -2.5, 2.5)[:, None] * s_std[None, :]          # (R, T)
    rng = stream(spec.seed, "confounder")
    u = np.zeros((R, T))
    e0 = rng.normal(0, 1, (R, T))
    rho = s2p["confounder_rho"]
    u[:, 0] = e0[:, 0]
    for t in range(1, T):
        u[:, t] = rho * u[:, t - 1] + np.sqrt(1 - rho ** 2) * e0[:, t]
    u[~s2_mask] = 0.0
    tier_base = np.array([s2p["tier_shares"][k] for k in TIERS], float)
    tilt = np.stack([s2p["pi"][k] * z[k] + s2p["delta"][k] * u for k in TIERS], axis=-1)
    tier_share = tier_base[None, None, :] * np.exp(tilt)
    tier_share /= tier_share.sum(axis=-1, keepdims=True)                 # (R, T, 3)

    # -- 3. cooperative AI patents (eligible: mainland organisations only) -----------------
    coop_share = p["cooperation"]["share"]
    draw_other = _gravity_sampler(spec, reg, vol)
    ai_types = np.array([p["types"]["ai"][t] for t in TYPES], float)
    ai_types /= ai_types.sum()
    # Cooperative AI patents are inventions or utility models: study 1 identifies AI by
    # IPC codes and a design patent carries only Locarno classes, so a design could never
    # be an edge of the network the study (and a pipeline) observes.
    tp = type_probs_by_tier(spec)
    tp[:, TYPES.index("design")] = 0.0
    tp /= tp.sum(axis=1, keepdims=True)
    parts = []
    for ti, t in enumerate(years):
        rng = stream(spec.seed, "coop", int(t))
        n_t = int(round(coop_share * vol.sum() * g_ai[ti]))
        first = rng.choice(R, size=n_t, p=vol / vol.sum())
        regions, k = _coop_regions(spec, rng, first, draw_other)
        tier = _choice_rows(rng, tier_share[first, ti])
        ptype = _choice_rows(rng, tp[tier])
        bad = rng.random(n_t) < rate_bad
        parts.append((np.full(n_t, t), regions, k, ptype, tier, bad))
    coop = {
        "year": np.concatenate([q[0] for q in parts]).astype(np.int64),
        "regions": np.concatenate([q[1] for q in parts]),
        "k": np.concatenate([q[2] for q in parts]).astype(np.int64),
        "ptype": np.concatenate([q[3] for q in parts]).astype(np.int8),
        "tier": np.concatenate([q[4] for q in parts]).astype(np.int8),
        "bad": np.concatenate([q[5] for q in parts]),
    }
    ok = ~coop["bad"]

    # -- 4. NC from the surviving cooperative patents --------------------------------------
    nc = yearly_nc(spec, R, coop["year"], coop["regions"], coop["k"], ok, cluster_ids)

    # fractional counts of surviving cooperative AI inventions per region-year
    inv_ok = ok & (coop["ptype"] == 0)
    frac = np.zeros((R, T))
    for j in range(MAX_APPLICANTS):
        sel = inv_ok & (coop["k"] > j)
        np.add.at(frac, (coop["regions"][sel, j], coop["year"][sel] - y0), 1.0 / coop["k"][sel])
    first_ok = np.zeros((R, T, 3, 3), dtype=np.int64)                 # region, year, tier, type
    np.add.at(first_ok, (coop["regions"][ok, 0], coop["year"][ok] - y0, coop["tier"][ok],
                         coop["ptype"][ok]), 1)

    # -- 5. policies, controls, TI ------------------------------------------------------------
    ip_df, pol_plan = _policies(spec, reg, years)
    ip = ip_df.pivot(index="region_id", columns="year", values="ip").to_numpy()
    yb = _yearbook(spec, reg, years, vol)
    ED = yb.pivot(index="region_id", columns="year", values="gdp_per_capita").to_numpy()
    IC = yb.pivot(index="region_id", columns="year", values="road_area_per_capita").to_numpy()
    IE = yb.pivot(index="region_id", columns="year", values="st_expenditure").to_numpy()
    ncm = np.full((R, T), np.nan)
    ncm[nc["region_id"].to_numpy(int), nc["year"].to_numpy(int) - y0] = nc["nc"].to_numpy()

    w0, w1 = int(s1p["window"]["start"]), int(s1p["window"]["end"])
    est_t = (years >= w0 + 1) & (years <= w1)              # Eq. 3 sample years (lag inside window)
    in_sample = is_cluster[:, None] & est_t[None, :]
    ip_plus1 = bool((ip[in_sample] == 0).any())
    lip = np.log(ip + 1.0) if ip_plus1 else np.log(np.maximum(ip, 1e-300))
    lnc = np.log(ncm)
    samp_nc = in_sample & np.isfinite(lnc)
    m_ip = float(lip[samp_nc].mean()) if samp_nc.any() else 0.0
    m_nc = float(lnc[samp_nc].mean()) if samp_nc.any() else 0.0
    lnc_f = np.where(np.isfinite(lnc), lnc, m_nc)          # missing NC: centred term 0
    co = s1p["coef"]
    xb = (co["ip"] * lip + co["nc"] * lnc_f + co["ip_x_nc"] * (lip - m_ip) * (lnc_f - m_nc)
          + co["ed"] * np.log(ED) + co["ic"] * np.log(IC) + co["ie"] * np.log(IE) + co["const"])
    inv_share = s1p["ti_invention_share"]
    target_path = np.log(np.maximum(vol[:, None] * g_ai[None, :] * inv_share, 0.5))
    eta = np.zeros(R)
    eta[cluster_ids] = (target_path[cluster_ids, 1:] - co["ti_lag"] * target_path[cluster_ids, :-1]
                        - xb[cluster_ids, 1:]).mean(axis=1)
    rng = stream(spec.seed, "ti")
    eps = rng.normal(0, s1p["sigma_eps"], (R, T))
    ti_target = np.full((R, T), np.nan)
    ti_real = np.full((R, T), np.nan)
    singles_inv = np.zeros((R, T), dtype=np.int64)
    c_ids = cluster_ids
    for ti in range(T):
        if ti == 0:
            lt = target_path[c_ids, 0] + eps[c_ids, 0] / np.sqrt(1 - co["ti_lag"] ** 2)
        else:
            lt = co["ti_lag"] * np.log(ti_real[c_ids, ti - 1]) + xb[c_ids, ti] + eta[c_ids] + eps[c_ids, ti]
        tgt = np.exp(lt)
        n_single = np.maximum(np.round(tgt - frac[c_ids, ti]), 0).astype(np.int64)
        # TI enters in logs: a cluster-year keeps at least one application (tiny runs only)
        n_single = np.where(frac[c_ids, ti] > 0, n_single, np.maximum(n_single, 1))
        singles_inv[c_ids, ti] = n_single
        ti_target[c_ids, ti] = tgt
        ti_real[c_ids, ti] = frac[c_ids, ti] + n_single
    diag["ti_rounding_max_abs_log"] = float(np.nanmax(np.abs(np.log(ti_real[c_ids]) - np.log(ti_target[c_ids]))))
    diag["ti_floor_hits"] = int((ti_real[c_ids] > ti_target[c_ids] + 0.5).sum())

    # -- 6. AI cells ------------------------------------------------------------------------
    a = p["applicants"]
    r_ind = a["individual_first"]
    rng = stream(spec.seed, "ai_cells")
    # eligible AI located per region-year (first applicant): plan = vol * g
    plan_ai = vol[:, None] * g_ai[None, :]
    cells = []

    def add(kind, region, year_idx, is_ai, tier, ptype, n_ok):
        n_ok = np.asarray(n_ok, dtype=np.int64)
        shape = n_ok.shape
        n_ok = n_ok.ravel()
        region = np.broadcast_to(region, shape).ravel()
        year_idx = np.broadcast_to(year_idx, shape).ravel()
        tier = np.broadcast_to(tier, shape).ravel()
        ptype = np.broadcast_to(ptype, shape).ravel()
        m = n_ok > 0
        cells.append(pd.DataFrame({"kind": kind, "region_id": region[m], "year": years[year_idx[m]],
                                   "is_ai": is_ai, "tier": tier[m], "ptype": ptype[m], "n_ok": n_ok[m]}))

    RR, TT = np.meshgrid(np.arange(R), np.arange(T), indexing="ij")
    # ineligible AI located in a region (individuals, cooperation with individuals/foreigners)
    inel_rates = {"ind": r_ind / (1 - r_ind),
                  "ind_coop": coop_share * a["coop_with_individual"] / 2,
                  "org_coop_ind": coop_share * a["coop_with_individual"] / 2,
                  "org_coop_foreign": coop_share * a["coop_with_foreign"]}
    inel_total_rate = sum(inel_rates.values())
    # study-2 non-cluster cities: total located AI by tier from the first stage
    s2_nc = is_s2 & ~is_cluster
    tn = rng.normal(0, s2p["tier_noise"], (R, T, 3))
    lvl = np.log(np.maximum(plan_ai * (1 + inel_total_rate), 1e-6))[:, :, None] + np.log(tier_base)[None, None, :]
    # first stage: the instrument/confounder tilt acts on the level of each tier (not only
    # on the mix), so tier counts move with z and u within a city
    T_k = np.round(np.exp(lvl + tilt + tn)).astype(np.int64)
    inel_counts = {}
    for kind, r in inel_rates.items():
        lam = r * plan_ai
        n = rng.poisson(lam)
        # split by tier with the region-year's tier shares
        per_tier = np.zeros((R, T, 3), dtype=np.int64)
        flat_n = n.ravel()
        pr = tier_share.reshape(-1, 3)
        per_tier.reshape(-1, 3)[:] = _multinomial_rows(rng, flat_n, pr)
        inel_counts[kind] = per_tier
    inel_sum = sum(inel_counts.values())
    coop_first = first_ok.sum(axis=3)                                   # R, T, tier
    # eligible singles by tier and type
    elig_single = np.zeros((R, T, 3, 3), dtype=np.int64)
    # clusters: inventions from TI (tiers by share), utility/design in proportion
    inv_by_tier = _multinomial_rows(rng, singles_inv.ravel(), tier_share.reshape(-1, 3)).reshape(R, T, 3)
    elig_single[:, :, :, 0] += np.where(is_cluster[:, None, None], inv_by_tier, 0)
    nd = tp[:, 1] + tp[:, 2]
    ud_tier = rng.poisson(np.where(is_cluster[:, None, None], inv_by_tier * (nd / tp[:, 0])[None, None, :], 0.0))
    is_util = rng.binomial(ud_tier, np.where(nd > 0, tp[:, 1] / np.where(nd > 0, nd, 1), 0)[None, None, :])
    elig_single[:, :, :, 1] += is_util
    elig_single[:, :, :, 2] += ud_tier - is_util
    # study-2 non-clusters: T_k - coop-first - ineligible, by type
    need = np.where(s2_nc[:, None, None], T_k - coop_first - inel_sum, 0)
    diag["tier_target_shortfall"] = int(np.clip(-need, 0, None).sum())
    need = np.clip(need, 0, None)
    # other regions: plan minus coop-first, by tier shares
    rest = ~is_cluster & ~s2_nc
    n_rest = np.where(rest[:, None], np.round(np.clip(plan_ai - coop_first.sum(axis=2), 0, None)), 0).astype(np.int64)
    need += _multinomial_rows(rng, n_rest.ravel(), tier_share.reshape(-1, 3)).reshape(R, T, 3)
    by_type = _multinomial_rows(rng, need.ravel(), np.tile(tp, (R * T, 1))).reshape(R, T, 3, 3)
    elig_single += by_type
    for ti_ in range(3):
        for ty in range(3):
            add("org", RR, TT, True, ti_, ty, elig_single[:, :, ti_, ty])
    inel_by_type = np.zeros((R, T, 3), dtype=np.int64)
    for kind, per_tier in inel_counts.items():
        bt = _multinomial_rows(rng, per_tier.ravel(), np.tile(tp, (R * T, 1))).reshape(R, T, 3, 3)
        inel_by_type += bt.sum(axis=2)
        for ti_ in range(3):
            for ty in range(3):
                add(kind, RR, TT, True, ti_, ty, bt[:, :, ti_, ty])

    # realized located AI by tier (all kinds), eligible AI totals
    located_ai = elig_single.sum(axis=3) + inel_sum + coop_first           # R, T, tier
    elig_ai = elig_single.sum(axis=(2, 3)) + coop_first.sum(axis=2)        # R, T

    # -- 6b. study 2: innovation from realized tiers; non-AI that realizes it ---------------
    s2 = _study2(spec, reg, years, located_ai, elig_single, inel_by_type, first_ok, yb, z, u,
                 elig_ai, diag)
    nonai_s2 = s2.attrs.pop("nonai_counts")                                # R, T, type, kind
    # -- 7. non-AI elsewhere + filler -----------------------------------------------------------
    rng = stream(spec.seed, "nonai")
    vp = p["volume"]
    non_types = np.array([p["types"]["nonai"][t] for t in TYPES], float)
    non_types /= non_types.sum()
    sig = np.zeros(R)
    lo_hi = {"cluster": vp["ai_share_cluster"], "small_lq": vp["ai_share_small"], "other": vp["ai_share_other"]}
    for gname, (lo, hi) in lo_hi.items():
        m = grp == gname
        sig[m] = rng.uniform(lo, hi, int(m.sum()))
    reg["ai_share_target"] = sig
    nonai_elig = np.zeros((R, T))
    A_tot = elig_ai.sum(axis=1)
    m_non = ~is_s2
    nonai_elig[m_non] = (A_tot[m_non] * (1 / sig[m_non] - 1))[:, None] * g_non[None, :] / T
    # ineligible non-AI located (individual applicants etc.)
    ind_rate = r_ind / (1 - r_ind)
    n_foreign_share = a["foreign_first"] + a["hmt_first"]
    counts_so_far = (elig_ai.sum() + inel_sum.sum() + nonai_s2.sum()
                     + nonai_elig[m_non].sum() * (1 + ind_rate))
    # foreign/hmt first applicants: fixed shares of the total
    n_foreign = int(round(a["foreign_first"] * spec.records))
    n_hmt = int(round(a["hmt_first"] * spec.records))
    expected_bad = rate_bad / (1 - rate_bad)
    total_expected = (counts_so_far + n_foreign + n_hmt) * (1 + expected_bad)
    deficit = spec.records - total_expected
    filler_regions = np.flatnonzero(m_non & (grp == "other"))
    if deficit < 0:
        # scale down non-AI of the filler regions (raises their LQ; bounded)
        cur = nonai_elig[filler_regions].sum() * (1 + ind_rate) * (1 + expected_bad)
        factor = max((cur + deficit) / cur, 0.0) if cur > 0 else 0.0
        if factor < 0.5:
            raise ValueError(f"simulate: the configured shares need about {int(total_expected)} "
                             f"applications but records={spec.records}; lower "
                             "simulate.volume.ai_fraction or the AI shares")
        nonai_elig[filler_regions] *= factor
        diag["filler"] = 0
    else:
        # a floor at the mean volume keeps tiny regions' shares (and LQs) away from noise
        w = (A_tot[filler_regions] + A_tot[filler_regions].mean()) * rng.uniform(1.0, 2.5, len(filler_regions))
        add_n = deficit / ((1 + ind_rate) * (1 + expected_bad))
        nonai_elig[filler_regions] += (add_n * w / w.sum())[:, None] * g_non[None, :] / T
        diag["filler"] = int(round(add_n))
    n_elig_non = rng.poisson(nonai_elig)
    n_ind_non = rng.poisson(nonai_elig * ind_rate)
    for kind, arr in (("org", n_elig_non), ("ind", n_ind_non)):
        bt = _multinomial_rows(rng, arr.ravel(), np.tile(non_types, (arr.size, 1))).reshape(R, T, 3)
        for ty in range(3):
            add(kind, RR, TT, False, -1, ty, bt[:, :, ty])
    for ki, kind in enumerate(("org", "ind")):
        for ty in range(3):
            add(kind, RR, TT, False, -1, ty, nonai_s2[:, :, ty, ki])
    # foreign / HMT first applicants (no region), AI share as national
    yw = g_non / g_non.sum()
    for kind, n in (("foreign", n_foreign), ("hmt", n_hmt)):
        n_t = rng.multinomial(n, yw)
        n_ai = rng.binomial(n_t, p["volume"]["ai_fraction"])
        ai_tier = np.stack([rng.multinomial(x, tier_base / tier_base.sum()) for x in n_ai])
        for ti_ in range(3):
            bt = np.stack([rng.multinomial(x, tp[ti_]) for x in ai_tier[:, ti_]])
            for ty in range(3):
                add(kind, -1, np.arange(T), True, ti_, ty, bt[:, ty])
        bt = np.stack([rng.multinomial(x, non_types) for x in n_t - n_ai])
        for ty in range(3):
            add(kind, -1, np.arange(T), False, -1, ty, bt[:, ty])

    cells_df = pd.concat(cells, ignore_index=True)
    # corrupted extras: for target-driven cells, keep drawing until n_ok survive
    rng = stream(spec.seed, "corrupt_cells")
    cells_df["n_bad"] = _neg_bad(rng, cells_df["n_ok"].to_numpy(), rate_bad)
    # exact total: adjust the largest non-AI filler cell (surviving records only)
    total = int(cells_df["n_ok"].sum() + cells_df["n_bad"].sum() + len(coop["year"]))
    diff = spec.records - total
    filler_mask = (~cells_df["is_ai"]) & (cells_df["kind"] == "org") & cells_df["region_id"].isin(filler_regions)
    if not filler_mask.any():
        filler_mask = (~cells_df["is_ai"]) & (cells_df["kind"] == "org")
    order = cells_df.index[filler_mask][np.argsort(-cells_df.loc[filler_mask, "n_ok"].to_numpy(), kind="stable")]
    adjust = np.zeros(len(order), dtype=np.int64)
    if len(order):
        share = cells_df.loc[order, "n_ok"].to_numpy(float)
        share = share / share.sum()
        adjust = np.floor(diff * share).astype(np.int64)
        adjust[0] += diff - adjust.sum()
        new = cells_df.loc[order, "n_ok"].to_numpy() + adjust
        if (new < 0).any():
            raise ValueError(f"simulate: cannot reach records={spec.records} exactly "
                             f"(generated {total}); lower simulate.volume.ai_fraction")
        cells_df.loc[order, "n_ok"] = new
    diag["exact_total_adjustment"] = int(diff)
    cells_df = cells_df[(cells_df["n_ok"] + cells_df["n_bad"]) > 0].reset_index(drop=True)
    cells_df["tier"] = cells_df["tier"].astype(np.int8)
    cells_df["ptype"] = cells_df["ptype"].astype(np.int8)

    # -- study 1 panel ----------------------------------------------------------------------
    s1 = pd.DataFrame({"region_id": np.repeat(cluster_ids, T), "year": np.tile(years, len(cluster_ids))})
    ci, ti_ = s1["region_id"].to_numpy(), s1["year"].to_numpy() - y0
    s1["adcode"] = reg.loc[ci, "adcode"].to_numpy()
    s1["name_en"] = reg.loc[ci, "name_en"].to_numpy()
    s1["ti"] = ti_real[ci, ti_]
    s1["ti_target"] = ti_target[ci, ti_]
    s1["ti_coop_fraction"] = frac[ci, ti_]
    s1["ti_single"] = singles_inv[ci, ti_]
    s1["ip"] = ip[ci, ti_]
    s1["nc"] = ncm[ci, ti_]
    s1["ed"], s1["ic"], s1["ie"] = ED[ci, ti_], IC[ci, ti_], IE[ci, ti_]
    s1["ln_ti"] = np.log(s1["ti"])
    s1["ln_ip"] = lip[ci, ti_]
    s1["ln_nc"] = lnc[ci, ti_]
    s1["ip_x_nc_c"] = (s1["ln_ip"] - m_ip) * (s1["ln_nc"] - m_nc)
    s1["ln_ed"], s1["ln_ic"], s1["ln_ie"] = np.log(s1["ed"]), np.log(s1["ic"]), np.log(s1["ie"])
    s1["eta"] = eta[ci]
    s1["eps"] = eps[ci, ti_]
    s1["in_sample"] = in_sample[ci, ti_]
    s1["in_sample_nc"] = samp_nc[ci, ti_]
    params = {
        "study1": {"coef": dict(co), "ip_log_plus_one": ip_plus1, "centre_ip": m_ip, "centre_nc": m_nc,
                   "eta": {reg.loc[i, "adcode"]: float(eta[i]) for i in cluster_ids},
                   "nc_convention": nc_convention(spec), "sigma_eps": s1p["sigma_eps"],
                   "sample_years": [int(w0 + 1), int(w1)]},
        "study2": s2.attrs.pop("params"),
        "corruption_rate": rate_bad,
    }
    yb = yb.merge(s2[["region_id", "year", "population_10k"]], on=["region_id", "year"], how="left",
                  suffixes=("", "_s2"))
    m = yb["population_10k_s2"].notna()
    yb.loc[m, "population_10k"] = yb.loc[m, "population_10k_s2"]
    yb = yb.drop(columns="population_10k_s2")
    yb["pop_density"] = yb["population_10k"] * 1e4 / yb["area_km2"]
    return World(spec=spec, regions=reg, years=years, coop=coop, cells=cells_df, nc=nc,
                 ip=ip_df, policies_plan=pol_plan, yearbook=yb, study1=s1, study2=s2,
                 history=history, national=national, params=params, diagnostics=diag)


def _multinomial_rows(rng, n: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Vectorised multinomial: one draw of n[i] items over probs[i] (conditional binomials)."""
    n = np.asarray(n, dtype=np.int64)
    probs = np.asarray(probs, float)
    out = np.zeros(probs.shape, dtype=np.int64)
    left = n.copy()
    rest = np.ones(len(n))
    for j in range(probs.shape[1] - 1):
        pj = np.clip(np.where(rest > 0, probs[:, j] / np.where(rest > 0, rest, 1), 0), 0, 1)
        out[:, j] = rng.binomial(left, pj)
        left -= out[:, j]
        rest -= probs[:, j]
    out[:, -1] = left
    return out


# ----------------------------------------------------------------------------- policies
def _policies(spec: DGPSpec, reg: pd.DataFrame, years: np.ndarray):
    """Policy document counts: per province-year (level province) and per city-year (level
    city); municipalities issue city-level documents only (they are their own city).
    IP_it = city documents of i + provincial documents of i's province (non-municipalities)."""
    s1p = spec.p["study1"]
    rng = stream(spec.seed, "policies")
    T = len(years)

    def means(name):
        m = np.asarray(s1p[name], float)
        if len(m) != T:
            # align to the years by the last len(m) entries / padding with the last value
            m = np.interp(np.linspace(0, 1, T), np.linspace(0, 1, len(m)), m)
        return m
    prov = reg.loc[reg["is_municipality"] == 0, "province_adcode"].unique()
    prov_n = rng.poisson(np.tile(means("policy_province_mean"), (len(prov), 1)))
    big = reg["group"].isin(["cluster"]).to_numpy() | (reg["is_provincial_capital"].to_numpy() == 1)
    mu_c = np.where(big[:, None], means("policy_city_mean_big")[None, :],
                    means("policy_city_mean_small")[None, :])
    scale = np.where(reg["is_municipality"].to_numpy()[:, None] == 1, 1.6, 1.0)
    city_n = rng.poisson(mu_c * scale * rng.lognormal(0, 0.3, (len(reg), 1)))
    prov_idx = {p: i for i, p in enumerate(prov)}
    pi = np.array([prov_idx.get(p, -1) for p in reg["province_adcode"]])
    prov_part = np.where((pi >= 0)[:, None], prov_n[np.maximum(pi, 0)], 0)
    ip = city_n + prov_part
    R = len(reg)
    df = pd.DataFrame({"region_id": np.repeat(np.arange(R), T), "year": np.tile(years, R),
                       "ip_city": city_n.ravel(), "ip_province": prov_part.ravel(), "ip": ip.ravel()})
    plan = {"province_adcodes": list(prov), "province_counts": prov_n, "city_counts": city_n}
    return df, plan


# ----------------------------------------------------------------------------- yearbook
def _yearbook(spec: DGPSpec, reg: pd.DataFrame, years: np.ndarray, vol: np.ndarray) -> pd.DataFrame:
    """True city-year statistics for every region (gaps are applied when writing)."""
    rng = stream(spec.seed, "yearbook")
    R, T = len(reg), len(years)
    size = np.log(np.maximum(vol, 1e-3))
    sz = (size - size.mean()) / size.std()
    tt = (years - years[0])[None, :]

    def ar(sd_level, sd_shock, rho=0.7):
        e = rng.normal(0, sd_shock, (R, T))
        x = np.zeros((R, T))
        x[:, 0] = e[:, 0] / np.sqrt(1 - rho ** 2)
        for t in range(1, T):
            x[:, t] = rho * x[:, t - 1] + e[:, t]
        return rng.normal(0, sd_level, (R, 1)) + x
    lgdp = 10.75 + 0.28 * sz[:, None] + 0.065 * tt + ar(0.18, 0.03)
    road = np.exp(2.45 + 0.06 * sz[:, None] + 0.025 * tt + ar(0.30, 0.05))
    st = np.exp(11.2 + 1.0 * sz[:, None] + 0.11 * tt + ar(0.35, 0.08))
    area = np.exp(rng.normal(9.3, 0.6, R))
    pop = np.exp(5.9 + 0.35 * sz + rng.normal(0, 0.35, R))[:, None] * np.exp(0.006 * tt)
    fdi = np.clip(0.022 + 0.008 * sz[:, None] + ar(0.012, 0.004), 0.0005, 0.13)
    trade = np.clip(np.exp(-1.6 + 0.45 * sz[:, None] + ar(0.6, 0.1)), 0.005, 2.45)
    edu = np.clip(0.177 + ar(0.03, 0.01), 0.02, 0.35)
    theil = np.clip(0.2 - 0.04 * sz[:, None] - 0.004 * tt + ar(0.12, 0.02), 0.0, 1.05)
    rd = np.clip(0.022 + 0.008 * sz[:, None] + 0.0006 * tt + ar(0.01, 0.002), 0.001, 0.16)
    df = pd.DataFrame({
        "region_id": np.repeat(np.arange(R), T), "adcode": np.repeat(reg["adcode"].to_numpy(), T),
        "year": np.tile(years, R),
        "gdp_per_capita": np.round(np.exp(lgdp), 0).ravel(),
        "road_area_per_capita": np.round(road, 2).ravel(),
        "st_expenditure": np.round(st, 0).ravel(),
        "population_10k": np.round(pop, 2).ravel(),
        "area_km2": np.repeat(np.round(area, 0), T),
        "fdi_gdp": np.round(fdi, 5).ravel(), "trade_gdp": np.round(trade, 4).ravel(),
        "edu_exp_share": np.round(edu, 4).ravel(), "theil_index": np.round(theil, 4).ravel(),
        "rd_gdp": np.round(rd, 5).ravel(),
    })
    # Robustness controls of study 2 (industrial diversification, financial development):
    # true coefficient 0 (not in study2.gamma). Their own stream, so adding them left every
    # other yearbook value unchanged.
    rng2 = stream(spec.seed, "yearbook_robustness")

    def ar2(sd_level, sd_shock, rho=0.7):
        e = rng2.normal(0, sd_shock, (R, T))
        x = np.zeros((R, T))
        x[:, 0] = e[:, 0] / np.sqrt(1 - rho ** 2)
        for t in range(1, T):
            x[:, t] = rho * x[:, t - 1] + e[:, t]
        return rng2.normal(0, sd_level, (R, 1)) + x
    # Shannon entropy of employment over the 19 GB/T 4754 sections: at most ln 19 = 2.944
    diversification = np.clip(2.25 + 0.12 * sz[:, None] + 0.004 * tt + ar2(0.15, 0.02), 1.0, np.log(19.0))
    # loans of financial institutions / GDP
    findev = np.clip(np.exp(0.1 + 0.2 * sz[:, None] + 0.03 * tt + ar2(0.30, 0.05)), 0.2, 6.0)
    df["diversification"] = np.round(diversification, 4).ravel()
    df["findev"] = np.round(findev, 4).ravel()
    return df


# ----------------------------------------------------------------------------- study 2
def _study2(spec, reg, years, located_ai, elig_single, inel_by_type, first_ok, yb, z, u, elig_ai, diag):
    """Innovation (Table 5, Model 8) from the realized tier variables, and the non-AI counts
    of the 120 cities that realize it through the index (invention 0.5, utility 0.3,
    design 0.2 per 10,000 people; log; min-max)."""
    p = spec.p["study2"]
    vp = spec.p["volume"]
    T = len(years)
    y0 = years[0]
    ids = np.flatnonzero(reg["study2"].to_numpy())
    n = len(ids)
    rng = stream(spec.seed, "study2")
    cnt = located_ai[ids]                                   # n, T, 3
    lx = np.log1p(cnt.astype(float))
    x = (lx - lx.min(axis=(0, 1))) / (lx.max(axis=(0, 1)) - lx.min(axis=(0, 1)))
    FT, CT, GPT = x[..., 0], x[..., 1], x[..., 2]
    b = p["beta"]
    q = (b["FT"] * FT + b["CT"] * CT + b["GPT"] * GPT + b["FT_CT"] * FT * CT + b["FT_GPT"] * FT * GPT
         + b["CT_GPT"] * CT * GPT + b["FT_CT_GPT"] * FT * CT * GPT)
    if np.ptp(q) >= 1.0:
        raise ValueError("simulate.study2.beta: the tier terms alone span "
                         f"{np.ptp(q):.3f} >= 1 of the min-max normalised innovation index; "
                         "such coefficients cannot hold on the pipeline's scale")
    ybi = yb.set_index(["region_id", "year"])
    idx = pd.MultiIndex.from_arrays([np.repeat(ids, T), np.tile(years, n)])
    get = lambda c: ybi.loc[idx, c].to_numpy(float).reshape(n, T)
    ctrl = {"ecodevelop": np.log(get("gdp_per_capita")), "fdi": get("fdi_gdp"), "open": get("trade_gdp"),
            "eduexp": get("edu_exp_share"), "indstru": get("theil_index"), "techlevel": get("rd_gdp")}
    g = p["gamma"]
    mu = rng.normal(0, p["sigma_mu"], (n, 1))
    lam = rng.normal(0, p["sigma_lambda"], (1, T))
    v = rng.normal(0, p["sigma_v"], (n, T))
    uu = u[ids]
    w = sum(g[k] * ctrl[k] for k in ctrl) + mu + lam + p["rho_u"] * uu + v
    w = w - w.mean()

    def rng_of(s):
        return np.ptp(q + s * w)
    lo, hi = 0.0, 1.0
    while rng_of(hi) < 1.0:
        hi *= 2.0
        if hi > 1e6:
            raise ValueError("simulate.study2: cannot scale the non-tier part to a unit range")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if rng_of(mid) < 1.0:
            lo = mid
        else:
            hi = mid
    s = 0.5 * (lo + hi)
    ystar = q + s * w
    ystar = ystar - ystar.min()
    # population: smooth city trend, level chosen to meet the AI-share (LQ) target
    grp = reg.loc[ids, "group"].to_numpy()
    vpr = {"cluster": vp["ai_share_cluster"], "small_lq": vp["ai_share_small"], "other": vp["ai_share_other"]}
    sig = np.array([rng.uniform(*vpr[gname]) for gname in grp])
    wts = p["index_weights"]
    wv = np.array([wts["invention"], wts["utility"], wts["design"]])
    mix = np.array([p["nonai_type_mix"][t] for t in TYPES], float)
    mix /= mix.sum()
    wbar = float(mix @ wv)
    ind_rate = spec.p["applicants"]["individual_first"] / (1 - spec.p["applicants"]["individual_first"])
    # composite of the located AI applications (all kinds) by type, as realized
    ai_by_type = elig_single[ids].sum(axis=2) + first_ok[ids].sum(axis=2) + inel_by_type[ids]
    c_ai = ai_by_type.astype(float) @ wv                            # n, T
    growth = rng.uniform(-0.004, 0.012, (n, 1))
    trend = np.exp(growth * (years - y0)[None, :])
    L0 = p["log_range"] * ystar
    h = np.exp(L0) * trend / 1e4                                    # composite per unit pop level
    A = elig_ai[ids].sum(axis=1).astype(float)
    need_nonai_elig = A * (1 / sig - 1)
    # eligible non-AI count = (pop*h - c_ai)/wbar / (1+ind_rate); solve pop for the target
    pop_lq = (need_nonai_elig * wbar * (1 + ind_rate) + c_ai.sum(axis=1)) / h.sum(axis=1)
    pop_guard = (c_ai / (p["ai_headroom"] * h)).max(axis=1)
    pop_level = np.maximum(np.maximum(pop_lq, pop_guard), 1e-9)
    pop_level = np.maximum(pop_level, 0.05 * np.median(pop_level))
    diag["study2_headroom_binding"] = int((pop_guard > pop_lq).sum())
    # level a: median population of 500 (10k persons)
    a_shift = np.log(np.median(pop_level) / 500.0)
    pop_level = pop_level / np.exp(a_shift)
    L = L0 + a_shift                                                # log index target
    pop = pop_level[:, None] * trend                                # 10k persons
    target_comp = np.exp(L) * pop / 1e4                             # composite target (per city-year)
    # realize: composite of the non-AI applications = target - realized AI composite; the
    # integer counts meet it to within 0.1 (design steps of 0.2)
    R_, T_ = located_ai.shape[:2]
    nonai = np.zeros((R_, T_, 3, 2), dtype=np.int64)
    rem = np.clip(target_comp - c_ai, 0, None)
    n_tot = rem / wbar
    inv = np.round(n_tot * mix[0])
    util = np.round(n_tot * mix[1])
    des = np.round((rem - wv[0] * inv - wv[1] * util) / wv[2])
    des = np.clip(des, 0, None)
    tot = np.stack([inv, util, des], axis=-1).astype(np.int64)     # n, T, 3
    ind = rng.binomial(tot, ind_rate / (1 + ind_rate))
    nonai[ids, :, :, 0] = tot - ind
    nonai[ids, :, :, 1] = ind
    out = pd.DataFrame({"region_id": np.repeat(ids, T), "year": np.tile(years, n)})
    out["adcode"] = reg.loc[out["region_id"], "adcode"].to_numpy()
    for j, k in enumerate(TIERS):
        out[f"{k.lower()}_count"] = cnt[..., j].ravel()
        out[f"{k.lower()}"] = x[..., j].ravel()
        out[f"z_{k.lower()}"] = z[k][ids].ravel()
    out["u"] = uu.ravel()
    out["v"] = v.ravel()
    out["mu"] = np.repeat(mu.ravel(), T)
    out["lambda"] = np.tile(lam.ravel(), n)
    out["innovation_target"] = ystar.ravel()
    out["log_index_target"] = L.ravel()
    out["population_10k"] = pop.ravel()
    for c_, val in ctrl.items():
        out[c_] = val.ravel()
    for col in ("coastal", "capital", "transport_hub", "city_scale"):
        out[col] = reg.loc[out["region_id"], col].to_numpy()
    out.attrs["nonai_counts"] = nonai
    out.attrs["params"] = {
        "beta": dict(b), "gamma_effective": {**{k: float(s * g[k]) for k in g},
                                             # robustness controls (yearbook): not in the DGP
                                             "diversification": 0.0, "findev": 0.0},
        "gamma_config": dict(g), "scale_s": float(s), "rho_u_effective": float(s * p["rho_u"]),
        "log_range": p["log_range"], "log_level_shift": float(a_shift),
        "instruments": dict(p["instruments"]), "pi": dict(p["pi"]), "delta": dict(p["delta"]),
        "index_weights": dict(wts),
    }
    return out

