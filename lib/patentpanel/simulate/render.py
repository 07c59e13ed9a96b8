"""Render the patent plan into raw export files (docs/raw-formats.md).

One plan row is one application; it becomes ``n_publications`` records (A and B of an
invention) in the file family of its ``layout``:

=================  ==========================================  ==========================
layout             files under ``<out_dir>/raw/``              encoding
=================  ==========================================  ==========================
trs                ``trs/cnipa_0001.trs`` ...                  ``render.trs_encoding``
incopat_utf8bom    ``incopat/incopat_utf8_0001.csv`` ...       UTF-8 with BOM
incopat_gb18030    ``incopat/incopat_gbk_0001.csv`` ...        GB18030
patsnap            ``patsnap/patsnap_0001.csv`` ...            UTF-8 (BOM on odd parts)
jsonl              ``jsonl/records_0001.jsonl`` ...            UTF-8
=================  ==========================================  ==========================

Records appear in app_id order (A before B); a file rolls over to the next part after
``render.max_records_per_file`` records. Every planned corruption is applied to every
record of its application and reported by position ``(source_file, record_index)`` with
its reason code. Supported combinations: ``truncated_record`` in trs and jsonl,
``field_count_mismatch`` in the three CSV layouts, all other reasons everywhere.

Determinism: each application's randomness comes from ``random.Random`` seeded with
(seed, app_id) (and each organisation's base address from (seed, entity_id));
publication numbers are ranked over the whole plan; records are written in app_id
order by the parent process. Output is therefore byte-identical whatever the chunk
size or the number of worker processes. Memory is bounded by a few chunks in flight.
"""
from __future__ import annotations

import copy
import datetime as _dt
import json
import logging
import multiprocessing as mp
import random
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import yaml

from .addresses import AddressMaker, Gazetteer
from .numbers import (TYPE_DIGITS, assign_publication_serials, check_char, kind_code,
                      make_app_no, make_pub_no, parse_app_no, AppNoError, wrong_check_char)
from .text import TextMaker, Vocabulary, format_ipc, pick, pick_weighted, randint

__all__ = ["render", "load_render_settings", "LAYOUTS", "REASONS", "SUPPORTED_CORRUPTIONS",
           "RenderError", "TRS_TAGS", "INCOPAT_HEADER", "PATSNAP_HEADER", "JSONL_KEYS"]

log = logging.getLogger("patentpanel.simulate.render")

LAYOUTS = ("trs", "incopat_utf8bom", "incopat_gb18030", "patsnap", "jsonl")
REASONS = ("missing_app_no", "bad_app_no_format", "bad_check_digit", "missing_date",
           "bad_date", "truncated_record", "field_count_mismatch", "encoding_error",
           "missing_applicant")
_EVERYWHERE = {"missing_app_no", "bad_app_no_format", "bad_check_digit", "missing_date",
               "bad_date", "encoding_error", "missing_applicant"}
SUPPORTED_CORRUPTIONS = {
    "trs": _EVERYWHERE | {"truncated_record"},
    "jsonl": _EVERYWHERE | {"truncated_record"},
    "incopat_utf8bom": _EVERYWHERE | {"field_count_mismatch"},
    "incopat_gb18030": _EVERYWHERE | {"field_count_mismatch"},
    "patsnap": _EVERYWHERE | {"field_count_mismatch"},
}
PLAN_COLUMNS = ("app_id", "app_year", "app_date", "patent_type", "type_digit", "serial",
                "tier", "topic", "borderline", "applicant_ids", "layout", "n_publications",
                "corruption", "address_withheld", "province_code_blank", "ipc_codes")
ENTITY_COLUMNS = ("entity_id", "kind", "name", "city_adcode", "country", "province_code")

TRS_TAGS = ("申请号", "申请日", "公开（公告）号", "公开（公告）日", "名称", "主分类号", "分类号",
            "申请（专利权）人", "发明（设计）人", "地址", "国省代码", "摘要", "专利类型", "申请国代码")
