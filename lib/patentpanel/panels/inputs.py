"""Auxiliary inputs of the panels stage (docs/raw-formats.md, "Other simulator outputs"):
local AI policy documents, the yearbook city-year table, 1984 infrastructure, the national
series and the listed firms; plus the gazetteer and the study-2 city list. All are small
(city-year sized or less) and read with pandas on the driver; every reader checks its
columns and names the file and rows it rejects."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..config import resolve_path
from .transforms import PanelInputError

log = logging.getLogger("patentpanel.panels")

__all__ = ["AuxPaths", "read_csv_checked", "read_regions", "read_study2_cities", "read_yearbook",
           "read_policies", "resolve_policies", "policy_counts", "read_history", "read_firms"]

_DEFAULTS = {"policies": "policies/policies.csv", "yearbook": "yearbook/city_year.csv",
             "history": "history/infrastructure_1984.csv",
             "national_series": "history/national_series.csv", "firms": "firms/firm_year.csv"}


@dataclass(frozen=True)
class AuxPaths:
    policies: Path
    yearbook: Path
    history: Path
    national_series: Path
    firms: Path
    regions: Path
    study2_cities: Path

    @classmethod
    def from_config(cls, cfg, base: str | None = None) -> "AuxPaths":
        """``panels.inputs.*``; empty entries default to the simulator's layout under
        ``base`` (default ``inputs.simulated``)."""
        root = resolve_path(str(base or cfg.get("inputs.simulated")), cfg.directory)
        sec = cfg.section("panels.inputs")
        out = {}
        for k in cls.__dataclass_fields__:
            raw = sec.get(k) or ""
            out[k] = resolve_path(str(raw), cfg.directory) if raw else root / _DEFAULTS[k]
        return cls(**out)


def read_csv_checked(path: Path, required: Sequence[str], what: str,
                     dtype: dict | None = None) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise PanelInputError(f"{what}: file not found: {path}")
    df = pd.read_csv(path, dtype=dtype or {}, keep_default_na=True, encoding="utf-8")
    miss = [c for c in required if c not in df.columns]
    if miss:
        raise PanelInputError(f"{what} ({path}): missing column(s) {miss}; has {list(df.columns)}")
    return df


def _code(s: pd.Series) -> pd.Series:
    """Adcodes as 6-character strings ('110000'); empty/NaN -> NA."""
    s = s.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    return s.where(s.str.fullmatch(r"\d{6}").fillna(False))


def read_regions(path: Path) -> pd.DataFrame:
    df = read_csv_checked(path, ["adcode", "name", "name_en", "province_adcode", "province",
                                 "is_municipality"], "gazetteer", dtype={"adcode": str, "province_adcode": str})
    df["adcode"], df["province_adcode"] = _code(df["adcode"]), _code(df["province_adcode"])
    return df


def read_study2_cities(path: Path, regions: pd.DataFrame) -> pd.DataFrame:
    df = read_csv_checked(path, ["adcode", "name_en", "coastal", "capital", "transport_hub", "city_scale"],
                          "study-2 city list", dtype={"adcode": str})
    df["adcode"] = _code(df["adcode"])
    bad = df.index[df["adcode"].isna() | ~df["adcode"].isin(regions["adcode"])]
    if len(bad):
        raise PanelInputError(f"study-2 city list ({path}): rows {list(bad + 2)} have adcodes not in the "
                              f"gazetteer: {df.loc[bad, 'adcode'].tolist()}")
    dup = df.index[df["adcode"].duplicated(keep=False)]
    if len(dup):
        raise PanelInputError(f"study-2 city list ({path}): duplicate adcodes {sorted(set(df.loc[dup, 'adcode']))}")
    for c in ("coastal", "capital", "transport_hub", "city_scale"):
        bad = df.index[~df[c].isin([0, 1])]
        if len(bad):
            raise PanelInputError(f"study-2 city list ({path}): column {c} must be 0/1; rows "
                                  f"{list(bad + 2)} hold {df.loc[bad, c].tolist()}")
    return df


def read_yearbook(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """``adcode, year`` + ``columns`` (numbers; empty cells are missing). Duplicate
    (adcode, year) rows are an error naming them."""
    df = read_csv_checked(path, ["adcode", "year", *columns], "yearbook", dtype={"adcode": str})
    df["adcode"] = _code(df["adcode"])
    bad = df.index[df["adcode"].isna()]
    if len(bad):
        raise PanelInputError(f"yearbook ({path}): rows {list(bad[:5] + 2)} have no 6-digit adcode")
    _to_float(df, columns, f"yearbook ({path})", "adcode")
    dup = df.duplicated(["adcode", "year"], keep=False)
    if dup.any():
        raise PanelInputError(f"yearbook ({path}): duplicate (adcode, year): "
                              f"{df.loc[dup, ['adcode', 'year']].drop_duplicates().head(5).values.tolist()}")
    df["year"] = df["year"].astype(int)
    return df


# --------------------------------------------------------------------------- policies
def read_policies(path: Path) -> pd.DataFrame:
    df = read_csv_checked(path, ["doc_id", "issuing_organ", "issue_date"], "policies",
                          dtype={"doc_id": str, "issuing_organ": str, "level": str,
                                 "province_adcode": str, "city_adcode": str})
    for c in ("level", "province_adcode", "city_adcode"):
        if c not in df.columns:
            df[c] = pd.NA
    return df


def resolve_policies(pol: pd.DataFrame, regions: pd.DataFrame, match: str = "organ"
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each document -> ``target_kind`` (city | province) and ``target_code``, ``year``.

    ``organ``: the longest prefecture-level name (南京市, 延边朝鲜族自治州) or province name
    (江苏省, 广西壮族自治区) the issuing organ starts with; a municipality's organ (北京市...)
    is the city itself. Documents whose organ matches nothing fall back to the file's codes
    (city_adcode, else province_adcode). ``codes``: the codes only. Returns (resolved,
    rejected with a ``reason``); conflicts between organ and codes are logged."""
    if match not in ("organ", "codes"):
        raise PanelInputError(f"panels.cluster_year.policy_match: {match!r} not in ['organ', 'codes']")
    d = pd.DataFrame({"doc_id": pol["doc_id"].astype(str), "organ": pol["issuing_organ"].fillna("").astype(str)})
    date = pd.to_datetime(pol["issue_date"], errors="coerce")
    d["year"] = date.dt.year.astype("Int64")
    muni = set(regions.loc[regions["is_municipality"].astype(int) == 1, "adcode"])
    city_names = dict(zip(regions["name"], regions["adcode"]))
    prov_names = {n: c for n, c in zip(regions["province"], regions["province_adcode"]) if c not in muni}
    by_organ_kind = pd.Series(pd.NA, index=d.index, dtype="string")
    by_organ_code = pd.Series(pd.NA, index=d.index, dtype="string")
    if match == "organ":
        table = {n: ("province", c) for n, c in prov_names.items()}
        table.update({n: ("city", c) for n, c in city_names.items()})   # 北京市: the city
        lengths = sorted({len(n) for n in table}, reverse=True)
        for i, organ in d["organ"].items():
            hit = next((table[organ[:k]] for k in lengths if organ[:k] in table), None)
            if hit is not None:
                by_organ_kind[i], by_organ_code[i] = hit
    city_code = _code(pol["city_adcode"]) if "city_adcode" in pol else pd.Series(pd.NA, index=d.index)
    prov_code = _code(pol["province_adcode"]) if "province_adcode" in pol else pd.Series(pd.NA, index=d.index)
    code_kind = pd.Series(np.where(city_code.notna(), "city", np.where(prov_code.notna(), "province", None)),
                          index=d.index, dtype="string")
    code_val = city_code.fillna(prov_code)
    # a municipality's province-level code is the city itself
    code_kind = code_kind.where(~(code_val.isin(muni).fillna(False)), "city")
    if match == "organ":
        both = by_organ_code.notna() & code_val.notna()
        conflict = both & ((by_organ_code != code_val) | (by_organ_kind != code_kind))
        if conflict.any():
            log.warning("policies: %d documents' issuing organ disagrees with their codes (organ wins), "
                        "e.g. %s", int(conflict.sum()),
                        ", ".join(f"{d.at[i, 'doc_id']} {d.at[i, 'organ']!r} vs {code_val[i]}"
                                  for i in d.index[conflict][:3]))
        d["target_kind"] = by_organ_kind.fillna(code_kind)
        d["target_code"] = by_organ_code.fillna(code_val)
        d["matched_by"] = np.where(by_organ_code.notna(), "organ", np.where(code_val.notna(), "codes", None))
    else:
        d["target_kind"], d["target_code"] = code_kind, code_val
        d["matched_by"] = np.where(code_val.notna(), "codes", None)
    valid_codes = set(regions["adcode"]) | set(prov_names.values())
    reason = pd.Series(pd.NA, index=d.index, dtype="string")
    reason = reason.mask(d["target_code"].notna() & ~d["target_code"].isin(valid_codes), "unknown_code")
    reason = reason.mask(d["target_code"].isna(), "unmatched_organ")
    reason = reason.mask(d["year"].isna(), "bad_issue_date")
    d["reason"] = reason
    rejected = d[d["reason"].notna()].reset_index(drop=True)
    if len(rejected):
        log.warning("policies: %d of %d documents not matched to a city or province (%s), e.g. %s",
                    len(rejected), len(d), rejected["reason"].value_counts().to_dict(),
                    ", ".join(f"{r.doc_id} {r.organ!r}" for r in rejected.head(3).itertuples()))
    ok = d[d["reason"].isna()].drop(columns="reason").reset_index(drop=True)
    ok["year"] = ok["year"].astype(int)
    return ok, rejected


