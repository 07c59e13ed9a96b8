"""Build conf/geo/regions_2020.csv and conf/geo/historical_names.csv.

Source: the division table shipped by cpca 0.5.5 (MIT; ``cpca/resources/adcodes.csv``,
about the 2018 vintage) with the prefecture-level changes up to 2020 applied:
- 2018: 那曲地区 (542400) became 那曲市 (540600);
- 2019: 莱芜市 (371200) merged into 济南市 (370100).
Municipalities get one row each (province-level adcode). English names are pinyin
(apostrophe before a vowel-initial syllable, as in Xi'an) with the conventional forms
below. This script is run by hand when the gazetteer changes; the pipeline reads only the
CSV files. Needs: pip install "setuptools<81" cpca pypinyin.

Usage: python scripts/build_gazetteer.py [--out conf/geo]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd

MUNICIPALITIES = {"110000": "北京市", "120000": "天津市", "310000": "上海市", "500000": "重庆市"}
CAPITALS = {"石家庄市", "太原市", "呼和浩特市", "沈阳市", "长春市", "哈尔滨市", "南京市", "杭州市",
            "合肥市", "福州市", "南昌市", "济南市", "郑州市", "武汉市", "长沙市", "广州市", "南宁市",
            "海口市", "成都市", "贵阳市", "昆明市", "拉萨市", "西安市", "兰州市", "西宁市", "银川市",
            "乌鲁木齐市"}
# Prefecture-level units with a sea coast (plus the coastal municipalities).
COASTAL = {"丹东市", "大连市", "营口市", "盘锦市", "锦州市", "葫芦岛市", "秦皇岛市", "唐山市", "沧州市",
           "天津市", "滨州市", "东营市", "潍坊市", "烟台市", "威海市", "青岛市", "日照市", "连云港市",
           "盐城市", "南通市", "上海市", "嘉兴市", "杭州市", "宁波市", "绍兴市", "舟山市", "台州市",
           "温州市", "宁德市", "福州市", "莆田市", "泉州市", "厦门市", "漳州市", "潮州市", "汕头市",
           "揭阳市", "汕尾市", "惠州市", "深圳市", "东莞市", "广州市", "中山市", "珠海市", "江门市",
           "阳江市", "茂名市", "湛江市", "北海市", "钦州市", "防城港市", "海口市", "三亚市", "儋州市",
           "三沙市"}
ENGLISH = {"哈尔滨": "Harbin", "呼和浩特": "Hohhot", "乌鲁木齐": "Urumqi", "拉萨": "Lhasa",
           "陕西": "Shaanxi", "内蒙古": "Inner Mongolia", "西藏": "Tibet", "重庆": "Chongqing",
           "喀什": "Kashgar", "日喀则": "Shigatse", "长沙": "Changsha", "长春": "Changchun",
           "长治": "Changzhi", "蚌埠": "Bengbu", "六安": "Lu'an", "丽水": "Lishui", "丽江": "Lijiang",
           "厦门": "Xiamen", "广西": "Guangxi", "宁夏": "Ningxia", "新疆": "Xinjiang"}
# old name -> (2020 adcode, year of the change, note)
HISTORICAL = [
    ("襄樊", "420600", 2010, "renamed 襄阳"),
    ("莱芜", "370100", 2019, "merged into 济南"),
    ("巢湖", "340100", 2011, "prefecture abolished; 巢湖市 (county level) to 合肥"),
    ("思茅", "530800", 2007, "renamed 普洱"),
    ("那曲地区", "540600", 2018, "became 那曲市"),
    ("日喀则地区", "540200", 2014, "became 日喀则市"),
    ("昌都地区", "540300", 2014, "became 昌都市"),
    ("林芝地区", "540400", 2015, "became 林芝市"),
    ("山南地区", "540500", 2016, "became 山南市"),
    ("海东地区", "630200", 2013, "became 海东市"),
    ("铜仁地区", "520600", 2011, "became 铜仁市"),
    ("毕节地区", "520500", 2011, "became 毕节市"),
    ("吐鲁番地区", "650400", 2015, "became 吐鲁番市"),
    ("哈密地区", "650500", 2016, "became 哈密市"),
    ("达川", "511700", 1999, "renamed 达州"),
    ("思茅市", "530800", 2007, "renamed 普洱市"),
    ("襄樊市", "420600", 2010, "renamed 襄阳市"),
    ("莱芜市", "370100", 2019, "merged into 济南市"),
]


def short_name(name: str, ethnic: list[str]) -> str:
    if name.endswith("自治州"):
        cut = min((i for e in ethnic for i in [name.find(e, 2)] if i >= 2), default=len(name) - 3)
        return name[:cut]
    for suffix in ("地区", "盟", "市"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def english(short: str) -> str:
    from pypinyin import Style, lazy_pinyin
    if short in ENGLISH:
        return ENGLISH[short]
    syl = lazy_pinyin(short, style=Style.NORMAL)
    out = syl[0]
    for s in syl[1:]:
        out += ("'" if s[0] in "aeo" else "") + s
    return out.capitalize()


def main() -> None:
    import cpca
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "conf" / "geo"))
    out = Path(ap.parse_args().out)
    res = Path(cpca.__file__).parent / "resources"
    d = pd.read_csv(res / "adcodes.csv", dtype={"adcode": str})
    ethnic = [n for n in pd.read_csv(res / "56_nations.csv", header=None)[0].astype(str)]
    ethnic = sorted({e for n in ethnic for e in (n, n.removesuffix("族"))} - {""}, key=len, reverse=True)
    d["a6"] = d.adcode.str[:6]
    prov = d[d.a6.str.endswith("0000")]
    prov = prov.set_index(prov.a6.str[:2])
    cities = d[d.a6.str.endswith("00") & ~d.a6.str.endswith("0000")
               & ~d.name.str.contains("直辖") & ~d.a6.str[:2].isin(["11", "12", "31", "50", "71", "81", "82"])]
    rows = []
    for _, r in cities.iterrows():
        if r.a6 == "371200":       # 莱芜 merged into 济南 (2019)
            continue
        a6, name = r.a6, r["name"]
        if a6 == "542400":         # 那曲地区 -> 那曲市 (2018)
            a6, name = "540600", "那曲市"
        rows.append((a6, name, r.longitude, r.latitude))
    for a6, name in MUNICIPALITIES.items():
        p = prov.loc[a6[:2]]
        rows.append((a6, name, p.longitude, p.latitude))
    recs = []
    for a6, name, lon, lat in sorted(rows):
        p = prov.loc[a6[:2]]
        is_muni = a6 in MUNICIPALITIES
        kind = ("municipality" if is_muni else "autonomous_prefecture" if name.endswith("自治州")
                else "prefecture" if name.endswith("地区") else "league" if name.endswith("盟")
                else "prefecture_city")
        short = short_name(name, ethnic)
        pshort = p["name"].replace("省", "").replace("市", "")
        for suf in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区"):
            pshort = pshort.replace(suf, "")
        recs.append(dict(adcode=a6, name=name, short=short, name_en=english(short),
                         province_adcode=a6[:2] + "0000", province=p["name"], province_en=english(pshort),
                         kind=kind, is_municipality=int(is_muni),
                         is_provincial_capital=int(name in CAPITALS or is_muni),
                         is_coastal=int(name in COASTAL), lon=round(float(lon), 6), lat=round(float(lat), 6)))
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(recs)
    assert len(df) == 337, f"expected 337 prefecture-level-and-above units, got {len(df)}"
    assert df.adcode.is_unique and df.short.is_unique, "adcodes and short names must be unique"
    df.to_csv(out / "regions_2020.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    # County-level units (districts, counties, county-level cities) with their 2020 parent.
    known = set(df.adcode)
    dist = []
    for _, r in d[~d.a6.str.endswith("00")].iterrows():
        a6, name = r.a6, r["name"]
        if a6[:2] in ("71", "81", "82") or name in ("市辖区", "县", "省直辖县级行政区划"):
            continue
        if a6[:4] == "3712":       # 莱芜's districts moved to 济南 in 2019
            a6 = {"371202": "370116", "371203": "370117"}.get(a6, a6)
        if a6 == "542421":         # 那曲县 became 色尼区 of 那曲市 (2018)
            a6, name = "540602", "色尼区"
        parent = a6[:2] + "0000" if a6[:2] + "0000" in MUNICIPALITIES else a6[:4] + "00"
        if a6[:4] == "5424":
            parent = "540600"
        if parent not in known:   # county-level units administered by the province
            parent = ""
        dist.append(dict(adcode=a6, name=name, city_adcode=parent, province_adcode=a6[:2] + "0000"))
    pd.DataFrame(dist).sort_values("adcode").to_csv(out / "districts_2020.csv", index=False)
    pd.DataFrame(HISTORICAL, columns=["old_name", "adcode", "year", "note"]).to_csv(
        out / "historical_names.csv", index=False)
    print(f"wrote {len(df)} regions to {out / 'regions_2020.csv'}")


if __name__ == "__main__":
    main()
