"""Stand-in entity and plan frames for testing and benchmarking the renderer.

These follow the column contract between the DGP/plan half and the rendering half of
the simulator (docs/simulator.md) but carry no economics: kinds, cities, topics, types,
layouts and corruptions are drawn independently at fixed shares. The real run uses the
plan built from the latent panels (simulate/plan.py).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .render import LAYOUTS, SUPPORTED_CORRUPTIONS
from .text import Vocabulary

__all__ = ["sample_entities", "sample_plan"]

_KINDS = ("enterprise", "university", "institute", "hospital", "government", "individual",
          "foreign", "hmt")
_KIND_P = (0.62, 0.12, 0.05, 0.03, 0.02, 0.10, 0.04, 0.02)
_FOREIGN = (("US", "INTERNATIONAL BUSINESS MACHINES CORPORATION"), ("JP", "索尼株式会社"),
            ("DE", "SIEMENS AG"), ("KR", "三星电子株式会社"), ("US", "QUALCOMM INCORPORATED"),
            ("JP", "丰田自动车株式会社"), ("NL", "皇家飞利浦有限公司"), ("SE", "TELEFONAKTIEBOLAGET LM ERICSSON"))
_HMT = (("HK", "香港理工大学"), ("HK", "香港应用科技研究院有限公司"), ("TW", "鸿海精密工业股份有限公司"),
        ("TW", "台湾积体电路制造股份有限公司"), ("MO", "澳门大学"))
_ENTERPRISE_WORDS = ("智能科技", "信息技术", "电子", "机械制造", "新材料", "生物医药", "网络科技", "电气")


def sample_entities(n: int, seed: int, regions: pd.DataFrame) -> pd.DataFrame:
    """``n`` entities with the contract's columns; ``regions`` is regions_2020.csv."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    kinds = rng.choice(len(_KINDS), size=n, p=_KIND_P)
    city_i = rng.integers(0, len(regions), size=n)
    word_i = rng.integers(0, len(_ENTERPRISE_WORDS), size=n)
    sur = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    giv = "伟芳娜敏静强磊军洋勇艳杰涛明超华辉鹏宇浩"
    rows = []
    for i in range(n):
        kind = _KINDS[kinds[i]]
        r = regions.iloc[city_i[i]]
        city, prov = str(r["adcode"]), str(r["province_adcode"])[:2]
        country = "CN"
        if kind == "enterprise":
            name = f"{r['short']}{_ENTERPRISE_WORDS[word_i[i]]}有限公司" if i % 5 else \
                f"{_ENTERPRISE_WORDS[word_i[i]]}股份有限公司{i}"
        elif kind == "university":
            name = f"{r['short']}大学" if i % 3 else f"{r['short']}理工学院"
        elif kind == "institute":
            name = f"{r['short']}市{_ENTERPRISE_WORDS[word_i[i]]}研究院"
        elif kind == "hospital":
            name = f"{r['short']}市第一人民医院"
        elif kind == "government":
            name = f"{r['name']}公安局"
        elif kind == "individual":
            name = sur[i % len(sur)] + giv[(i * 7) % len(giv)] + (giv[(i * 3) % len(giv)] if i % 2 else "")
        elif kind == "foreign":
            country, name = _FOREIGN[i % len(_FOREIGN)]
            city, prov = "", ""
        else:
            country, name = _HMT[i % len(_HMT)]
            city, prov = "", ""
        rows.append((i + 1, kind, name, city, country, prov))
    return pd.DataFrame(rows, columns=["entity_id", "kind", "name", "city_adcode", "country",
                                       "province_code"])


def sample_plan(n: int, entities: pd.DataFrame, seed: int, vocab: Vocabulary,
                years: tuple[int, int] = (2010, 2021), corruption_rate: float = 0.01,
                second_publication: float = 0.3) -> pd.DataFrame:
    """``n`` applications with the contract's columns and planted corruptions."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    app_year = rng.integers(years[0], years[1] + 1, size=n)
    doy = rng.integers(0, 365, size=n)
    app_date = (pd.to_datetime(pd.Series(app_year).astype(str) + "-01-01")
                + pd.to_timedelta(doy, unit="D")).to_numpy("datetime64[D]")
    app_date = np.minimum(app_date, (pd.Series(app_year).astype(str) + "-12-31")
                          .to_numpy("datetime64[D]"))
    ptype = rng.choice(np.array(["invention", "utility", "design"]), size=n, p=[0.5, 0.35, 0.15])
    is_ai = (rng.random(n) < 0.4) & (ptype != "design")
    topics = vocab.topics
    ai_topics = {pt: [k for k, t in topics.items() if t["group"] == "ai" and pt in t["patent_types"]]
                 for pt in ("invention", "utility", "design")}
    non_topics = {pt: [k for k, t in topics.items() if t["group"] != "ai" and pt in t["patent_types"]]
                  for pt in ("invention", "utility", "design")}
    u = rng.random(n)
    topic = np.empty(n, dtype=object)
    for i in range(n):
        pool = (ai_topics if is_ai[i] else non_topics)[ptype[i]]
        topic[i] = pool[int(u[i] * len(pool))]
    tier = np.array([topics[t]["tier"] for t in topic], dtype=object)
    pct = rng.random(n) < 0.03
    type_digit = np.select([ptype == "invention", ptype == "utility"],
                           [np.where(pct, 8, 1), np.where(pct, 9, 2)], 3)
    # serials unique within (year, type digit): a permutation of 0..9999999 prefix
    serial = np.zeros(n, dtype=np.int64)
    for key in set(zip(app_year.tolist(), type_digit.tolist())):
        m = (app_year == key[0]) & (type_digit == key[1])
        serial[m] = rng.choice(10_000_000, size=int(m.sum()), replace=False)
    ent_ids = entities["entity_id"].to_numpy()
    n_app = np.minimum(1 + rng.geometric(0.75, size=n) - 1, 6)
    picks = rng.integers(0, len(ent_ids), size=(n, 6))
    applicant_ids = [list(dict.fromkeys(ent_ids[picks[i, :n_app[i]]].tolist())) for i in range(n)]
    layout = rng.choice(np.array(LAYOUTS), size=n, p=[0.3, 0.2, 0.1, 0.2, 0.2])
    n_pub = np.where((ptype == "invention") & (rng.random(n) < second_publication), 2, 1)
    corrupt = rng.random(n) < corruption_rate
    r_u = rng.random(n)
    corruption = np.full(n, None, dtype=object)
    for i in np.flatnonzero(corrupt):
        allowed = sorted(SUPPORTED_CORRUPTIONS[layout[i]])
        corruption[i] = allowed[int(r_u[i] * len(allowed))]
    return pd.DataFrame({
        "app_id": np.arange(n, dtype=np.int64), "app_year": app_year.astype(np.int64),
        "app_date": app_date, "patent_type": ptype, "type_digit": type_digit.astype(np.int64),
        "serial": serial, "is_ai": is_ai, "tier": tier, "topic": topic,
        "borderline": rng.random(n) < 0.08, "applicant_ids": applicant_ids, "layout": layout,
        "n_publications": n_pub.astype(np.int64), "corruption": corruption,
    })
