"""Addresses of first applicants, as CNIPA prints them.

Only the first applicant's address is ever written (as in real CNIPA data). An
organisation keeps one base address (district, street, number; drawn once per entity
from (seed, entity_id)) and each record varies how it is written: with or without the
province, district only (海淀区..., which the geocoder must not over-resolve), a 6-digit
postal-code prefix, full-width digits and letters, the old name of a renamed or merged
unit (襄樊 before 2010 and, at a lower rate, for a few years after), a placeholder
(申请人要求不公布地址), and for foreign, Hong Kong, Macau and Taiwan applicants their own
forms (traditional characters for part of HK/MO/TW).
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .text import pick, randint

__all__ = ["Gazetteer", "AddressMaker", "to_fullwidth", "AddressError"]

_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in
              "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
_FULLWIDTH_TABLE = str.maketrans(_FULLWIDTH)


class AddressError(ValueError):
    """An entity cannot be given an address (e.g. a mainland entity with no city)."""


def to_fullwidth(text: str) -> str:
    """ASCII digits and letters to their full-width forms (０-９, Ａ-Ｚ, ａ-ｚ)."""
    return text.translate(_FULLWIDTH_TABLE)


@dataclass(frozen=True)
class _Region:
    adcode: str
    name: str
    province_adcode: str
    province: str
    is_municipality: bool


@dataclass(frozen=True)
class _Historical:
    old_name: str
    year: int
    partial: bool


class Gazetteer:
    """The parts of ``conf/geo`` the address writer needs."""

    def __init__(self, regions: dict[str, _Region], districts: dict[str, list[str]],
                 historical: dict[str, list[_Historical]]):
        self.regions = regions
        self.districts = districts
        self.historical = historical
        self._district_cities: dict[str, set[str]] = {}
        for city, names in districts.items():
            for name in names:
                self._district_cities.setdefault(name, set()).add(city)

    def district_names_one_city(self, district: str, city: str, code_written: bool) -> bool:
        """Whether a district-only address (海淀区...) names ``city`` unambiguously: the
        district belongs to no other 2020 city of the province when the province code is
        written, to no other city at all when it is not (鼓楼区 is in Nanjing and Xuzhou,
        both Jiangsu: no geocoder can tell them apart)."""
        cities = self._district_cities.get(district, set())
        if code_written:
            cities = {c for c in cities if c[:2] == city[:2]}
        return cities == {city}

    @classmethod
    def load(cls, geo_dir: str | Path | None = None) -> "Gazetteer":
        if geo_dir is None:
            from ..config import conf_dir
            geo_dir = conf_dir() / "geo"
        d = Path(geo_dir)
        regions: dict[str, _Region] = {}
        with open(d / "regions_2020.csv", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                regions[r["adcode"]] = _Region(r["adcode"], r["name"], r["province_adcode"],
                                               r["province"], r["is_municipality"] == "1")
        districts: dict[str, list[str]] = {}
        with open(d / "districts_2020.csv", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r["city_adcode"]:
                    districts.setdefault(r["city_adcode"], []).append(r["name"])
        hist: dict[str, dict[str, _Historical]] = {}
        with open(d / "historical_names.csv", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                name = r["old_name"]
                # Keep one written form per old unit: 襄樊市 rather than 襄樊.
                full = name if name.endswith(("市", "地区")) else name + "市"
                partial = any(w in r["note"] for w in ("merged", "abolished"))
                hist.setdefault(r["adcode"], {})[full] = _Historical(full, int(r["year"]), partial)
        historical = {k: sorted(v.values(), key=lambda h: h.year) for k, v in hist.items()}
        return cls(regions, districts, historical)


@dataclass
class _Base:
    district: str | None
    street: str
    number: int
    suffix: str
    postal: str
    in_partial: bool
    traditional: bool
    foreign: str


class AddressMaker:
    """``address(entity, app_year, rng) -> (address, province_code)``."""

    def __init__(self, gazetteer: Gazetteer, vocab: dict[str, Any], settings: dict[str, Any],
                 seed: int):
        self.g = gazetteer
        self.v = vocab
        self.s = settings
        self.seed = int(seed)
        self._bases: dict[int, _Base] = {}

    def _base(self, entity_id: int, kind: str, city: str, country: str) -> _Base:
        b = self._bases.get(entity_id)
        if b is not None:
            return b
        rng = random.Random((self.seed << 41) | (1 << 40) | int(entity_id))
        districts = self.g.districts.get(city) or []
        district = pick(rng, districts) if districts else None
        prov2 = city[:2] if city else ""
        prefixes = self.v["postal_prefix"].get(prov2, ["10"])
        postal = f"{pick(rng, prefixes)}{randint(rng, 0, 9999):04d}"
        suffixes = self.v["suffix"].get(kind, [""])
        if country in ("HK", "MO", "TW"):
            forms = self.v["hmt"][country]
            i = int(rng.random() * len(forms["simp"]))
            trad = rng.random() < self.s["traditional_hmt"]
            foreign = forms["trad"][i] if trad else forms["simp"][i]
        elif country and country != "CN":
            foreign = pick(rng, self.v["foreign"].get(country, self.v["foreign"]["default"]))
            trad = False
        else:
            foreign, trad = "", False
        b = _Base(district=district, street=pick(rng, self.v["streets"]),
                  number=randint(rng, 1, 1999), suffix=pick(rng, suffixes), postal=postal,
                  in_partial=rng.random() < self.s["historical_partial_share"],
                  traditional=trad, foreign=foreign)
        self._bases[entity_id] = b
        return b

    def city_name(self, city: str, app_year: int, base: _Base, rng: random.Random) -> str:
        """The city's name as written in a record filed in ``app_year``."""
        region = self.g.regions[city]
        for h in self.g.historical.get(city, ()):
            if h.partial and not base.in_partial:
                continue
            if app_year < h.year:
                if rng.random() < self.s["historical_before"]:
                    return h.old_name
            elif app_year < h.year + self.s["historical_after_years"]:
                if rng.random() < self.s["historical_after"]:
                    return h.old_name
        return region.name

    def address(self, entity_id: int, kind: str, city: str, country: str,
                province_code: str, app_year: int, rng: random.Random,
                withheld: bool | None = None, code_written: bool = True) -> tuple[str, str]:
        """``withheld``: the plan's decision to print a placeholder instead of the address
        (mainland applicants only); None draws it here at the configured rates (for use
        without a plan). ``code_written``: whether the record keeps the province code; a
        district-only form is written only where it still names one city (else the city
        form), so every written address places its applicant (the truth relies on it)."""
        s = self.s
        country = country or "CN"
        if country != "CN":
            base = self._base(entity_id, kind, "", country)
            return base.foreign, country
        if not city or city not in self.g.regions:
            raise AddressError(f"entity {entity_id}: mainland applicant needs a city_adcode "
                               f"from conf/geo/regions_2020.csv, got {city!r}")
        region = self.g.regions[city]
        pcode = province_code or region.province_adcode[:2]
        if withheld is None:
            rate = s["placeholder_individual"] if kind == "individual" else s["placeholder"]
            withheld = rng.random() < rate
        if withheld:
            return pick(rng, self.v["placeholders"]), pcode
        base = self._base(entity_id, kind, city, country)
        city_name = self.city_name(city, app_year, base, rng)
        tail = f"{base.street}{base.number}号{base.suffix}"
        district = base.district or ""
        u = rng.random()
        if base.district and u < s["district_only"] and \
                self.g.district_names_one_city(base.district, city, code_written):
            text = district + tail
        elif u < s["district_only"] + s["no_province"] or region.is_municipality:
            text = city_name + district + tail
        else:
            text = region.province + city_name + district + tail
        if rng.random() < s["postal_code"]:
            text = base.postal + (" " if rng.random() < 0.7 else "") + text
        if rng.random() < s["fullwidth"]:
            text = to_fullwidth(text)
        return text, pcode