INCOPAT_HEADER = ("序号", "标题", "摘要", "申请号", "申请日", "公开（公告）号", "公开（公告）日",
                  "专利类型", "IPC主分类", "IPC", "申请人", "第一申请人", "申请人数量", "申请人地址",
                  "申请人省市代码", "发明人")
PATSNAP_HEADER = ("公开(公告)号", "申请号", "申请日", "专利类型", "标题", "摘要",
                  "[标]原始申请(专利权)人", "当前申请(专利权)人地址", "原始申请(专利权)人州/省",
                  "IPC主分类号", "IPC分类号", "发明人")
JSONL_KEYS = ("application_number", "application_date", "publication_number",
              "publication_date", "title", "abstract", "applicants", "inventors", "address",
              "province_code", "ipc_main", "ipc", "patent_type")

_FILE_PATTERNS = {
    "trs": "trs/cnipa_{part:04d}.trs",
    "incopat_utf8bom": "incopat/incopat_utf8_{part:04d}.csv",
    "incopat_gb18030": "incopat/incopat_gbk_{part:04d}.csv",
    "patsnap": "patsnap/patsnap_{part:04d}.csv",
    "jsonl": "jsonl/records_{part:04d}.jsonl",
}
_FAMILY = {"trs": "trs", "incopat_utf8bom": "incopat", "incopat_gb18030": "incopat",
           "patsnap": "patsnap", "jsonl": "jsonl"}
_TIER_NONE = {None, "", "None", "nan"}


class RenderError(ValueError):
    """The plan or entities cannot be rendered (names the row and what was expected)."""


# --------------------------------------------------------------------------- settings
def _deep_merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _conf_dir(cfg) -> Path:
    d = getattr(cfg, "directory", None)
    if d is not None:
        return Path(d)
    from ..config import conf_dir
    return conf_dir()


def load_render_settings(cfg=None) -> dict:
    """``conf/simulate/render.yaml`` overlaid with ``simulate.render`` of ``cfg`` (a
    :class:`~patentpanel.config.Config` or a plain mapping), if present."""
    path = _conf_dir(cfg) / "simulate" / "render.yaml"
    with open(path, encoding="utf-8") as fh:
        settings = yaml.safe_load(fh)["render"]
    over = None
    if cfg is not None:
        try:
            over = cfg["simulate"]["render"]
        except (KeyError, TypeError):
            over = None
    if over:
        settings = _deep_merge(settings, over)
    for group in ("app_no_style", "date_format"):
        for fam, weights in settings[group].items():
            _check_weights(f"render.{group}.{fam}", weights)
    _check_weights("render.ipc_format", settings["ipc_format"])
    _check_weights("render.trs_separator", settings["trs_separator"])
    return settings


def _check_weights(key: str, weights: Mapping[str, float]) -> None:
    total = sum(weights.values())
    if not weights or abs(total - 1.0) > 1e-9 or min(weights.values()) < 0:
        raise RenderError(f"{key}: expected non-negative weights summing to 1, got {dict(weights)}")


def _cum(weights: Mapping[str, float]) -> tuple[list, list]:
    items, cum, c = [], [], 0.0
    for k, w in weights.items():
        c += w
        items.append(k)
        cum.append(c)
    cum[-1] = 1.0
    return items, cum