def policy_counts(resolved: pd.DataFrame, regions: pd.DataFrame, years: Sequence[int]) -> pd.DataFrame:
    """IP per prefecture-level unit and year: its own documents (``ip_city``) plus, for a
    unit that is not a municipality, every document of its province (``ip_province``)."""
    years = list(years)
    grid = pd.MultiIndex.from_product([regions["adcode"], years], names=["city_code", "year"])
    city = (resolved[resolved["target_kind"] == "city"].groupby(["target_code", "year"]).size()
            .rename_axis(["city_code", "year"]).reindex(grid, fill_value=0))
    prov = resolved[resolved["target_kind"] == "province"].groupby(["target_code", "year"]).size()
    reg = regions.set_index("adcode")
    pc = pd.MultiIndex.from_arrays([reg.loc[grid.get_level_values(0), "province_adcode"].to_numpy(),
                                    grid.get_level_values(1)])
    pv = prov.reindex(pc, fill_value=0).to_numpy()
    is_muni = reg.loc[grid.get_level_values(0), "is_municipality"].astype(int).to_numpy() == 1
    out = pd.DataFrame({"city_code": grid.get_level_values(0), "year": grid.get_level_values(1),
                        "ip_city": city.to_numpy().astype(np.int64),
                        "ip_province": np.where(is_muni, 0, pv).astype(np.int64)})
    out["ip_count"] = out["ip_city"] + out["ip_province"]
    return out


