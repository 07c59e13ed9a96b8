"""Address -> (province, prefecture adcode) in the 2020 divisions.

Parsing is done by cpca 0.5.5 (PyPI, MIT; an Aho-Corasick matcher over its ~2018
division table: 100k addresses in ~0.9 s, against ~300 s for jionlp 1.5's
``parse_location``). Its answers are then checked against the 2020 gazetteer of
conf/geo, because cpca (a) guesses when a bare district name exists in several cities
(朝阳区 -> 长春 although Beijing's is far more common) and (b) predates the 2019/2020
changes (莱芜市 -> 济南市, 那曲地区 -> 那曲市). Rules, in order:

1. text: NFKC, traditional -> simplified (OpenCC), blanks and a leading postal code removed;
   historical unit names replaced by their 2020 names (襄樊 -> 襄阳);
2. placeholders (申请人要求不公布地址) -> ``placeholder``; 国省代码 HK/MO/TW -> ``hmt``,
   other letter codes -> ``foreign``; without a code, 香港/澳门/台湾 or a foreign country
   word at the start, or no Chinese at all -> ``hmt`` / ``foreign``;
3. cpca's district / city adcode -> the 2020 prefecture (municipalities -> 110000 ...;
   county-level cities administered by a province -> province only);
4. when the city is not written in the text (only a district), the district name must
   name one 2020 city within the province (from the text, else from 国省代码); otherwise
   the city is left empty (``ambiguous``) rather than guessed;
5. a province in 国省代码 that contradicts an inferred (not written) province wins.

``status`` is one of ``resolved`` (city known), ``province_admin`` (a county-level city
administered by its province, 仙桃: the province is the answer), ``province_only`` (city
unknown), ``ambiguous``,
``placeholder``, ``hmt``, ``foreign``, ``empty``, ``unresolved``.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import unicodedata
import warnings
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .gazetteer import MUNICIPALITY_PROVINCES, Gazetteer, load_gazetteer

log = logging.getLogger("patentpanel.geo")

_POSTAL = re.compile(r"^\s*(邮编|邮政编码)?[:：]?\s*\d{6}(?!\d)[\s,，]*")
_BLANKS = re.compile(r"\s+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_CITY_SUFFIX = ("市", "地区", "州", "盟")
_STREET_AFTER = set("路街道巷桥")

STATUSES = ("resolved", "province_admin", "province_only", "ambiguous", "placeholder", "hmt", "foreign",
            "empty", "unresolved")
OUT_COLUMNS = ("province_code", "city_code", "status")


@functools.lru_cache(maxsize=1)
def _cpca():
    """Import cpca quietly (it imports pkg_resources, deprecated in setuptools >= 81)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            import cpca
    return cpca


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """NFKC + traditional -> simplified Chinese (OpenCC ``t2s``)."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    return _t2s().convert(text)


class Geocoder:
    """Vectorised address -> region resolver; see the module doc for the rules.

    ``options`` is the ``ingest.geo`` section of the configuration.
    """

    def __init__(self, gazetteer: Gazetteer, options: Mapping):
        self.gaz = gazetteer
        self.placeholders = tuple(options.get("placeholders", ()))
        self.hmt_codes = {k.upper(): v for k, v in options.get("hmt_codes", {}).items()}
        self.hmt_words = dict(options.get("hmt_words", {}))
        self.foreign_words = tuple(options.get("foreign_words", ()))
        keep = options.get("historical_keep_before", "")
        # Only names cpca does not know are rewritten before parsing (襄樊 -> 襄阳); the
        # ones it knows (莱芜市, 那曲地区) keep their old code, mapped to 2020 afterwards.
        known = _cpca().transform(list(gazetteer.historical["old_name"]))["adcode"].tolist()
        olds = sorted((o for o, a in zip(gazetteer.historical["old_name"], known) if not a),
                      key=len, reverse=True)
        new_name = {r.old_name: gazetteer.city_names.get(r.adcode, r.old_name)
                    for r in gazetteer.historical.itertuples()}
        self._historical = re.compile(
            "(" + "|".join(map(re.escape, olds)) + ")" + (f"(?![{re.escape(keep)}])" if keep else "")
        ) if olds else None
        self._new_name = {o: (n if o.endswith(_CITY_SUFFIX) else n.rstrip("市"))
                          for o, n in new_name.items()}
        # Fallback for 2020 unit names cpca's older table lacks (那曲市): full names only.
        import ahocorasick
        self._names = ahocorasick.Automaton()
        for name, code in gazetteer.by_name.items():
            if len(name) >= 2:
                self._names.add_word(name, (name, code))
        self._names.make_automaton()
        self.mainland = gazetteer.mainland_provinces
        # Organisation names usually open with their city's short name (杭州XX科技有限公司).
        prov_shorts = {re.sub(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)$", "", p)
                       for p in gazetteer.regions["province"]}
        self._prefix = {sh: code for sh, code in zip(gazetteer.regions["short"],
                                                     gazetteer.regions["adcode"])
                        if len(sh) >= 2 and (sh not in prov_shorts or code.endswith("0000"))}
        self._prefix_lengths = sorted({len(k) for k in self._prefix}, reverse=True)
        self.name_exceptions = tuple(options.get("name_city_exceptions", ()))
        # OpenCC's t2s also rewrites characters that are correct in simplified place names
        # (乾安县 -> 干安县, 乾县 -> 干县): its outputs for the gazetteer's names are mapped back.
        places = set(gazetteer.districts["name"]) | set(gazetteer.regions["name"])
        wrong = {to_simplified(n): n for n in places if to_simplified(n) != n}
        self._t2s_restore = (re.compile("|".join(map(re.escape, sorted(wrong, key=len, reverse=True)))),
                             wrong) if wrong else None
        # 2020 county-level and prefecture names for the text scan behind cpca (_scan_units)
        self._units = ahocorasick.Automaton()
        units: dict[str, set[tuple[str, str]]] = {}
        for name, cands in gazetteer.district_cities.items():
            if len(name) >= 2:
                units.setdefault(name, set()).update(cands)
        for name, code in gazetteer.by_name.items():
            if len(name) >= 2 and code[:2] not in MUNICIPALITY_PROVINCES:
                units.setdefault(name, set()).add((code, code[:2]))
        for name, cands in units.items():
            self._units.add_word(name, (name, tuple(sorted(cands))))
        self._units.make_automaton()

    @classmethod
    def from_config(cls, cfg) -> "Geocoder":
        return cls(load_gazetteer(cfg.directory / "geo"), cfg.get("ingest.geo"))

    # ------------------------------------------------------------------ text
    def normalise(self, address: str | None) -> str:
        if address is None or (isinstance(address, float) and address != address):
            return ""
        raw = unicodedata.normalize("NFKC", str(address))
        text = to_simplified(raw)
        if self._t2s_restore is not None and len(text) == len(raw):
            # only where the input itself wrote the name (新干县 stays; 乾县 -> 干县 -> 乾县)
            pattern, names = self._t2s_restore
            text = pattern.sub(lambda m: names[m.group(0)] if raw[m.start():m.end()] == names[m.group(0)]
                               else m.group(0), text)
        text = _POSTAL.sub("", text)
        text = _BLANKS.sub("", text)
        if self._historical is not None:
            text = self._historical.sub(lambda m: self._new_name[m.group(1)], text)
        return text

    # ------------------------------------------------------------------ main entry
    def geocode(self, addresses: Sequence, province_codes: Sequence | None = None
                ) -> pd.DataFrame:
        """One row per input: ``province_code`` (2 digits, or 71/81/82 for TW/HK/MO, None
        for foreign), ``city_code`` (6-digit 2020 adcode or None), ``status``."""
        addresses = list(addresses)
        codes = list(province_codes) if province_codes is not None else [None] * len(addresses)
        out_p: list = [None] * len(addresses)
        out_c: list = [None] * len(addresses)
        out_s: list = ["unresolved"] * len(addresses)
        texts, hints, todo = [], [], []
        for i, (a, c) in enumerate(zip(addresses, codes)):
            text = self.normalise(a)
            code = "" if c is None or (isinstance(c, float) and c != c) else \
                unicodedata.normalize("NFKC", str(c)).strip().upper()
            if code in self.hmt_codes:
                out_p[i], out_s[i] = self.hmt_codes[code], "hmt"
                continue
            if re.fullmatch(r"[A-Z]{2}", code) and code != "CN":
                out_s[i] = "foreign"
                continue
            hint = code[:2] if re.fullmatch(r"\d{2}(\d{4})?", code) and code[:2] in self.mainland \
                else None
            if not text:
                out_p[i], out_s[i] = hint, ("province_only" if hint else "empty")
                continue
            if any(p in text for p in self.placeholders):
                out_p[i], out_s[i] = hint, "placeholder"
                continue
            if hint is None:
                hmt = next((v for k, v in self.hmt_words.items() if text.startswith(k)), None)
                if hmt:
                    out_p[i], out_s[i] = hmt, "hmt"
                    continue
                if text.startswith(self.foreign_words) or not _HAN.search(text):
                    out_s[i] = "foreign"
                    continue
            texts.append(text)
            hints.append(hint)
            todo.append(i)
        if todo:
            parsed = _cpca().transform(texts, pos_sensitive=True)
            for k, row in enumerate(parsed.itertuples(index=False)):
                i = todo[k]
                out_p[i], out_c[i], out_s[i] = self._resolve(texts[k], hints[k], row)
        return pd.DataFrame({"province_code": out_p, "city_code": out_c, "status": out_s})

    # ------------------------------------------------------------------ one parsed row
    def _resolve(self, text: str, hint: str | None, row) -> tuple:
        prov_name, city_name, dist_name, _rest, adcode, p_pos, c_pos, d_pos = row
        if not adcode or not isinstance(adcode, str):
            city = self._full_name_city(text, hint)
            if city:
                return city[:2], city, "resolved"
            return hint, None, ("province_only" if hint else "unresolved")
        a6 = adcode[:6]
        prov = a6[:2]
        if prov in ("71", "81", "82"):
            return prov, None, "hmt"
        prov_written = p_pos is not None and p_pos >= 0
        city_written = c_pos is not None and c_pos >= 0
        district_written = isinstance(dist_name, str) and d_pos is not None and d_pos >= 0
        if city_name == "县" and not prov_written and not district_written:
            # cpca's pseudo-city 县 of Chongqing's counties matched a bare 县 (乾县, 梅县区)
            return self._scan_units(text, hint)
        if hint and not prov_written and prov != hint:
            # a city cpca found inside a longer name (五大连池市 holds 大连) contradicts 国省代码:
            # a unit of the coded province written in the text wins
            scanned = self._scan_units(text, hint)
            if scanned[2] == "resolved":
                return scanned
        if city_written and isinstance(city_name, str):
            nxt = self._after_city(text, int(c_pos), city_name)
            city_end = int(c_pos) + len(self._city_form(text, int(c_pos), city_name))
            if nxt in _STREET_AFTER and not prov_written and not (district_written and int(d_pos) == city_end):
                # (邢台市桥西区: 桥 opens the district written right after the city)
                # 中山路 is a street, not 中山市
                city_written, a6, adcode = False, None, None
                if not (isinstance(dist_name, str) and d_pos is not None and d_pos >= 0):
                    return hint, None, ("province_only" if hint else "unresolved")
        if hint and not prov_written and prov != hint and not city_written:
            # inferred province contradicts 国省代码: re-resolve the district in the hint's province
            prov = hint
        if prov in MUNICIPALITY_PROVINCES:
            if hint and hint != prov and not prov_written and not city_written:
                return hint, None, "ambiguous"
            return prov, prov + "0000", "resolved"
        if not city_written and district_written:
            province = prov if (prov_written or hint) else None
            cands = {c for c, p in self.gaz.district_cities.get(dist_name, [])
                     if province is None or p == province}
            if len(cands) == 1:
                city = cands.pop()
                if city == "":
                    return (province or self._district_province(dist_name)), None, "province_admin"
                return city[:2], city, "resolved"
            if province is None:
                provs = {p for _, p in self.gaz.district_cities.get(dist_name, [])}
                province = provs.pop() if len(provs) == 1 else None
            if cands:
                return province, None, "ambiguous"
            # district unknown in 2020 (renamed): fall back to cpca's city if it agrees
        if a6 is None:
            return hint, None, ("province_only" if hint else "unresolved")
        if hint and prov != hint and not prov_written and not city_written:
            return hint, None, "province_only"
        if not a6.endswith("00"):
            city = self.gaz.district_city.get(a6)
            if city is None:
                city = self.gaz.city_for_code(a6[:4] + "00", city_name)
            elif city == "":
                return prov, None, "province_admin"
        elif not a6.endswith("0000"):
            city = self.gaz.city_for_code(a6, city_name)
        else:
            # cpca found the province only; a 2020 unit its older table lacks (那曲市) may be written
            city = self._full_name_city(text, prov)
            if city is None:
                p, c, status = self._scan_units(text, prov)
                return (p or prov), c, ("province_only" if status == "unresolved" else status)
        if not city:
            return prov, None, "province_only"
        return city[:2], city, "resolved"

    def _full_name_city(self, text: str, hint: str | None) -> str | None:
        """A 2020 (or historical) prefecture written in full, consistent with the hint."""
        found = {code for _end, (_name, code) in self._names.iter(text)
                 if hint is None or code[:2] == hint}
        return found.pop() if len(found) == 1 else None

    def _scan_units(self, text: str, province: str | None) -> tuple:
        """Region from the 2020 county-level and prefecture names written in ``text`` (the
        longest matches; only units of ``province`` when given): resolved when they name one
        city, ``province_admin`` for a province-administered unit, otherwise the province
        if known."""
        hits = [(end - len(name) + 1, end, cands) for end, (name, cands) in self._units.iter(text)]
        longest = [h for h in hits
                   if not any(o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0]) for o in hits)]
        cands = {c for _s, _e, cs in longest for c in cs if province is None or c[1] == province}
        cities = {city for city, _p in cands}
        if len(cities) == 1:
            city = cities.pop()
            prov = next(iter(cands))[1]
            return (prov, None, "province_admin") if city == "" else (city[:2], city, "resolved")
        provs = {p for _c, p in cands}
        prov = province or (provs.pop() if len(provs) == 1 else None)
        if cities:
            return prov, None, "ambiguous"
        return prov, None, ("province_only" if prov else "unresolved")

    @staticmethod
    def _city_form(text: str, pos: int, city_name: str) -> str:
        """The form of the city name written at ``pos`` (full or short), or ''."""
        short = re.sub(r"(市|地区|盟|自治州)$", "", city_name)
        return next((f for f in (city_name, short) if text.startswith(f, pos)), "")

    def _district_province(self, name: str) -> str | None:
        provs = {p for _, p in self.gaz.district_cities.get(name, [])}
        return provs.pop() if len(provs) == 1 else None

    @staticmethod
    def _after_city(text: str, pos: int, city_name: str) -> str:
        """The character after the city name as written at ``pos`` (full or short form)."""
        short = re.sub(r"(市|地区|盟|自治州)$", "", city_name)
        for form in (city_name, short):
            if text.startswith(form, pos):
                end = pos + len(form)
                return text[end] if end < len(text) else ""
        return ""

    # ------------------------------------------------------------------ names
    def city_in_names(self, names: Sequence) -> pd.DataFrame:
        """Region named inside organisation names: a 2020 prefecture's short name opening
        the name (杭州XX科技有限公司 -> 330100; not when the short name is also a province's,
        吉林/海南), else a city written in full anywhere (XX深圳市...) or a municipality.
        Names in ``name_city_exceptions`` (中山大学 is in Guangzhou) are never placed by
        name; a bare province (浙江大学) comes back ``province_only``."""
        texts = [self.normalise(n) for n in names]
        parsed = _cpca().transform(texts, pos_sensitive=True)
        out_p, out_c, out_s = [], [], []
        for text, row in zip(texts, parsed.itertuples(index=False)):
            prov_name, city_name, dist_name, _rest, adcode, p_pos, c_pos, d_pos = row
            if any(text.startswith(x) for x in self.name_exceptions):
                out_p.append(None); out_c.append(None); out_s.append("unresolved")
                continue
            lead = next((self._prefix[text[:n]] for n in self._prefix_lengths
                         if text[:n] in self._prefix), None)
            if lead:
                out_p.append(lead[:2]); out_c.append(lead); out_s.append("resolved")
                continue
            if not adcode or not isinstance(adcode, str):
                out_p.append(None); out_c.append(None); out_s.append("unresolved")
                continue
            prov = adcode[:2]
            if prov in ("71", "81", "82"):
                out_p.append(prov); out_c.append(None); out_s.append("hmt")
                continue
            city = None
            if prov in MUNICIPALITY_PROVINCES and p_pos is not None and p_pos >= 0:
                city = prov + "0000"
            elif c_pos is not None and c_pos >= 0 and isinstance(city_name, str) and \
                    text.startswith(city_name, int(c_pos)):
                code = adcode[:4] + "00"
                city = self.gaz.city_for_code(code, city_name)
            if city:
                out_p.append(city[:2]); out_c.append(city); out_s.append("resolved")
            else:
                out_p.append(prov); out_c.append(None); out_s.append("province_only")
        return pd.DataFrame({"province_code": out_p, "city_code": out_c, "status": out_s})


def geocode_spark(df, geocoder: Geocoder, address_col: str = "address",
                  code_col: str = "province_code", prefix: str = "geo_", names: bool = False):
    """Add ``<prefix>province_code``, ``<prefix>city_code``, ``<prefix>status`` to a Spark
    DataFrame. Distinct (address, code) pairs are resolved by ``mapInPandas`` (cpca per
    Arrow batch) and joined back, so each address is parsed once. ``names=True`` reads
    the column as organisation names (:meth:`Geocoder.city_in_names`)."""
    from pyspark.sql import functions as F

    resolved = geocode_pairs(df.select(F.col(address_col).alias("_a"), F.col(code_col).alias("_c")),
                             geocoder, prefix=prefix, names=names)
    cond = F.col(address_col).eqNullSafe(F.col("_a")) & F.col(code_col).eqNullSafe(F.col("_c"))
    return df.join(resolved, cond, "left").drop("_a", "_c")


def geocode_pairs(pairs, geocoder: Geocoder, prefix: str = "geo_", names: bool = False):
    """Spark DataFrame of (``_a`` address, ``_c`` province code) -> its distinct pairs
    with ``<prefix>province_code``, ``<prefix>city_code``, ``<prefix>status``, resolved
    by ``mapInPandas``; for callers that join the answers back on their own keys."""
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField("_a", StringType()), StructField("_c", StringType()),
                         StructField(prefix + "province_code", StringType()),
                         StructField(prefix + "city_code", StringType()),
                         StructField(prefix + "status", StringType())])

    def run(batches: Iterable[pd.DataFrame]):
        for pdf in batches:
            res = geocoder.city_in_names(pdf["_a"].tolist()) if names else \
                geocoder.geocode(pdf["_a"].tolist(), pdf["_c"].tolist())
            res.columns = [prefix + c for c in OUT_COLUMNS]
            yield pd.concat([pdf[["_a", "_c"]].reset_index(drop=True), res], axis=1)

    return pairs.select("_a", "_c").distinct().mapInPandas(run, schema)
