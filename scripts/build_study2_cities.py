"""Build conf/geo/study2_cities.csv: the 120 cities of study 2 with its four heterogeneity
dummies. Run from the repository root: ``.venv/bin/python scripts/build_study2_cities.py``.

Sources and assumptions (also in docs/simulator.md):
* Cities 1-90: study 2, Table 1 as extracted (the extraction lists only 90 of 120).
* Cities 91-120: ASSUMPTION - 30 central-region cities (Shanxi, Anhui, Jiangxi, Henan,
  Hubei, Hunan: capitals plus the largest prefecture cities), since the text names
  Wuhan, Changsha and Zhengzhou as sample cities and lists no central city.
* coastal: conf/geo/regions_2020.csv `is_coastal`.
* capital: provincial capital or municipality (`is_provincial_capital`).
* transport_hub: ASSUMPTION - our reading of the national railway hubs (全国性铁路综合枢纽)
  of the Medium- and Long-term Railway Network Plan (2016) intersected with the sample;
  the list is TRANSPORT_HUBS below.
* city_scale: 1 large/medium city, 0 small city (State Council 2014 size classes, urban
  population < 500k = small); ASSUMPTION - hand-assigned list SMALL_CITIES below.
"""
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

TABLE1 = [
    ("Sanya", "Hainan"), ("Daqing", "Heilongjiang"), ("Nanping", "Fujian"), ("Yanbian", "Jilin"),
    ("Zhoushan", "Zhejiang"), ("Yingkou", "Liaoning"), ("Qiqiha'er", "Heilongjiang"),
    ("Jinhua", "Zhejiang"), ("Zhangzhou", "Fujian"), ("Jining", "Shandong"), ("Dongying", "Shandong"),
    ("Tangshan", "Hebei"), ("Jiangmen", "Guangdong"), ("Tai'an", "Shandong"), ("Taizhou", "Zhejiang"),
    ("Huzhou", "Zhejiang"), ("Yancheng", "Jiangsu"), ("Taizhou", "Jiangsu"), ("Putian", "Fujian"),
    ("Langfang", "Hebei"), ("Zibo", "Shandong"), ("Zhanjiang", "Guangdong"),
    ("Lianyungang", "Jiangsu"), ("Yangzhou", "Jiangsu"), ("Yantai", "Shandong"),
    ("Huizhou", "Guangdong"), ("Anshan", "Liaoning"), ("Huai'an", "Jiangsu"), ("Weifang", "Shandong"),
    ("Lishui", "Zhejiang"), ("Qinhuangdao", "Hebei"), ("Weihai", "Shandong"), ("Quanzhou", "Fujian"),
    ("Shaoxing", "Zhejiang"), ("Dandong", "Liaoning"), ("Jiaxing", "Zhejiang"), ("Wenzhou", "Zhejiang"),
    ("Zhuhai", "Guangdong"), ("Baoding", "Hebei"), ("Shijiazhuang", "Hebei"), ("Dongguan", "Guangdong"),
    ("Xuzhou", "Jiangsu"), ("Handan", "Hebei"), ("Nantong", "Jiangsu"), ("Foshan", "Guangdong"),
    ("Changzhou", "Jiangsu"), ("Fuzhou", "Fujian"), ("Xiamen", "Fujian"), ("Zhenjiang", "Jiangsu"),
    ("Wuxi", "Jiangsu"), ("Jilin", "Jilin"), ("Changchun", "Jilin"), ("Dalian", "Liaoning"),
    ("Ningbo", "Zhejiang"), ("Zhongshan", "Guangdong"), ("Shenyang", "Liaoning"), ("Jinan", "Shandong"),
    ("Harbin", "Heilongjiang"), ("Suzhou", "Jiangsu"), ("Qingdao", "Shandong"), ("Tianjin", "Tianjin"),
    ("Guangzhou", "Guangdong"), ("Hangzhou", "Zhejiang"), ("Nanjing", "Jiangsu"),
    ("Shanghai", "Shanghai"), ("Shenzhen", "Guangdong"), ("Beijing", "Beijing"), ("Haikou", "Hainan"),
    ("Linyi", "Shandong"), ("Shantou", "Guangdong"), ("Zhaoqing", "Guangdong"), ("Ningde", "Fujian"),
    ("Jieyang", "Guangdong"), ("Longyan", "Fujian"), ("Cangzhou", "Hebei"), ("Fushun", "Liaoning"),
    ("Sanming", "Fujian"), ("Qingyuan", "Guangdong"), ("Panjin", "Liaoning"),
    ("Baotou", "Inner Mongolia"), ("Xianyang", "Shaanxi"), ("Nanchong", "Sichuan"),
    ("Hohhot", "Inner Mongolia"), ("Liuzhou", "Guangxi"), ("Nanning", "Guangxi"), ("Urumqi", "Xinjiang"),
    ("Xining", "Qinghai"), ("Lanzhou", "Gansu"), ("Mianyang", "Sichuan"), ("Guiyang", "Guizhou"),
]
TABLE1_REGION = ["Eastern"] * 79 + ["Western"] * 11