# --------------------------------------------------------------------------- others
def read_history(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    df = read_csv_checked(path, ["adcode", *columns], "1984 infrastructure", dtype={"adcode": str})
    df["adcode"] = _code(df["adcode"])
    for c in columns:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    dup = df["adcode"].duplicated(keep=False) & df["adcode"].notna()
    if dup.any():
        raise PanelInputError(f"1984 infrastructure ({path}): duplicate adcodes "
                              f"{sorted(set(df.loc[dup, 'adcode']))[:5]}")
    return df


def _to_float(df: pd.DataFrame, columns: Sequence[str], source: str, key: str) -> None:
    """Convert ``columns`` to float in place; a non-numeric cell is an error naming the
    first offending (key, year) rows and their values."""
    for c in columns:
        num = pd.to_numeric(df[c], errors="coerce")
        bad = df.index[df[c].notna() & num.isna()]
        if len(bad):
            raise PanelInputError(f"{source}: column {c} is not numeric at "
                                  + ", ".join(f"({key}={df.at[i, key]}, year={df.at[i, 'year']}) "
                                              f"{df.at[i, c]!r}" for i in bad[:5]))
        df[c] = num.astype(float)


def read_firms(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    df = read_csv_checked(path, ["firm_id", "name", "adcode", "year", *columns], "firms",
                          dtype={"firm_id": str, "name": str, "adcode": str})
    df["adcode"] = _code(df["adcode"])
    _to_float(df, columns, f"firms ({path})", "firm_id")
    year = pd.to_numeric(df["year"], errors="coerce")
    bad = df.index[year.isna() | df["firm_id"].isna() | (year != year.round())]
    if len(bad):
        raise PanelInputError(f"firms ({path}): rows {list(bad[:5] + 2)} lack a firm_id or an integer year "
                              f"({df.loc[bad[:5], ['firm_id', 'year']].values.tolist()})")
    df["year"] = year.astype(int)
    dup = df.duplicated(["firm_id", "year"], keep=False)
    if dup.any():
        raise PanelInputError(f"firms ({path}): duplicate (firm_id, year): "
                              f"{df.loc[dup, ['firm_id', 'year']].drop_duplicates().head(5).values.tolist()}")
    return df
