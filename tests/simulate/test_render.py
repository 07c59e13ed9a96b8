"""Rendering: every layout round-trips through a plain reader (csv / json / a tiny TRS
splitter) with the expected fields; every planted corruption is at the reported position
and nothing else is bad; output is byte-identical across chunk sizes and worker counts."""
import csv
import datetime as dt
import hashlib
import io
import json
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from patentpanel.config import conf_dir
from patentpanel.simulate.numbers import AppNoError, is_valid_app_no, parse_app_no
from patentpanel.simulate.render import (INCOPAT_HEADER, JSONL_KEYS, PATSNAP_HEADER,
                                         SUPPORTED_CORRUPTIONS, TRS_TAGS, RenderError,
                                         load_render_settings, render)
from patentpanel.simulate.sample import sample_entities, sample_plan
from patentpanel.simulate.text import TextMaker, Vocabulary

CONF = conf_dir()
SEED = 20250806


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.load(CONF / "simulate" / "vocab")


@pytest.fixture(scope="module")
def frames(vocab):
    regions = pd.read_csv(CONF / "geo" / "regions_2020.csv", dtype=str)
    ents = sample_entities(300, 5, regions)
    plan = sample_plan(1200, ents, 5, vocab, corruption_rate=0.0)
    _plan_decisions(plan, ents, vocab)
    # every supported (layout, reason) pair, on single- and double-publication rows
    rows = []
    for lay, reasons in SUPPORTED_CORRUPTIONS.items():
        for r in sorted(reasons):
            rows.append((lay, r))
    inv = plan.index[plan["patent_type"] == "invention"].to_numpy()
    plan.loc[:, "corruption"] = None
    for k, (lay, r) in enumerate(rows):
        i = inv[k]
        plan.loc[i, ["layout", "corruption"]] = [lay, r]
        plan.loc[i, "n_publications"] = 2 if k % 2 else 1
    # plus random corruptions at 5% elsewhere
    rng = np.random.default_rng(9)
    for i in rng.choice(np.setdiff1d(plan.index, inv[:len(rows)]), 60, replace=False):
        allowed = sorted(SUPPORTED_CORRUPTIONS[plan.at[i, "layout"]])
        plan.at[i, "corruption"] = allowed[int(rng.integers(len(allowed)))]
    return plan, ents


def _plan_decisions(plan, ents, vocab):
    """The decisions the simulator's plan makes and the renderer must obey: withheld
    addresses (mainland first applicants), blank province codes, IPC codes."""
    rng = np.random.default_rng(21)
    tm = TextMaker(vocab, load_render_settings())
    first = plan["applicant_ids"].map(lambda a: int(a[0]))
    mainland = first.map(dict(zip(ents["entity_id"], ents["country"]))) == "CN"
    plan["address_withheld"] = mainland.to_numpy() & (rng.random(len(plan)) < 0.08)
    plan["province_code_blank"] = rng.random(len(plan)) < 0.03
    plan["ipc_codes"] = [
        [] if k % 97 == 0 else
        tm.ipc_codes(r.topic, r.patent_type, int(r.app_year), None if r.tier in (None, "") else r.tier,
                     bool(r.borderline), random.Random(int(r.app_id)))
        for k, r in enumerate(plan.itertuples())]


@pytest.fixture(scope="module")
def rendered(frames, tmp_path_factory):
    plan, ents = frames
    out = tmp_path_factory.mktemp("sim")
    cfg = {"run": {"seed": SEED}, "simulate": {"render": {"max_records_per_file": 150}}}
    bad = render(plan, ents, out, cfg, chunk_rows=97, workers=1)
    return out / "raw", bad


# ---------------------------------------------------------------- plain readers
def split_trs(raw: bytes, codec: str) -> list[tuple[bytes, str]]:
    """Records as (raw bytes, text) split at lines that are exactly <REC>."""
    recs, cur = [], None
    for line in raw.splitlines(keepends=True):
        if line.rstrip(b"\r\n") == b"<REC>":
            if cur is not None:
                recs.append(cur)
            cur = line
        elif cur is not None:
            cur += line
    if cur is not None:
        recs.append(cur)
    return [(r, r.decode(codec, errors="surrogateescape")) for r in recs]


