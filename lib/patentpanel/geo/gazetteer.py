"""The 2020 division gazetteer of conf/geo: prefecture-level-and-above regions,
county-level districts and historical names (see conf/geo/README.md)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MUNICIPALITY_PROVINCES = ("11", "12", "31", "50")
#: GB/T 2260 codes of Taiwan, Hong Kong and Macau (not mainland).
NON_MAINLAND_PROVINCES = ("71", "81", "82")


@dataclass(frozen=True)
class Gazetteer:
    regions: pd.DataFrame        # adcode, name, short, province_adcode, province, ...
    districts: pd.DataFrame      # adcode, name, city_adcode ('' = province-administered), province_adcode
    historical: pd.DataFrame     # old_name, adcode, year, note

    @property
    def mainland_provinces(self) -> set[str]:
        return set(self.regions["province_adcode"].str[:2])

    @functools.cached_property
    def city_names(self) -> dict[str, str]:
        """adcode -> 2020 name."""
        return dict(zip(self.regions["adcode"], self.regions["name"]))

    @functools.cached_property
    def by_name(self) -> dict[str, str]:
        """2020 full names, historical names -> adcode."""
        out = dict(zip(self.regions["name"], self.regions["adcode"]))
        out.update(zip(self.historical["old_name"], self.historical["adcode"]))
        return out

    @functools.cached_property
    def district_cities(self) -> dict[str, list[tuple[str, str]]]:
        """district name -> [(city adcode or '', province 2-digit code)] in the 2020 divisions."""
        out: dict[str, list[tuple[str, str]]] = {}
        for name, city, prov in zip(self.districts["name"], self.districts["city_adcode"],
                                    self.districts["province_adcode"]):
            out.setdefault(name, []).append((city, prov[:2]))
        return out

    @functools.cached_property
    def district_city(self) -> dict[str, str]:
        """district adcode -> city adcode ('' for province-administered county-level units)."""
        return dict(zip(self.districts["adcode"], self.districts["city_adcode"]))

    def city_for_code(self, adcode: str, name: str | None = None) -> str | None:
        """The 2020 unit of a (possibly pre-2020) city-level adcode, via its name when the
        code no longer exists (莱芜市 371200 -> 济南市 370100)."""
        if adcode in self.city_names:
            return adcode
        if adcode[:2] in MUNICIPALITY_PROVINCES:
            return adcode[:2] + "0000"
        if name and name in self.by_name:
            return self.by_name[name]
        return None


def load_gazetteer(geo_dir: str | Path) -> Gazetteer:
    """Read conf/geo/{regions_2020,districts_2020,historical_names}.csv (all as text)."""
    geo_dir = Path(geo_dir)
    try:
        regions = pd.read_csv(geo_dir / "regions_2020.csv", dtype=str, keep_default_na=False)
        districts = pd.read_csv(geo_dir / "districts_2020.csv", dtype=str, keep_default_na=False)
        historical = pd.read_csv(geo_dir / "historical_names.csv", dtype=str,
                                 keep_default_na=False)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"gazetteer file missing: {exc.filename}; expected "
                                f"regions_2020.csv, districts_2020.csv and historical_names.csv "
                                f"in {geo_dir}") from None
    for frame, cols, fname in ((regions, ("adcode", "name", "province_adcode"), "regions_2020"),
                               (districts, ("adcode", "name", "city_adcode", "province_adcode"),
                                "districts_2020"),
                               (historical, ("old_name", "adcode"), "historical_names")):
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise ValueError(f"{geo_dir}/{fname}.csv lacks column(s) {', '.join(absent)}")
    return Gazetteer(regions, districts, historical)