ADDED_CENTRAL = [
    ("Taiyuan", "Shanxi"), ("Datong", "Shanxi"), ("Changzhi", "Shanxi"), ("Jinzhong", "Shanxi"),
    ("Yuncheng", "Shanxi"), ("Hefei", "Anhui"), ("Wuhu", "Anhui"), ("Bengbu", "Anhui"),
    ("Ma'anshan", "Anhui"), ("Anqing", "Anhui"), ("Chuzhou", "Anhui"), ("Nanchang", "Jiangxi"),
    ("Ganzhou", "Jiangxi"), ("Jiujiang", "Jiangxi"), ("Shangrao", "Jiangxi"), ("Yichun", "Jiangxi"),
    ("Zhengzhou", "Henan"), ("Luoyang", "Henan"), ("Xinxiang", "Henan"), ("Nanyang", "Henan"),
    ("Xuchang", "Henan"), ("Wuhan", "Hubei"), ("Yichang", "Hubei"), ("Xiangyang", "Hubei"),
    ("Jingzhou", "Hubei"), ("Changsha", "Hunan"), ("Zhuzhou", "Hunan"), ("Xiangtan", "Hunan"),
    ("Hengyang", "Hunan"), ("Yueyang", "Hunan"),
]

TRANSPORT_HUBS = {
    "Beijing", "Tianjin", "Shanghai", "Guangzhou", "Shenzhen", "Wuhan", "Zhengzhou", "Shenyang",
    "Harbin", "Changchun", "Dalian", "Nanjing", "Hangzhou", "Hefei", "Fuzhou", "Xiamen", "Jinan",
    "Qingdao", "Changsha", "Nanchang", "Nanning", "Guiyang", "Lanzhou", "Urumqi", "Taiyuan",
    "Hohhot", "Shijiazhuang", "Xuzhou", "Xining", "Haikou",
}
SMALL_CITIES = {
    "Sanya", "Zhoushan", "Nanping", "Yanbian", "Lishui", "Ningde", "Sanming", "Longyan",
    "Panjin", "Dandong", "Putian", "Yingkou",
}


def build() -> pd.DataFrame:
    reg = pd.read_csv(ROOT / "conf/geo/regions_2020.csv", dtype=str)
    rows = []
    cities = [(c, p, r, "table1") for (c, p), r in zip(TABLE1, TABLE1_REGION)]
    cities += [(c, p, "Central", "added_central") for c, p in ADDED_CENTRAL]
    for no, (city, prov, region, source) in enumerate(cities, start=1):
        m = reg[(reg.name_en == city) & (reg.province_en == prov)]
        if len(m) != 1:
            raise SystemExit(f"{city} ({prov}): {len(m)} gazetteer matches")
        g = m.iloc[0]
        rows.append({
            "no": no, "adcode": g.adcode, "name": g["name"], "name_en": city, "province": g.province,
            "province_en": prov, "region": region, "source": source,
            "coastal": int(g.is_coastal), "capital": int(g.is_provincial_capital),
            "transport_hub": int(city in TRANSPORT_HUBS), "city_scale": int(city not in SMALL_CITIES),
        })
    out = pd.DataFrame(rows)
    if out.adcode.duplicated().any() or len(out) != 120:
        raise SystemExit("expected 120 distinct cities")
    return out


if __name__ == "__main__":
    build().to_csv(ROOT / "conf/geo/study2_cities.csv", index=False)