def trs_fields(text: str) -> dict | None:
    """Fields of a complete TRS record, None when truncated (last tag missing or a line
    that is not <tag>=value)."""
    lines = text.splitlines()[1:]
    out = {}
    for ln in lines:
        m = re.match(r"^<([^>]+)>=(.*)$", ln)
        if not m:
            return None
        out[m.group(1)] = m.group(2)
    return out if TRS_TAGS[-1] in out else None


def read_csv_rows(raw: bytes, codec: str) -> tuple[list[str], list[list[str]], list[bytes]]:
    text = raw.decode(codec, errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    # raw bytes per data row: rows never span lines except quoted abstracts, which only
    # occur in clean rows; locate corrupt rows by their 序号 / order instead
    return rows[0], rows[1:], []


def parse_date(s: str) -> dt.date:
    for fmt in ("%Y.%m.%d", "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            d = dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
        if d.year >= 1985:
            return d
    raise ValueError(s)


def collect(raw_dir: Path) -> dict[tuple[str, int], dict]:
    """Every record of every file by position: logical fields (None when unreadable),
    the raw bytes where they can be isolated, and whether the bytes decode."""
    out = {}
    for path in sorted(raw_dir.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(raw_dir).as_posix()
        raw = path.read_bytes()
        if name.startswith("trs/"):
            for i, (b, text) in enumerate(split_trs(raw, "gb18030")):
                try:
                    b.decode("gb18030")
                    ok = True
                except UnicodeDecodeError:
                    ok = False
                f = trs_fields(text)
                rec = None if f is None else {
                    "app_no": f["申请号"], "app_date": f["申请日"],
                    "applicants": [x for x in re.split("[;；]", f["申请（专利权）人"]) if x],
                    "title": f["名称"], "address": f["地址"], "province_code": f["国省代码"],
                    "ipc": f["分类号"], "pub_no": f["公开（公告）号"]}
                out[(name, i)] = {"rec": rec, "decodes": ok, "complete": f is not None,
                                  "fields_ok": True}
        elif name.startswith(("incopat/", "patsnap/")):
            codec = "gb18030" if "gbk" in name else "utf-8"
            header, rows, _ = read_csv_rows(raw, codec)
            inc = name.startswith("incopat/")
            assert tuple(header) == (INCOPAT_HEADER if inc else PATSNAP_HEADER)
            for i, r in enumerate(rows):
                good = len(r) == len(header)
                ok = not any("\udc80" <= ch <= "\udcff" for ch in "".join(r))
                rec = None
                if good:
                    d = dict(zip(header, r))
                    if inc:
                        assert d["序号"] == str(i + 1)
                        rec = {"app_no": d["申请号"], "app_date": d["申请日"],
                               "applicants": [x for x in d["申请人"].split("; ") if x],
                               "title": d["标题"], "address": d["申请人地址"],
                               "province_code": d["申请人省市代码"], "ipc": d["IPC"],
                               "pub_no": d["公开（公告）号"], "first": d["第一申请人"],
                               "n_app": d["申请人数量"]}
                    else:
                        rec = {"app_no": d["申请号"], "app_date": d["申请日"],
                               "applicants": [x for x in d["[标]原始申请(专利权)人"].split(" | ") if x],
                               "title": d["标题"], "address": d["当前申请(专利权)人地址"],
                               "province_code": d["原始申请(专利权)人州/省"],
                               "ipc": d["IPC分类号"], "pub_no": d["公开(公告)号"]}
                out[(name, i)] = {"rec": rec, "decodes": ok, "complete": True, "fields_ok": good}
        else:
            lines = [ln for ln in raw.split(b"\n") if ln.strip()]
            for i, ln in enumerate(lines):
                try:
                    text = ln.decode("utf-8")
                    ok = True
                except UnicodeDecodeError:
                    text, ok = ln.decode("utf-8", errors="surrogateescape"), False
                try:
                    obj = json.loads(text)
                    complete = True
                except json.JSONDecodeError:
                    obj, complete = None, False
                rec = None if obj is None else {
                    "app_no": obj.get("application_number") or "",
                    "app_date": obj.get("application_date") or "",
                    "applicants": obj.get("applicants") or [], "title": obj["title"],
                    "address": obj.get("address") or "",
                    "province_code": obj.get("province_code") or "",
                    "ipc": "; ".join(obj["ipc"]), "pub_no": obj["publication_number"],
                    "keys": set(obj)}
                out[(name, i)] = {"rec": rec, "decodes": ok, "complete": complete,
                                  "fields_ok": True}
    return out


def observed_reason(r: dict) -> str | None:
    """What a careful reader finds wrong with one record (None: a good record)."""
    if not r["decodes"]:
        return "encoding_error"
    if not r["complete"]:
        return "truncated_record"
    if not r["fields_ok"]:
        return "field_count_mismatch"
    rec = r["rec"]
    if not rec["app_no"]:
        return "missing_app_no"
    try:
        parse_app_no(rec["app_no"])
    except AppNoError:
        return "bad_app_no_format"
    if not is_valid_app_no(rec["app_no"]):
        return "bad_check_digit"
    if not rec["app_date"]:
        return "missing_date"
    try:
        parse_date(rec["app_date"])
    except ValueError:
        return "bad_date"
    if not rec["applicants"]:
        return "missing_applicant"
    return None


# ---------------------------------------------------------------- tests
def test_every_record_accounted_for(frames, rendered):
    plan, _ = frames
    raw_dir, bad = rendered
    recs = collect(raw_dir)
    assert len(recs) == int(plan["n_publications"].sum())
    # files roll over after 150 records and positions restart at 0
    assert (raw_dir / "trs" / "cnipa_0002.trs").exists()
    assert max(i for (n, i) in recs) == 149


def test_bad_records_exactly_where_reported(frames, rendered):
    plan, _ = frames
    raw_dir, bad = rendered
    recs = collect(raw_dir)
    reported = {(r.source_file, r.record_index): r.reason for r in bad.itertuples()}
    observed = {pos: observed_reason(r) for pos, r in recs.items()}
    observed = {pos: why for pos, why in observed.items() if why is not None}
    assert observed == reported
    # counts match the plan exactly: each corrupted application, all its publications
    corrupt = plan[plan["corruption"].notna()]
    assert len(bad) == int(corrupt["n_publications"].sum())
    assert bad.groupby("reason").size().to_dict() == \
        corrupt.groupby("corruption")["n_publications"].sum().to_dict()
    assert set(bad["app_id"]) == set(corrupt["app_id"])
    assert list(bad.columns) == ["source_file", "record_index", "app_id", "reason"]


def test_good_records_carry_the_planned_application(frames, rendered, vocab):
    plan, ents = frames
    raw_dir, bad = rendered
    recs = collect(raw_dir)
    names = dict(zip(ents["entity_id"], ents["name"]))
    pcode = dict(zip(ents["entity_id"], ents["province_code"].where(ents["country"] == "CN",
                                                                     ents["country"])))
    bad_pos = set(zip(bad["source_file"], bad["record_index"]))
    by_key = {(int(r.app_year), int(r.type_digit), int(r.serial)): r for r in plan.itertuples()}
    seen = {}
    for pos, r in recs.items():
        if pos in bad_pos:
            continue
        rec = r["rec"]
        y, t, s, _ = parse_app_no(rec["app_no"])
        p = by_key[(y, t, s)]
        assert parse_date(rec["app_date"]) == pd.Timestamp(p.app_date).date()
        assert rec["applicants"] == [names[i] for i in p.applicant_ids]
        if "first" in rec:
            assert rec["first"] == names[p.applicant_ids[0]]
            assert rec["n_app"] == str(len(p.applicant_ids))
        if rec["province_code"]:
            assert rec["province_code"] == pcode[p.applicant_ids[0]]
        assert (rec["province_code"] == "") == bool(p.province_code_blank)
        assert rec["address"] != ""
        assert (rec["address"] in vocab.addresses["placeholders"]) == bool(p.address_withheld)
        written = [c for c in re.split(r"[;；|]", rec["ipc"]) if c.strip()]
        assert [re.sub(r"\(\d{4}\.\d{2}\)$", "", c.replace(" ", "")) for c in written] \
            == [c.replace(" ", "") for c in p.ipc_codes], "the plan's codes, in order"
        assert rec["pub_no"][-1] in "ABCUYSD" and re.match(r"^CN\d{9}[A-Z]$", rec["pub_no"])
        assert "G06V" not in rec["ipc"] and "G06F 18" not in rec["ipc"]   # years <= 2021
        seen.setdefault(p.app_id, []).append(rec["pub_no"])
    twice = plan.loc[(plan["n_publications"] == 2) & plan["corruption"].isna(), "app_id"]
    assert len(twice) > 50
    for a in twice:
        assert len(seen[a]) == 2
        assert seen[a][0][:-1] == seen[a][1][:-1]        # same number, kinds A / B-or-C
        assert seen[a][0][-1] == "A" and seen[a][1][-1] in "BC"


def test_jsonl_keys_and_trs_tags(rendered):
    raw_dir, bad = rendered
    recs = collect(raw_dir)
    bad_pos = set(zip(bad["source_file"], bad["record_index"]))
    for pos, r in recs.items():
        if pos[0].startswith("jsonl/") and pos not in bad_pos:
            assert r["rec"]["keys"] == set(JSONL_KEYS)
    text = (raw_dir / "trs" / "cnipa_0001.trs").read_bytes().decode("gb18030", "replace")
    first = text.split("<REC>")[1]
    assert [m for m in re.findall(r"^<([^>]+)>=", first, flags=re.M)] == list(TRS_TAGS)


def test_encodings_and_boms(rendered):
    raw_dir, _ = rendered
    assert (raw_dir / "incopat" / "incopat_utf8_0001.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    gbk = (raw_dir / "incopat" / "incopat_gbk_0001.csv").read_bytes()
    assert gbk[:3] != b"\xef\xbb\xbf" and gbk.decode("gb18030", "replace").startswith("序号,标题")
    assert (raw_dir / "patsnap" / "patsnap_0001.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    if (raw_dir / "patsnap" / "patsnap_0002.csv").exists():
        assert (raw_dir / "patsnap" / "patsnap_0002.csv").read_bytes()[:3] != b"\xef\xbb\xbf"


def _digest(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def test_byte_identical_across_chunks_and_workers(frames, rendered, tmp_path):
    plan, ents = frames
    raw_dir, bad = rendered
    cfg = {"run": {"seed": SEED}, "simulate": {"render": {"max_records_per_file": 150}}}
    sub = plan.iloc[::-1].reset_index(drop=True)       # row order of the plan is irrelevant
    bad2 = render(sub, ents, tmp_path / "a", cfg, chunk_rows=1000, workers=2)
    assert _digest(tmp_path / "a" / "raw") == _digest(raw_dir)
    pd.testing.assert_frame_equal(bad2, bad)
    stale = tmp_path / "b" / "raw" / "jsonl" / "records_0099.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}\n")
    render(plan, ents, tmp_path / "b", {**cfg, "run": {"seed": SEED + 1}}, chunk_rows=500,
           workers=1)
    assert not stale.exists()       # parts of an earlier run never linger
    other = _digest(tmp_path / "b" / "raw")
    assert other.keys() == _digest(raw_dir).keys()
    assert all(other[k] != v for k, v in _digest(raw_dir).items())


def test_invalid_plans_are_named(frames, tmp_path):
    plan, ents = frames
    cfg = {"run": {"seed": 1}}
    p = plan.copy()
    i = p.index[p["layout"] == "jsonl"][0]
    p.at[i, "corruption"] = "field_count_mismatch"
    with pytest.raises(RenderError, match=f"app_id={p.at[i, 'app_id']}.*not possible"):
        render(p, ents, tmp_path, cfg)
    p = plan.copy()
    i = p.index[p["patent_type"] == "utility"][0]
    p.at[i, "n_publications"] = 2
    with pytest.raises(RenderError, match="only invention"):
        render(p, ents, tmp_path, cfg)
    p = plan.copy()
    p.at[p.index[3], "applicant_ids"] = [999_999]
    with pytest.raises(RenderError, match="entity_id not in entities"):
        render(p, ents, tmp_path, cfg)
    with pytest.raises(RenderError, match="missing columns"):
        render(plan.drop(columns=["topic"]), ents, tmp_path, cfg)


def test_plan_decisions_validated(frames, tmp_path):
    plan, ents = frames
    cfg = {"run": {"seed": 1}}
    foreign = set(ents.loc[ents["country"] != "CN", "entity_id"])
    p = plan.copy()
    i = p.index[p["applicant_ids"].map(lambda a: int(a[0]) in foreign)][0]
    p.at[i, "address_withheld"] = True
    with pytest.raises(RenderError, match=f"app_id={p.at[i, 'app_id']}.*non-mainland"):
        render(p, ents, tmp_path, cfg)
    p = plan.copy()
    p["ipc_codes"] = p["ipc_codes"].astype(object)
    p.at[p.index[5], "ipc_codes"] = "G06N 3/08"
    with pytest.raises(RenderError, match="ipc_codes must be a list"):
        render(p, ents, tmp_path, cfg)
