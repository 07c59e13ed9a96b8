"""The ingest stage end to end on the shared Spark session: every layout and encoding
into bronze, quarantine with positions, file-level rejections, accounting, re-ingest as
a no-op, and a second year's export added without touching the first."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rawfiles import WRITERS, record  # noqa: E402

from patentpanel.ingest.job import (AccountingError, QUARANTINE, RECORDS, REPORT,
                                    check_accounting, ingest, list_inputs, parse_options,
                                    source_name)


@pytest.fixture
def store(spark, lake):
    from patentpanel.storage import TableStore
    return TableStore(spark, str(lake), engine="auto")


@pytest.fixture
def opts(cfg):
    return parse_options(cfg.section("ingest"))


def _write(d: Path, name: str, text: str, encoding: str) -> Path:
    p = d / name
    p.write_bytes(text.encode(encoding))
    return p


def test_ingest_all_layouts_and_encodings(spark, store, opts, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    good = [record(i) for i in range(4)]
    bad = [record(50, app_no=None), record(51, app_date=""), record(52, applicants=[])]
    expected = 0
    for k, (layout, enc) in enumerate([("trs", "gb18030"), ("trs", "utf-8"),
                                       ("incopat", "utf-8-sig"), ("incopat", "gb18030"),
                                       ("patsnap", "utf-8"), ("patsnap", "utf-8-sig"),
                                       ("jsonl", "utf-8")]):
        recs = [record(100 * k + i) for i in range(4)] + bad
        _write(raw, f"f{k}.{'trs' if layout == 'trs' else 'jsonl' if layout == 'jsonl' else 'csv'}",
               WRITERS[layout](recs), enc)
        expected += 4
    (raw / "noise.csv").write_bytes(bytes(range(256)) * 50)
    (raw / "other.csv").write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    # incoPat by its own columns (IPC主分类, 申请人地址) but without 申请号
    (raw / "cols.csv").write_text("标题,申请日,专利类型,摘要,IPC主分类,申请人地址\n"
                                  "x,2020.01.01,发明,y,G06N3/08,北京市\n", encoding="utf-8")
    # the same columns in incoPat and PatSnap alike: ambiguous, reported as such
    (raw / "tie.csv").write_text("标题,申请日,专利类型,摘要\nx,2020.01.01,发明,y\n", encoding="utf-8")
    files = list_inputs(str(raw), ["*.trs", "*.csv", "*.jsonl"])
    s = ingest(spark, store, files, opts)
    assert s["accepted"] == expected
    assert s["quarantined"] == 3 * 7
    assert s["rejected_files"] == 4
    rec = store.read(RECORDS)
    assert rec.count() == expected
    row = rec.where("source_layout = 'trs' and encoding = 'gb18030' and record_index = 1").first()
    assert row["app_no"] == "CN202010100001.X" and row["address"] == "100084 北京市海淀区清华园"
    assert row["applicants"] == "清华大学;北京百度网讯科技有限公司"
    q = {(r["source_file"].rsplit("/", 1)[-1], r["record_index"]): r["reason"]
         for r in store.read(QUARANTINE).collect()}
    assert q[("f0.trs", 4)] == "missing_app_no" and q[("f2.csv", 5)] == "missing_date"
    assert q[("f6.jsonl", 6)] == "missing_applicant"
    rep = {r["source_file"].rsplit("/", 1)[-1]: r for r in store.read(REPORT).collect()}
    assert rep["noise.csv"]["status"] == "rejected" and "binary" in rep["noise.csv"]["message"]
    assert "unknown layout" in rep["other.csv"]["message"]
    assert "missing required column(s) 申请号" in rep["cols.csv"]["message"]
    assert "matches the incopat and patsnap layouts equally" in rep["tie.csv"]["message"]
    assert rep["f3.csv"]["encoding"] == "gb18030" and rep["f3.csv"]["layout"] == "incopat"
    assert dict(rep["f1.trs"]["quarantined_by_reason"]) == {
        "missing_app_no": 1, "missing_date": 1, "missing_applicant": 1}
    for r in rep.values():
        assert r["records_read"] == r["accepted"] + r["quarantined"] + r["duplicates"]

    # re-ingesting the same files is a no-op
    v = store.version(RECORDS)
    s2 = ingest(spark, store, files, opts)
    assert s2["skipped_known"] == len(files) and s2["batches"] == 0
    assert store.version(RECORDS) == v

    # a new year's export is added; earlier rows are untouched
    before = {(r["batch_id"], r["record_index"]): r["app_no"] for r in rec.collect()}
    new = _write(raw, "y2021.jsonl", WRITERS["jsonl"]([record(900 + i, app_date="2021-01-0%d" % (i + 1))
                                                      for i in range(3)]), "utf-8")
    s3 = ingest(spark, store, list_inputs(str(raw), ["*.trs", "*.csv", "*.jsonl"]), opts)
    assert s3["batches"] == 1 and s3["accepted"] == 3
    after = {(r["batch_id"], r["record_index"]): r["app_no"] for r in store.read(RECORDS).collect()}
    assert len(after) == expected + 3
    assert all(after[k] == v for k, v in before.items())
    assert new.exists()


def test_accounting_violation_raises():
    rows = [{"batch_id": "b", "source_file": "f.csv", "records_read": 5, "accepted": 3,
             "quarantined": 1, "duplicates": 0}]
    with pytest.raises(AccountingError, match="read 5 != accepted 3"):
        check_accounting(rows, {("b", "record"): 3, ("b", "reject"): 1})
    rows[0]["records_read"] = 4
    with pytest.raises(AccountingError, match="rows produced 2"):
        check_accounting(rows, {("b", "record"): 2, ("b", "reject"): 1})
    check_accounting(rows, {("b", "record"): 3, ("b", "reject"): 1})


def test_file_uri_listed_through_hadoop_and_same_content_kept_once(spark, store, opts, tmp_path):
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    a = _write(raw, "a.jsonl", WRITERS["jsonl"]([record(i) for i in range(3)]), "utf-8")
    _write(raw / "sub", "b.csv", WRITERS["incopat"]([record(10 + i) for i in range(2)]), "utf-8")
    (raw / "sub" / "copy.jsonl").write_bytes(a.read_bytes())          # same content as a.jsonl
    (raw / ".hidden.jsonl").write_bytes(a.read_bytes())               # glob skips dot files
    (raw / "notes.md").write_text("not an export", encoding="utf-8")
    patterns = ["*.csv", "*.jsonl"]
    local = list_inputs(str(raw), patterns)
    uri = list_inputs(raw.as_uri(), patterns, spark)                   # file:///... via Hadoop
    assert all(u.startswith("file:/") for u in uri)
    assert [source_name(u) for u in uri] == local == sorted(
        str(p) for p in (raw / "a.jsonl", raw / "sub" / "b.csv", raw / "sub" / "copy.jsonl"))
    assert list_inputs(raw.as_uri() + "/*.jsonl", patterns, spark) == [uri[0]]   # a Hadoop glob
    with pytest.raises(ValueError, match="needs a SparkSession"):
        list_inputs(raw.as_uri(), patterns)

    s = ingest(spark, store, uri + [local[0]], opts)     # a.jsonl given twice: read once
    assert (s["batches"], s["accepted"], s["skipped_known"]) == (2, 5, 1)
    got = {r["source_file"] for r in store.read(RECORDS).select("source_file").distinct().collect()}
    assert got == {str(raw / "a.jsonl"), str(raw / "sub" / "b.csv")}   # local names, not URIs
    s2 = ingest(spark, store, uri, opts)
    assert (s2["batches"], s2["skipped_known"]) == (0, 3)