# --------------------------------------------------------------------------- validation
def _none(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v in _TIER_NONE


def _validate(plan: pd.DataFrame, entities: pd.DataFrame, vocab: Vocabulary) -> None:
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise RenderError(f"plan is missing columns {missing}; expected {list(PLAN_COLUMNS)}")
    missing = [c for c in ENTITY_COLUMNS if c not in entities.columns]
    if missing:
        raise RenderError(f"entities are missing columns {missing}; "
                          f"expected {list(ENTITY_COLUMNS)}")
    ids = plan["app_id"].to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise RenderError("plan.app_id has duplicates; expected one row per application")

    def fail(mask, what):
        bad = np.flatnonzero(np.asarray(mask))
        if len(bad):
            row = plan.iloc[bad[0]]
            raise RenderError(f"plan row app_id={row['app_id']}: {what} "
                              f"({len(bad)} rows affected)")

    fail(~plan["layout"].isin(LAYOUTS), f"layout not one of {LAYOUTS}")
    fail(~plan["patent_type"].isin(("invention", "utility", "design")),
         "patent_type not invention/utility/design")
    td = plan["type_digit"].astype("int64")
    fail(~td.isin(list(TYPE_DIGITS)), "type_digit not one of 1, 2, 3, 8, 9")
    fail(td.map(TYPE_DIGITS) != plan["patent_type"], "type_digit does not match patent_type")
    fail(~plan["n_publications"].isin((1, 2)), "n_publications must be 1 or 2")
    fail((plan["n_publications"] == 2) & (plan["patent_type"] != "invention"),
         "only invention applications are published twice (A and B)")
    fail((plan["serial"] < 0) | (plan["serial"] > 9_999_999), "serial must have 7 digits")
    years = pd.to_datetime(plan["app_date"]).dt.year
    fail(years != plan["app_year"], "app_year differs from the year of app_date")
    topics = vocab.topics
    fail(~plan["topic"].isin(list(topics)), "topic not in conf/simulate/vocab/topics.yaml")
    allowed = plan["topic"].map(lambda t: topics[t]["patent_types"])
    fail([pt not in a for pt, a in zip(plan["patent_type"], allowed)],
         "topic does not occur in this patent type (topics.yaml patent_types)")
    corr = plan["corruption"].map(lambda c: None if _none(c) else c)
    fail([c is not None and c not in REASONS for c in corr], f"corruption not one of {REASONS}")
    fail([c is not None and c not in SUPPORTED_CORRUPTIONS[lay]
          for c, lay in zip(corr, plan["layout"])],
         "corruption not possible in this layout (truncated_record: trs/jsonl; "
         "field_count_mismatch: CSV layouts)")
    fail(plan["applicant_ids"].map(lambda a: len(a) == 0), "applicant_ids is empty")
    known = set(entities["entity_id"].astype("int64").tolist())
    fail(plan["applicant_ids"].map(lambda a: any(int(i) not in known for i in a)),
         "applicant_ids refers to an entity_id not in entities")
    country = dict(zip(entities["entity_id"].astype("int64"), entities["country"]))
    fail([bool(w) and (country.get(int(a[0])) or "CN") != "CN"
          for w, a in zip(plan["address_withheld"], plan["applicant_ids"])],
         "address_withheld for a non-mainland first applicant (only mainland addresses are withheld)")
    fail(plan["ipc_codes"].map(lambda c: c is None or isinstance(c, str)
                               or any(not isinstance(x, str) for x in c)),
         "ipc_codes must be a list of code strings (empty for a blank field)")


# --------------------------------------------------------------------------- worker side
_W: dict[str, Any] = {}


def _init_worker(state: dict) -> None:
    _W.clear()
    _W.update(state)
    vocab = Vocabulary.load(state["vocab_dir"])
    _W["text"] = TextMaker(vocab, state["settings"])
    _W["addr"] = AddressMaker(Gazetteer.load(state["geo_dir"]), vocab.addresses,
                              state["settings"]["address"], state["seed"])
    s = state["settings"]
    _W["cum"] = {
        "app_no_style": {f: _cum(w) for f, w in s["app_no_style"].items()},
        "date_format": {f: _cum(w) for f, w in s["date_format"].items()},
        "ipc_format": _cum(s["ipc_format"]),
        "trs_separator": _cum(s["trs_separator"]),
    }
    ent = state["entities"]
    _W["ent"] = {int(e): i for i, e in enumerate(ent["entity_id"])}


def _fmt_date(d: tuple[int, int, int] | _dt.date, style: str) -> str:
    y, m, dd = (d.year, d.month, d.day) if isinstance(d, _dt.date) else d
    if style == "dot":
        return f"{y:04d}.{m:02d}.{dd:02d}"
    if style == "iso":
        return f"{y:04d}-{m:02d}-{dd:02d}"
    if style == "slash":
        return f"{y:04d}/{m}/{dd}"
    if style == "compact":
        return f"{y:04d}{m:02d}{dd:02d}"
    raise RenderError(f"date format {style!r}: expected dot, iso, slash or compact")


def _bad_date(d: _dt.date, rng: random.Random) -> tuple[int, int, int]:
    v = int(rng.random() * 5)
    if v == 0:
        return (d.year, 2, 30)
    if v == 1:
        return (d.year, 13, d.day)
    if v == 2:
        return (d.year, d.month, 32)
    if v == 3:
        return (1899, d.month, d.day)
    return (d.year, 0, d.day)


def _bad_app_no(digits: str, check: str, style: str, rng: random.Random) -> str:
    v = int(rng.random() * 3)
    if v == 0:
        body = digits[:-1]                       # one serial digit lost
    elif v == 1:
        body = digits + str(int(rng.random() * 10))   # one digit too many
    else:
        pos = 5 + int(rng.random() * 7)          # a letter inside the serial
        body = digits[:pos] + ("O" if digits[pos] == "0" else "I") + digits[pos + 1:]
    prefix = {"cn": "CN", "zl": "ZL", "plain": "", "nodot": "CN"}[style]
    out = f"{prefix}{body}{'' if style == 'nodot' else '.'}{check}"
    try:
        parse_app_no(out)
    except AppNoError:
        return out
    raise RenderError(f"internal: malformed number {out!r} still parses")  # pragma: no cover


def _csv_field(s: str) -> str:
    if "," in s or '"' in s or "\n" in s or "\r" in s:
        return '"' + s.replace('"', '""') + '"'
    return s


def _application(a: dict, rng: random.Random) -> dict:
    """All logical content of one application (shared by its publications)."""
    s = _W["settings"]
    tm: TextMaker = _W["text"]
    ent = _W["entities"]
    idx = [_W["ent"][int(i)] for i in a["applicant_ids"]]
    first = idx[0]
    country = ent["country"][first] or "CN"
    foreign = country != "CN"
    eng_rate = s["english"]["foreign" if foreign else "domestic"]
    english = rng.random() < eng_rate
    tier = None if _none(a["tier"]) else a["tier"]
    text = tm.text(a["topic"], a["patent_type"], tier, bool(a["borderline"]), english, rng)
    codes = list(a["ipc_codes"])          # decided by the plan (the truth counts them)
    lo, hi = s["inventors"][a["patent_type"]]
    inventors = tm.inventors(randint(rng, lo, hi), country, rng)
    # individual applicants are their own inventors
    indiv = [ent["name"][i] for i in idx if ent["kind"][i] == "individual"]
    if indiv:
        inventors = indiv + [x for x in inventors if x not in indiv][:max(0, hi - len(indiv))]
    address, pcode = _W["addr"].address(
        int(a["applicant_ids"][0]), ent["kind"][first], ent["city_adcode"][first] or "",
        country, ent["province_code"][first] or "", a["app_year"], rng,
        withheld=bool(a["address_withheld"]), code_written=not a["province_code_blank"])
    app_date = a["app_date"]
    pubs = []
    lags = s["publication_lag_days"]
    serial = a["pub_serial"]
    for k in range(1, a["n_publications"] + 1):
        key = ("invention_a" if k == 1 else "invention_b") if a["patent_type"] == "invention" \
            else a["patent_type"]
        lo, hi = lags[key]
        lag = randint(rng, lo, hi)
        if k == 2:
            lag = max(lag, (pubs[0][1] - app_date).days + 30)
        pdate = app_date + _dt.timedelta(days=lag)
        kind = kind_code(a["patent_type"], k, pdate)
        pubs.append((make_pub_no(serial, kind), pdate, key))
    digits = f"{a['app_year']:04d}{a['type_digit']}{a['serial']:07d}"
    blank = s["blank"]
    return {
        "digits": digits, "check": check_char(digits), "app_date": app_date,
        "title": text.title, "abstract": "" if rng.random() < blank["abstract"] else text.abstract,
        "applicants": [ent["name"][i] for i in idx],
        "inventors": [] if rng.random() < blank["inventors"] else inventors,
        "address": address, "province_code": "" if a["province_code_blank"] else pcode,
        "ipc": codes,
        "pubs": pubs, "blank_pub_date": rng.random() < blank["pub_date"],
        "patent_type": a["patent_type"],
    }


def _styled(app: dict, layout: str, corruption: str | None, rng: random.Random) -> dict:
    """Formatted logical fields for one layout (shared by the application's records)."""
    s = _W["settings"]
    cum = _W["cum"]
    fam = _FAMILY[layout]
    style = pick_weighted(rng, *cum["app_no_style"][fam])
    dstyle = pick_weighted(rng, *cum["date_format"][fam])
    istyle = pick_weighted(rng, *cum["ipc_format"])
    versions = _W["ipc_versions"]
    digits, check = app["digits"], app["check"]
    if corruption == "missing_app_no":
        app_no = None
    elif corruption == "bad_app_no_format":
        app_no = _bad_app_no(digits, check, style, rng)
    elif corruption == "bad_check_digit":
        app_no = make_app_no(int(digits[:4]), int(digits[4]), int(digits[5:]), style,
                             check=wrong_check_char(digits, rng.random()))
    else:
        app_no = make_app_no(int(digits[:4]), int(digits[4]), int(digits[5:]), style,
                             check=check)
    if corruption == "missing_date":
        app_date = None
    elif corruption == "bad_date":
        app_date = _fmt_date(_bad_date(app["app_date"], rng), dstyle)
    else:
        app_date = _fmt_date(app["app_date"], dstyle)
    applicants, address, pcode = app["applicants"], app["address"], app["province_code"]
    if corruption == "missing_applicant":
        applicants, address, pcode = [], "", ""
    codes = [format_ipc(c, istyle, versions) for c in app["ipc"]]
    labels = s["type_labels"][fam]
    pubs = [(no, "" if app["blank_pub_date"] else _fmt_date(d, dstyle), pick(rng, labels[key]))
            for no, d, key in app["pubs"]]
    return {"app_no": app_no, "app_date": app_date, "applicants": applicants,
            "address": address, "province_code": pcode, "ipc": codes, "pubs": pubs,
            "title": app["title"], "abstract": app["abstract"], "inventors": app["inventors"],
            "sep": pick_weighted(rng, *cum["trs_separator"]),
            "multiline": corruption is None and rng.random() < s["csv_multiline_abstract"],
            "json_missing": int(rng.random() * 3)}


def _trs(f: dict, k: int, nl: str) -> str:
    pub_no, pub_date, label = f["pubs"][k]
    sep = f["sep"]
    vals = (f["app_no"] or "", f["app_date"] or "", pub_no, pub_date, f["title"],
            f["ipc"][0] if f["ipc"] else "", sep.join(f["ipc"]), sep.join(f["applicants"]),
            sep.join(f["inventors"]), f["address"], f["province_code"], f["abstract"], label,
            "CN")
    return "<REC>" + nl + "".join(f"<{t}>={v}{nl}" for t, v in zip(TRS_TAGS, vals))


def _abstract_csv(f: dict) -> str:
    a = f["abstract"]
    if f["multiline"] and len(a) > 20:
        cut = len(a) // 2
        return a[:cut] + "\n" + a[cut:]
    return a


def _incopat_fields(f: dict, k: int) -> list[str]:
    pub_no, pub_date, label = f["pubs"][k]
    apps = f["applicants"]
    return [f["title"], _abstract_csv(f), f["app_no"] or "", f["app_date"] or "", pub_no,
            pub_date, label, f["ipc"][0] if f["ipc"] else "", "; ".join(f["ipc"]),
            "; ".join(apps), apps[0] if apps else "", str(len(apps)) if apps else "",
            f["address"], f["province_code"], "; ".join(f["inventors"])]


def _patsnap_fields(f: dict, k: int) -> list[str]:
    pub_no, pub_date, label = f["pubs"][k]
    return [pub_no, f["app_no"] or "", f["app_date"] or "", label, f["title"],
            _abstract_csv(f), " | ".join(f["applicants"]), f["address"], f["province_code"],
            f["ipc"][0] if f["ipc"] else "", " | ".join(f["ipc"]), " | ".join(f["inventors"])]


def _jsonl(f: dict, k: int, corruption: str | None) -> str:
    pub_no, pub_date, label = f["pubs"][k]
    obj = {"application_number": f["app_no"], "application_date": f["app_date"],
           "publication_number": pub_no, "publication_date": pub_date or None,
           "title": f["title"], "abstract": f["abstract"], "applicants": f["applicants"],
           "inventors": f["inventors"], "address": f["address"] or None,
           "province_code": f["province_code"] or None,
           "ipc_main": f["ipc"][0] if f["ipc"] else None, "ipc": f["ipc"],
           "patent_type": label}
    # a missing value is written as absent, null or "" (real dumps do all three)
    for key, reason in (("application_number", "missing_app_no"),
                        ("application_date", "missing_date"),
                        ("applicants", "missing_applicant")):
        if corruption == reason:
            if f["json_missing"] == 0:
                del obj[key]
            elif f["json_missing"] == 1:
                obj[key] = None
            else:
                obj[key] = [] if key == "applicants" else ""
    return json.dumps(obj, ensure_ascii=False)


def _other_codec(codec: str) -> str:
    return "utf-8" if codec.replace("-", "").lower() == "gb18030" else "gb18030"


def _misencode(text: str, codec: str, anchor: str) -> bytes:
    """``text`` in the wrong encoding for a ``codec`` file; guaranteed undecodable."""
    wrong = _other_codec(codec)
    data = text.encode(wrong)
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return data
    # Pure-ASCII text (or a lucky byte sequence): add a 0xFF byte, invalid in both codecs.
    pos = text.find(anchor)
    pos = pos + 1 if pos >= 0 else 0
    cut = len(text[:pos].encode(wrong))
    return data[:cut] + b"\xff" + data[cut:]


def _record_bytes(layout: str, f: dict, k: int, corruption: str | None,
                  rng: random.Random) -> bytes:
    s = _W["settings"]
    codec = _W["codecs"][layout]
    if layout == "trs":
        nl = s["line_endings"]["trs"]
        text = _trs(f, k, nl)
        if corruption == "truncated_record":
            last = text.rindex(f"<{TRS_TAGS[-1]}>")
            lo = len("<REC>" + nl + f"<{TRS_TAGS[0]}>=")
            cut = lo + int(rng.random() * (last - lo))
            text = text[:cut]
            if not text.endswith(nl):
                text += nl
    elif layout == "jsonl":
        nl = s["line_endings"]["jsonl"]
        text = _jsonl(f, k, corruption)
        if corruption == "truncated_record":
            text = text[:1 + int(rng.random() * (len(text) - 2))].rstrip() or "{"
        text += nl
    else:
        nl = s["line_endings"]["csv"]
        fields = _incopat_fields(f, k) if layout.startswith("incopat") else _patsnap_fields(f, k)
        title_pos = 0 if layout.startswith("incopat") else 4
        if corruption == "field_count_mismatch":
            if rng.random() < 0.7:           # a stray unquoted delimiter in the title
                t = fields[title_pos]
                cut = 1 + int(rng.random() * max(1, len(t) - 1))
                raw = t[:cut] + "," + t[cut:]
                cells = [raw if i == title_pos else _csv_field(v) for i, v in enumerate(fields)]
            else:                            # trailing field(s) lost
                drop = 1 + int(rng.random() * 2)
                cells = [_csv_field(v) for v in fields[:-drop]]
        else:
            cells = [_csv_field(v) for v in fields]
        text = ",".join(cells) + nl
    if corruption == "encoding_error":
        return _misencode(text, codec, f["title"])
    return text.encode(codec)


def _render_block(block: dict) -> dict[str, list[tuple[bytes, int, str | None]]]:
    seed = _W["seed"]
    out: dict[str, list] = {lay: [] for lay in LAYOUTS}
    n = len(block["app_id"])
    for j in range(n):
        a = {c: block[c][j] for c in block}
        a["app_date"] = _dt.date.fromordinal(a["app_date"])
        app_id = int(a["app_id"])
        rng = random.Random((seed << 41) | app_id)
        corruption = None if _none(a["corruption"]) else a["corruption"]
        app = _application(a, rng)
        f = _styled(app, a["layout"], corruption, rng)
        for k in range(a["n_publications"]):
            out[a["layout"]].append((_record_bytes(a["layout"], f, k, corruption, rng),
                                     app_id, corruption))
    return out


# --------------------------------------------------------------------------- parent side
class _Family:
    """Writes one layout's records, rolling over to a new part every ``max_records``."""

    def __init__(self, raw_dir: Path, layout: str, settings: dict, codec: str):
        self.raw_dir, self.layout, self.codec = raw_dir, layout, codec
        self.max = int(settings["max_records_per_file"])
        self.csv_nl = settings["line_endings"]["csv"]
        self.part, self.index, self.fh, self.name = 0, 0, None, None
        self.files: list[str] = []

    def _open(self) -> None:
        if self.fh:
            self.fh.close()
        self.part += 1
        self.index = 0
        self.name = _FILE_PATTERNS[self.layout].format(part=self.part)
        path = self.raw_dir / self.name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "wb")
        self.files.append(self.name)
        if self.layout == "incopat_utf8bom" or (self.layout == "patsnap" and self.part % 2 == 1):
            self.fh.write(b"\xef\xbb\xbf")
        if self.layout.startswith("incopat"):
            self.fh.write((",".join(INCOPAT_HEADER) + self.csv_nl).encode(self.codec))
        elif self.layout == "patsnap":
            self.fh.write((",".join(PATSNAP_HEADER) + self.csv_nl).encode(self.codec))

    def write(self, data: bytes) -> tuple[str, int]:
        if self.fh is None or self.index >= self.max:
            self._open()
        if self.layout.startswith("incopat"):
            self.fh.write(b"%d," % (self.index + 1))     # 序号, 1-based within the file
        self.fh.write(data)
        pos = (self.name, self.index)
        self.index += 1
        return pos

    def close(self) -> None:
        if self.fh:
            self.fh.close()
            self.fh = None


