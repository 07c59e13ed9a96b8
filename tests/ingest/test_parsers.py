"""Parsers on hand-made bytes: each layout x encoding, each ingest reason code with its
record position, file-level rejections, and a fuzz of corrupted inputs (nothing
crashes, every record counted: read = accepted + quarantined + duplicates)."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from rawfiles import INCOPAT_HEADER, WRITERS, record  # noqa: E402

from patentpanel.config import load_config
from patentpanel.ingest.encoding import detect_encoding
from patentpanel.ingest.job import parse_options
from patentpanel.ingest.parsers import parse_file

OPTS = parse_options(load_config().section("ingest"))
LAYOUT_ENCODINGS = [(lay, enc) for lay in ("trs", "incopat", "patsnap", "jsonl")
                    for enc in ("utf-8", "utf-8-sig", "gb18030")]


def parse(text_or_bytes, name="f", encoding="utf-8"):
    data = text_or_bytes if isinstance(text_or_bytes, bytes) else text_or_bytes.encode(encoding)
    return parse_file(name, data, OPTS)


@pytest.mark.parametrize("layout,enc", LAYOUT_ENCODINGS)
def test_every_layout_and_encoding(layout, enc):
    recs = [record(i) for i in range(3)]
    res = parse(WRITERS[layout](recs), encoding=enc)
    assert res.status == "ok" and res.layout == layout
    assert res.encoding == enc
    assert [r["record_index"] for r in res.records] == [0, 1, 2]
    r = res.records[2]
    assert r["app_no"] == "CN202010100002.X" and r["app_date"] == "2020.03.05"
    assert r["title"] == "一种图像识别方法2" and r["address"] == "100084 北京市海淀区清华园"
    assert r["province_code"] == "11" and r["patent_type"] == "发明"
    assert "北京百度网讯科技有限公司" in r["applicants"]


@pytest.mark.parametrize("layout", ["trs", "incopat", "patsnap", "jsonl"])
@pytest.mark.parametrize("field,reason", [("app_no", "missing_app_no"),
                                          ("app_date", "missing_date"),
                                          ("applicants", "missing_applicant")])
def test_missing_required_field_is_quarantined_at_its_position(layout, field, reason):
    recs = [record(0), record(1, **{field: None}), record(2)]
    res = parse(WRITERS[layout](recs))
    assert [(q["record_index"], q["reason"]) for q in res.rejected] == [(1, reason)]
    assert [r["record_index"] for r in res.records] == [0, 2]


def test_trs_truncated_record_mid_line_and_missing_tail():
    text = WRITERS["trs"]([record(i) for i in range(12)])
    recs = text.split("<REC>\n")[1:]
    recs[1] = recs[1][:recs[1].index("<摘要>=") + 9] + "\n"      # stops inside 摘要
    recs[2] = recs[2][:recs[2].index("<国省代码>") + 3] + "\n"   # stops inside a tag
    recs[11] = recs[11][:recs[11].index("<专利类型>")]            # file ends early
    res = parse("<REC>\n" + "<REC>\n".join(recs))
    assert {q["record_index"]: q["reason"] for q in res.rejected} == {
        1: "truncated_record", 2: "truncated_record", 11: "truncated_record"}
    assert [r["record_index"] for r in res.records] == [0] + list(range(3, 11))


def test_jsonl_invalid_json_is_truncated_record():
    lines = WRITERS["jsonl"]([record(i) for i in range(3)]).splitlines()
    lines[1] = lines[1][:40]
    res = parse("\n".join(lines) + "\n\n")
    assert [(q["record_index"], q["reason"]) for q in res.rejected] == [(1, "truncated_record")]
    assert res.records_read == 3


@pytest.mark.parametrize("layout", ["incopat", "patsnap"])
def test_csv_field_count_mismatch(layout):
    lines = WRITERS[layout]([record(i) for i in range(3)]).splitlines(keepends=True)
    lines[2] = lines[2].replace("一种图像识别方法1", "一种图像,识别方法1")
    lines[3] = lines[3].rstrip("\r\n").rsplit(",", 2)[0] + "\n"
    res = parse("".join(lines))
    assert {q["record_index"]: q["reason"] for q in res.rejected} == {
        1: "field_count_mismatch", 2: "field_count_mismatch"}


@pytest.mark.parametrize("layout", ["trs", "incopat", "patsnap", "jsonl"])
@pytest.mark.parametrize("file_enc,row_enc", [("utf-8", "gb18030"), ("gb18030", "utf-8")])
def test_encoding_error_only_poisons_its_row(layout, file_enc, row_enc):
    recs = [record(i) for i in range(6)]
    head = WRITERS[layout](recs[:3]).encode(file_enc)
    bad = WRITERS[layout](recs[3:4])
    tail = WRITERS[layout](recs[4:])
    if layout in ("incopat", "patsnap"):       # drop the repeated header lines
        bad, tail = bad.split("\n", 1)[1], tail.split("\n", 1)[1]
    data = head + bad.encode(row_enc) + tail.encode(file_enc)
    res = parse(data)
    assert res.encoding.startswith(file_enc[:5])
    assert [(q["record_index"], q["reason"]) for q in res.rejected] == [(3, "encoding_error")]
    assert [r["record_index"] for r in res.records] == [0, 1, 2, 4, 5]
    assert "\\x" in res.rejected[0]["raw_text"]        # raw bytes kept, shown escaped


def test_detect_encoding_from_bytes():
    assert detect_encoding("中文".encode("utf-8")) == ("utf-8", "utf-8")
    assert detect_encoding(b"\xef\xbb\xbf" + "中文".encode("utf-8")) == ("utf-8-sig", "utf-8")
    assert detect_encoding("中文\n清华大学\n".encode("gb18030")) == ("gb18030", "gb18030")


def test_incopat_columns_mapped_by_name_in_any_order():
    header = list(reversed(INCOPAT_HEADER))
    res = parse(WRITERS["incopat"]([record(0)], header=header))
    assert res.layout == "incopat" and res.records[0]["app_no"] == "CN202010100000.X"


def test_file_level_problems_are_reported_not_raised():
    assert "empty file" in parse(b"").message
    assert "binary" in parse(bytes(range(256)) * 20).message
    assert "unknown layout" in parse("hello world\nfoo\n").message
    r = parse("序号,标题,摘要,申请日,申请人地址,发明人\n1,a,b,2020.01.01,c,x\n")
    assert r.status == "rejected" and r.layout == "incopat"
    assert "missing required column(s) 申请号, 申请人 for layout incopat" in r.message


def test_exact_duplicate_record_is_counted_not_kept():
    res = parse(WRITERS["jsonl"]([record(0), record(0), record(1)]))
    assert len(res.records) == 2 and res.duplicates == 1 and res.records_read == 3


def test_a_and_b_publications_are_both_kept():
    res = parse(WRITERS["trs"]([record(0), record(0, pub_no="CN111200000B")]))
    assert len(res.records) == 2 and res.duplicates == 0


# --------------------------------------------------------------------------- fuzz
def _corruptions(rng: random.Random):
    good = WRITERS["trs"]([record(i) for i in range(5)])
    csv_text = WRITERS["incopat"]([record(i) for i in range(5)])
    js = WRITERS["jsonl"]([record(i) for i in range(5)])
    ps = WRITERS["patsnap"]([record(i) for i in range(5)])
    b = good.encode("utf-8")
    noise = bytes(rng.randrange(256) for _ in range(3000))
    return {
        "empty": b"",
        "whitespace": b" \n\r\n\t",
        "truncated_bytes": b[: len(b) // 2 + 1],
        "truncated_mid_char": "中".join([good[:301]]).encode("utf-8")[:-1],
        "binary_noise": noise,
        "noise_in_middle": b[:400] + noise[:50] + b[400:],
        "swapped_csv_columns": "\n".join(",".join(reversed(l.split(","))) for l in csv_text.splitlines()).encode(),
        "csv_header_only": csv_text.splitlines()[0].encode("utf-8"),
        "wrong_encoding_latin1": good.encode("gb18030").decode("latin-1").encode("utf-8"),
        "utf16": good.encode("utf-16"),
        "mixed_encodings": good.encode("utf-8") + good.encode("gb18030"),
        "huge_field": WRITERS["jsonl"]([record(0, abstract="很" * 300_000), record(1)]).encode(),
        "huge_csv_field": WRITERS["incopat"]([record(0, abstract="长" * 200_000)]).encode(),
        "bom_in_middle": js.encode("utf-8") + b"\xef\xbb\xbf" + js.encode("utf-8"),
        "crlf": good.replace("\n", "\r\n").encode(),
        "cr_only": csv_text.replace("\r\n", "\r").encode(),
        "nul_bytes": js.replace("图像", "图\x00像").encode(),
        "unbalanced_quote": csv_text.replace("一种图像识别方法2", '"一种图像识别方法2').encode(),
        "stray_quotes_patsnap": ps.replace("一种", 'x"y"').encode(),
        "json_not_object": b"[1,2,3]\n42\n\"text\"\n",
        "json_deep_nesting": (b"[" * 5000 + b"]" * 5000 + b"\n"),
        "trs_garbage_preamble": ("random preamble\n" + good).encode(),
        "trs_no_values": b"<REC>\n<REC>\n<REC>\n",
        "random_line_shuffle": "\n".join(rng.sample(good.splitlines(), len(good.splitlines()))).encode(),
        "control_chars": good.replace("方法", "方\x07\x1b法").encode(),
        "very_long_line_no_newline": b"<REC>" + b"x" * 500_000,
    }


def test_fuzz_nothing_crashes_nothing_lost():
    rng = random.Random(20250806)
    kinds = _corruptions(rng)
    assert len(kinds) >= 20
    for name, data in kinds.items():
        res = parse_file(name, data, OPTS)       # must not raise
        res.check_invariant()
        if res.status == "rejected":
            assert res.message and not res.records and not res.rejected
        else:
            assert res.records_read == len(res.records) + len(res.rejected) + res.duplicates
            idx = sorted([r["record_index"] for r in res.records]
                         + [q["record_index"] for q in res.rejected])
            assert idx == sorted(set(idx))       # every position once
            for q in res.rejected:
                assert q["reason"] in OPTS_REASONS and q["raw_text"] is not None
    # the records the corruption did not touch survive
    assert len(parse_file("x", kinds["crlf"], OPTS).records) == 5
    assert len(parse_file("x", kinds["cr_only"], OPTS).records) == 5
    assert len(parse_file("x", kinds["bom_in_middle"], OPTS).records) == 5   # + 5 duplicates
    assert parse_file("x", kinds["huge_field"], OPTS).records[0]["abstract"] == "很" * 300_000


OPTS_REASONS = set(load_config().get("ingest.reasons"))
