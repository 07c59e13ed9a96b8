"""Hand-made raw exports in the four layouts of docs/raw-formats.md (test helper)."""
from __future__ import annotations

import csv
import io
import json

INCOPAT_HEADER = ["序号", "标题", "摘要", "申请号", "申请日", "公开（公告）号", "公开（公告）日", "专利类型",
                  "IPC主分类", "IPC", "申请人", "第一申请人", "申请人数量", "申请人地址", "申请人省市代码", "发明人"]
PATSNAP_HEADER = ["公开(公告)号", "申请号", "申请日", "专利类型", "标题", "摘要", "[标]原始申请(专利权)人",
                  "当前申请(专利权)人地址", "原始申请(专利权)人州/省", "IPC主分类号", "IPC分类号", "发明人"]


def record(i: int = 0, **over) -> dict:
    """One logical record; ``over`` replaces fields (None removes one)."""
    r = {"app_no": f"CN2020101{i:05d}.X", "app_date": "2020.03.05", "pub_no": f"CN1112{i:05d}A",
         "pub_date": "2020.07.10", "title": f"一种图像识别方法{i}", "abstract": "本发明公开了一种方法，包括步骤。",
         "applicants": ["清华大学", "北京百度网讯科技有限公司"], "inventors": ["张伟", "李娜"],
         "address": "100084 北京市海淀区清华园", "province_code": "11", "ipc_main": "G06K 9/62",
         "ipc": ["G06K 9/62", "G06N 3/08(2006.01)"], "patent_type": "发明"}
    r.update(over)
    return r


def trs(records, closing=True) -> str:
    out = []
    for r in records:
        out.append("<REC>")
        pairs = [("申请号", "app_no"), ("申请日", "app_date"), ("公开（公告）号", "pub_no"),
                 ("公开（公告）日", "pub_date"), ("名称", "title"), ("主分类号", "ipc_main"),
                 ("分类号", "ipc"), ("申请（专利权）人", "applicants"), ("发明（设计）人", "inventors"),
                 ("地址", "address"), ("国省代码", "province_code"), ("摘要", "abstract"),
                 ("专利类型", "patent_type")]
        for tag, f in pairs:
            v = r.get(f)
            if v is None:
                continue
            out.append(f"<{tag}>={';'.join(v) if isinstance(v, list) else v}")
        if closing:
            out.append("<申请国代码>=CN")
    return "\n".join(out) + "\n"


def incopat(records, header=INCOPAT_HEADER) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for k, r in enumerate(records):
        apps = r.get("applicants") or []
        row = {"序号": str(k + 1), "标题": r.get("title"), "摘要": r.get("abstract"),
               "申请号": r.get("app_no"), "申请日": r.get("app_date"), "公开（公告）号": r.get("pub_no"),
               "公开（公告）日": r.get("pub_date"), "专利类型": r.get("patent_type"),
               "IPC主分类": r.get("ipc_main"), "IPC": "; ".join(r.get("ipc") or []),
               "申请人": "; ".join(apps), "第一申请人": apps[0] if apps else "",
               "申请人数量": str(len(apps)), "申请人地址": r.get("address"),
               "申请人省市代码": r.get("province_code"), "发明人": "; ".join(r.get("inventors") or [])}
        w.writerow([row.get(h) or "" for h in header])
    return buf.getvalue()


def patsnap(records) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PATSNAP_HEADER)
    for r in records:
        w.writerow([r.get("pub_no") or "", r.get("app_no") or "", r.get("app_date") or "",
                    r.get("patent_type") or "", r.get("title") or "", r.get("abstract") or "",
                    " | ".join(r.get("applicants") or []), r.get("address") or "",
                    r.get("province_code") or "", r.get("ipc_main") or "",
                    " | ".join(r.get("ipc") or []), " | ".join(r.get("inventors") or [])])
    return buf.getvalue()


def jsonl(records) -> str:
    keys = {"app_no": "application_number", "app_date": "application_date",
            "pub_no": "publication_number", "pub_date": "publication_date"}
    lines = []
    for r in records:
        lines.append(json.dumps({keys.get(k, k): v for k, v in r.items() if v is not None},
                                ensure_ascii=False))
    return "\n".join(lines) + "\n"


WRITERS = {"trs": trs, "incopat": incopat, "patsnap": patsnap, "jsonl": jsonl}
ENCODINGS = {"trs": "gb18030", "incopat": "utf-8-sig", "patsnap": "utf-8", "jsonl": "utf-8"}