def _blocks(plan: pd.DataFrame, order: np.ndarray, pub_serial: np.ndarray,
            chunk_rows: int) -> Iterable[dict]:
    dates = pd.to_datetime(plan["app_date"]).to_numpy("datetime64[D]").astype(np.int64)
    ordinal0 = _dt.date(1970, 1, 1).toordinal()
    for start in range(0, len(plan), chunk_rows):
        rows = order[start:start + chunk_rows]
        part = plan.iloc[rows]
        block = {c: part[c].tolist() for c in PLAN_COLUMNS if c != "app_date"}
        block["app_date"] = (dates[rows] + ordinal0).tolist()
        block["pub_serial"] = pub_serial[rows].tolist()
        block["applicant_ids"] = [list(map(int, a)) for a in block["applicant_ids"]]
        block["app_year"] = list(map(int, block["app_year"]))
        block["type_digit"] = list(map(int, block["type_digit"]))
        block["serial"] = list(map(int, block["serial"]))
        block["n_publications"] = list(map(int, block["n_publications"]))
        block["address_withheld"] = list(map(bool, block["address_withheld"]))
        block["province_code_blank"] = list(map(bool, block["province_code_blank"]))
        block["ipc_codes"] = [list(c) if c is not None else [] for c in block["ipc_codes"]]
        yield block


