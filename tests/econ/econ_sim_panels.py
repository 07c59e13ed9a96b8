"""Seeded simulated gold panels shaped like the contracts in docs/architecture.md
("Gold panels"), for the estimate-stage tests (the panels stage is built separately)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from patentpanel.econ.montecarlo import Eq3DGP


def cluster_year(cfg, seed: int = 7) -> pd.DataFrame:
    """gold.cluster_year: Eq. 3 panel (29 clusters x 2011-2020) with raw and logged columns."""
    dgp = Eq3DGP.from_config(cfg)
    rng = np.random.default_rng(seed)
    d = dgp.simulate(rng)
    n = len(d)
    codes = {c: f"{110000 + 100 * i:06d}" for i, c in enumerate(d["city_code"].unique())}
    d["city_code"] = d["city_code"].map(codes)
    d["city_name"] = "city" + d["city_code"]
    d["city_name_en"] = "City " + d["city_code"]
    d["ti_count"] = np.round(np.exp(d["ti"]), 1)
    d["ti"] = np.log(d["ti_count"])
    d["ip_count"] = d["ip_count"].astype("int64")
    for raw, log in (("nc_raw", "nc"), ("ed_raw", "ed"), ("ic_raw", "ic"), ("ie_raw", "ie")):
        d[raw] = np.exp(d[log])
    ok = d["ip"].notna() & d["nc"].notna()
    d["ip_x_nc"] = np.where(ok, (d["ip"] - d.loc[ok, "ip"].mean()) * (d["nc"] - d.loc[ok, "nc"].mean()), np.nan)
    d["year"] = d["year"].astype("int32")
    assert n == len(d)
    return d


def firm_year(seed: int = 11, n_firms: int = 60, years=(2011, 2020)) -> pd.DataFrame:
    """gold.firm_year: GS and TI of firms from the simulator's Table 5 coefficients."""
    rng = np.random.default_rng(seed)
    gsc = dict(lag=0.266, ip=0.150, ep=-1.559, cs=-1.124, oc=0.060, const=11.867, sigma=0.25)
    tic = dict(lag=0.551, ip=0.076, gs=0.069, ep=0.753, cs=0.009, oc=-0.053, const=0.110, sigma=0.20)
    T = years[1] - years[0] + 1
    ip = np.log1p(rng.poisson(np.linspace(1, 9, T)[None, :] * rng.lognormal(0, 0.3, (n_firms, 1))))
    ep = np.clip(0.10 + rng.normal(0, 0.03, (n_firms, 1)) + rng.normal(0, 0.01, (n_firms, T)), 0.01, None)
    cs = np.clip(0.45 + rng.normal(0, 0.1, (n_firms, 1)) + rng.normal(0, 0.03, (n_firms, T)), 0.05, None)
    oc = np.clip(0.30 + rng.normal(0, 0.08, (n_firms, 1)) + rng.normal(0, 0.03, (n_firms, T)), 0.01, None)
    eg, et = rng.normal(0, 0.3, n_firms), rng.normal(0, 0.3, n_firms)
    gs, ti = np.empty((n_firms, T)), np.empty((n_firms, T))
    xg = gsc["ip"] * ip + gsc["ep"] * ep + gsc["cs"] * cs + gsc["oc"] * oc + gsc["const"] + eg[:, None]
    gs[:, 0] = xg[:, 0] / (1 - gsc["lag"]) + rng.normal(0, gsc["sigma"], n_firms)
    for t in range(1, T):
        gs[:, t] = gsc["lag"] * gs[:, t - 1] + xg[:, t] + rng.normal(0, gsc["sigma"], n_firms)
    xt = tic["ip"] * ip + tic["gs"] * gs + tic["ep"] * ep + tic["cs"] * cs + tic["oc"] * oc + tic["const"] + et[:, None]
    ti[:, 0] = xt[:, 0] / (1 - tic["lag"]) + rng.normal(0, tic["sigma"], n_firms)
    for t in range(1, T):
        ti[:, t] = tic["lag"] * ti[:, t - 1] + xt[:, t] + rng.normal(0, tic["sigma"], n_firms)
    f = np.repeat(np.arange(n_firms), T)
    return pd.DataFrame({
        "firm_id": [f"F{i:04d}" for i in f], "firm_name": [f"firm {i}" for i in f],
        "city_code": [f"{110000 + 100 * (i % 29):06d}" for i in f],
        "year": np.tile(np.arange(years[0], years[1] + 1), n_firms).astype("int32"),
        "ti_count": np.expm1(ti.ravel()), "gs_raw": np.exp(gs.ravel()), "ep": ep.ravel(),
        "cs": cs.ravel(), "oc": oc.ravel(), "ip_count": np.expm1(ip.ravel()).round().astype("int64"),
        "ti": ti.ravel(), "gs": gs.ravel(), "ip": ip.ravel()})


def city120_year(seed: int = 5, n_cities: int = 40, years=(2010, 2021)) -> pd.DataFrame:
    """gold.city120_year with every column the study-2 models name (fewer cities)."""
    rng = np.random.default_rng(seed)
    T = years[1] - years[0] + 1
    N = n_cities
    c = np.repeat(np.arange(N), T)
    yr = np.tile(np.arange(years[0], years[1] + 1), N)
    tt = yr - years[0]
    mu = rng.normal(0, 0.1, N)[c]
    d = pd.DataFrame({"city_code": [f"{310000 + 100 * i:06d}" for i in c],
                      "city_name_en": [f"City{i}" for i in c], "year": yr.astype("int32")})
    hist = {k: rng.lognormal(0, 0.5, N)[c] for k in ("post_offices_1984", "telephones_1984", "post_output_1984")}
    u = rng.normal(0, 0.05, len(d))
    for k, h in zip(("ft", "ct", "gpt"), hist.values()):
        d[k] = np.clip(0.1 + 0.03 * tt + 0.05 * np.log(h) * tt / T + 0.3 * u + rng.normal(0, 0.03, len(d)) + mu, 0, 1)
    for k in ("popdensity", "ecodevelop", "fdi", "open", "eduexp", "indstru", "techlevel",
              "diversification", "findev"):
        d[k] = rng.normal(0, 1, N)[c] + 0.05 * tt + rng.normal(0, 0.3, len(d))
    d["innovation"] = (0.5 * d["ft"] + 0.27 * d["ct"] + 0.05 * d["gpt"] + 0.125 * d["ft"] * d["ct"] * d["gpt"]
                       + 0.02 * d["ecodevelop"] + 0.3 * 0.01 * d["techlevel"] + mu + 0.01 * tt
                       + 0.1 * u + rng.normal(0, 0.02, len(d)))
    for k in ("ft", "ct", "gpt"):
        d[f"{k}_count"] = np.round(np.expm1(5 * d[k]) * 10).astype("int64")
        d[f"{k}_granted"] = d[k] * rng.uniform(0.5, 0.7, len(d))
        d[f"{k}_share"] = d[k] / (d["ft"] + d["ct"] + d["gpt"] + 1e-9)
    for k in ("invention_count", "utility_count", "design_count"):
        d[k] = rng.poisson(200, len(d))
    d["population"] = np.exp(rng.normal(6, 0.4, N))[c]
    for dep in ("invention_pc", "invention_share", "hq_patent_index"):
        d[dep] = d["innovation"] * rng.uniform(0.8, 1.2) + rng.normal(0, 0.02, len(d))
    for k in ("coastal", "capital", "transport", "cityscale", "is_municipality"):
        d[k] = (rng.uniform(size=N) < 0.3).astype("int32")[c]
    for k, h in hist.items():
        d[k] = h
    return d
