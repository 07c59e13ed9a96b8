"""Applicant-region accuracy against a known truth (the simulator's ``truth/entities``):
the share of mainland organisation applicants of silver.applicants placed in their true
2020 prefecture, first applicants and co-applicants apart, and the misses by kind
(which placement rule answered, and whether it gave no city or a wrong one)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ORGANISATION_KINDS = ("enterprise", "university", "institute", "hospital", "government")
MISS_COLUMNS = ("applicant", "region_method", "miss", "n")


@dataclass(frozen=True)
class RegionAccuracy:
    """``first``/``co``: shares placed in the true prefecture (of ``n_first``/``n_co``
    mainland organisation applicants matched to the truth by name); ``misses``: one row
    per (applicant = first|co, region_method, miss = no_city|wrong_city) with its count;
    ``unmatched``: share of applicant rows whose name is not in the truth."""
    first: float
    co: float
    n_first: int
    n_co: int
    misses: pd.DataFrame
    unmatched: float

    def summary(self) -> str:
        kinds = "; ".join(f"{r.applicant} {r.region_method} {r.miss}: {r.n}"
                          for r in self.misses.itertuples(index=False)) or "none"
        return (f"region accuracy: first applicants {self.first:.4%} (n={self.n_first}), "
                f"co-applicants {self.co:.4%} (n={self.n_co}); misses: {kinds}")

    def as_dict(self) -> dict:
        return {"first": round(self.first, 6), "co": round(self.co, 6),
                "n_first": self.n_first, "n_co": self.n_co,
                "unmatched_names": round(self.unmatched, 6),
                "misses": self.misses.to_dict("records")}


def region_accuracy(applicants: pd.DataFrame, entities: pd.DataFrame) -> RegionAccuracy:
    """``applicants``: silver.applicants columns ``name``, ``position``, ``city_code``,
    ``region_method``; ``entities``: truth columns ``name``, ``kind``, ``country``,
    ``city_adcode``. Only mainland organisations (``country == 'CN'``, kind in
    :data:`ORGANISATION_KINDS`) are scored."""
    missing = [c for c in ("name", "position", "city_code", "region_method")
               if c not in applicants.columns]
    missing += [f"truth {c}" for c in ("name", "kind", "country", "city_adcode")
                if c not in entities.columns]
    if missing:
        raise ValueError(f"region_accuracy: missing column(s) {', '.join(missing)}")
    truth = entities.drop_duplicates("name")[["name", "kind", "country", "city_adcode"]]
    a = applicants.merge(truth, on="name", how="left")
    unmatched = float(a["kind"].isna().mean()) if len(a) else 0.0
    org = a[a["kind"].isin(ORGANISATION_KINDS) & (a["country"] == "CN")]
    hit = org["city_code"] == org["city_adcode"]
    is_first = org["position"] == 1
    n_first, n_co = int(is_first.sum()), int((~is_first).sum())
    miss = org[~hit].assign(applicant=lambda d: (d["position"] == 1).map({True: "first",
                                                                           False: "co"}),
                            miss=lambda d: d["city_code"].isna().map({True: "no_city",
                                                                      False: "wrong_city"}))
    misses = (miss.groupby(["applicant", "region_method", "miss"]).size().rename("n")
              .reset_index().sort_values(["applicant", "n"], ascending=[False, False])
              .reset_index(drop=True)) if len(miss) else pd.DataFrame(columns=MISS_COLUMNS)
    return RegionAccuracy(first=float(hit[is_first].mean()) if n_first else float("nan"),
                          co=float(hit[~is_first].mean()) if n_co else float("nan"),
                          n_first=n_first, n_co=n_co, misses=misses[list(MISS_COLUMNS)],
                          unmatched=unmatched)