def render(plan: pd.DataFrame, entities: pd.DataFrame, out_dir: str | Path, cfg=None,
           seed: int | None = None, chunk_rows: int = 10_000,
           workers: int | None = None) -> pd.DataFrame:
    """Write the plan's raw export files under ``<out_dir>/raw/`` and return the bad
    records: ``source_file`` (relative to ``<out_dir>/raw``), ``record_index`` (0-based
    position as a parser of the layout counts records), ``app_id``, ``reason``.

    ``cfg`` is the run configuration (``simulate.render`` overrides
    ``conf/simulate/render.yaml``; ``run.seed`` is the default seed). Output does not
    depend on ``chunk_rows`` or ``workers`` (default ``render.workers``).
    """
    if chunk_rows < 1:
        raise RenderError(f"chunk_rows must be >= 1, got {chunk_rows}")
    settings = load_render_settings(cfg)
    if seed is None:
        if cfg is None:
            raise RenderError("render needs a seed (or a cfg with run.seed)")
        seed = int(cfg["run"]["seed"])
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise RenderError(f"seed must be a 32-bit unsigned integer, got {seed}")
    conf = _conf_dir(cfg)
    vocab = Vocabulary.load(conf / "simulate" / "vocab")
    _validate(plan, entities, vocab)
    pub_serial = assign_publication_serials(plan["app_year"].to_numpy(), plan["app_date"],
                                            plan["patent_type"].to_numpy(), plan["app_id"])
    # records go out in app_id order; index the plan rather than copying it sorted
    order = np.argsort(plan["app_id"].to_numpy(), kind="stable")
    codecs = {"trs": settings["trs_encoding"], "incopat_utf8bom": "utf-8",
              "incopat_gb18030": "gb18030", "patsnap": "utf-8", "jsonl": "utf-8"}
    ent = {c: [("" if _none(v) else str(v)) if c != "entity_id" else int(v)
               for v in entities[c].tolist()] for c in ENTITY_COLUMNS}
    state = {"settings": settings, "seed": seed, "vocab_dir": str(conf / "simulate" / "vocab"),
             "geo_dir": str(conf / "geo"), "entities": ent, "codecs": codecs,
             "ipc_versions": vocab.ipc_versions}
    raw_dir = Path(out_dir) / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    for pattern in _FILE_PATTERNS.values():     # stale parts of an earlier, larger run
        for stale in raw_dir.glob(pattern.replace("{part:04d}", "[0-9][0-9][0-9][0-9]")):
            stale.unlink()
    families = {lay: _Family(raw_dir, lay, settings, codecs[lay]) for lay in LAYOUTS}
    bad: list[tuple[str, int, int, str]] = []
    counts = dict.fromkeys(LAYOUTS, 0)

    def consume(result: dict) -> None:
        for lay in LAYOUTS:
            fam = families[lay]
            for data, app_id, reason in result[lay]:
                name, idx = fam.write(data)
                counts[lay] += 1
                if reason is not None:
                    bad.append((name, idx, app_id, reason))

    n_workers = int(settings["workers"] if workers is None else workers)
    blocks = _blocks(plan, order, pub_serial, chunk_rows)
    try:
        if n_workers <= 1 or len(plan) <= chunk_rows:
            _init_worker(state)
            for block in blocks:
                consume(_render_block(block))
        else:
            ctx = mp.get_context("spawn")   # never fork a process that may hold a JVM
            with ctx.Pool(n_workers, initializer=_init_worker, initargs=(state,)) as pool:
                window: deque = deque()
                for block in blocks:
                    window.append(pool.apply_async(_render_block, (block,)))
                    if len(window) >= 2 * n_workers:
                        consume(window.popleft().get())
                while window:
                    consume(window.popleft().get())
    finally:
        for fam in families.values():
            fam.close()
        _W.clear()
    log.info("rendered %d applications into %s: %s; %d bad records", len(plan), raw_dir,
             counts, len(bad))
    out = pd.DataFrame(bad, columns=["source_file", "record_index", "app_id", "reason"]) \
        .astype({"record_index": "int64", "app_id": "int64"})
    # one order whatever the chunking: by application, then position
    return out.sort_values(["app_id", "source_file", "record_index"], kind="stable") \
        .reset_index(drop=True)
