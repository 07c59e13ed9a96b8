"""Parsers of the four raw layouts: one file's bytes -> records, quarantined records and
a file report. Pure Python (no Spark), so a Spark task runs them on whole files and
tests run them on hand-made bytes.

Every record a layout's parser counts (docs/raw-formats.md, "Record positions") comes
out exactly once, either as a :data:`Record` or as a :data:`Rejected` with one reason
code, so ``records_read == accepted + quarantined + duplicates`` holds per file by
construction and is asserted in :func:`parse_file`. A file that cannot be read at all
(binary, unknown layout, missing required columns, empty) yields no records and a
report with ``status='rejected'`` and a message naming what was expected.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from . import encoding as enc
from .layouts import (LOGICAL_FIELDS, Layout, csv_header, detect_layout,
                      missing_required_columns, norm_name)

csv.field_size_limit(2**31 - 1)

MISSING_APP_NO = "missing_app_no"
MISSING_DATE = "missing_date"
MISSING_APPLICANT = "missing_applicant"
TRUNCATED = "truncated_record"
FIELD_COUNT = "field_count_mismatch"
ENCODING_ERROR = "encoding_error"

_REQUIRED_REASON = {"app_no": MISSING_APP_NO, "app_date": MISSING_DATE,
                    "applicants": MISSING_APPLICANT}
_LINE = re.compile(r"\r\n|\r|\n")
_TRS_FIELD = re.compile(r"^\s*<([^<>=]{1,40})>=(.*)$", re.S)
_REC = re.compile(r"^\s*<REC>\s*$")


@dataclass
class ParseOptions:
    layouts: Mapping[str, Layout]
    layout: str = "auto"
    utf8_min_share: float = 0.5
    binary_max_control_share: float = 0.1
    min_header_matches: int = 3
    trs_closing_field_share: float = 0.5


@dataclass
class FileResult:
    """What one file gave: records (dicts of logical fields), rejected records and the
    file-level report."""
    source_file: str
    batch_id: str
    layout: str | None = None
    encoding: str | None = None
    status: str = "ok"               # ok | rejected
    message: str = ""
    records: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    duplicates: int = 0
    records_read: int = 0
    notes: list[str] = field(default_factory=list)

    def quarantined_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rejected:
            out[r["reason"]] = out.get(r["reason"], 0) + 1
        return out

    def check_invariant(self) -> None:
        got = len(self.records) + len(self.rejected) + self.duplicates
        if got != self.records_read:
            raise AssertionError(
                f"{self.source_file}: records read {self.records_read} != accepted "
                f"{len(self.records)} + quarantined {len(self.rejected)} + duplicates "
                f"{self.duplicates}")


def batch_id(data: bytes) -> str:
    """Identity of an input file: SHA-256 of its bytes (first 32 hex digits)."""
    return hashlib.sha256(data).hexdigest()[:32]


# --------------------------------------------------------------------------- helpers

def _clean_value(v) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _reject(res: FileResult, index: int, reason: str, raw: str, codec: str, detail: str = ""):
    res.rejected.append({"record_index": index, "reason": reason,
                         "raw_text": enc.printable(raw, codec), "detail": detail})


def _accept(res: FileResult, index: int, values: dict, layout: Layout, raw: str, codec: str,
            seen: set) -> None:
    """Apply the record-level checks in reason precedence and file the record."""
    for f, reason in _REQUIRED_REASON.items():
        if not values.get(f):
            _reject(res, index, reason, raw, codec, f"no {f}")
            return
    key = tuple([values.get(f) for f in LOGICAL_FIELDS])
    if key in seen:
        res.duplicates += 1
        return
    seen.add(key)
    rec = dict(zip(LOGICAL_FIELDS, key))
    rec["record_index"] = index
    res.records.append(rec)


# --------------------------------------------------------------------------- TRS

def _trs_records(text: str) -> tuple[str, list[list[str]]]:
    """Split TRS text into (preamble, records as line lists) at ``<REC>`` lines."""
    preamble: list[str] = []
    records: list[list[str]] = []
    current: list[str] | None = None
    for line in _LINE.split(text):
        if _REC.match(line):
            current = []
            records.append(current)
        elif current is None:
            preamble.append(line)
        else:
            current.append(line)
    return "\n".join(preamble).strip(), records


def parse_trs(text: str, codec: str, layout: Layout, res: FileResult, opts: ParseOptions):
    preamble, records = _trs_records(text)
    if preamble:
        res.notes.append(f"{len(preamble)} characters before the first <REC> ignored")
    parsed: list[tuple[list[tuple[str, str]], bool]] = []
    for lines in records:
        while lines and not lines[-1].strip():
            lines.pop()
        fields: list[tuple[str, str]] = []
        cut = False
        for pos, line in enumerate(lines):
            m = _TRS_FIELD.match(line)
            if m:
                fields.append((norm_name(m.group(1)), m.group(2)))
            elif line.strip():
                if fields and pos < len(lines) - 1:
                    # a value running over a line break: continuation of the previous field
                    name, value = fields[-1]
                    fields[-1] = (name, value + "\n" + line)
                else:
                    cut = True
        parsed.append((fields, cut))
    # The closing field: the last tag of (nearly) every record. A record without it
    # stopped mid-way.
    lasts: dict[str, int] = {}
    for fields, _ in parsed:
        if fields:
            lasts[fields[-1][0]] = lasts.get(fields[-1][0], 0) + 1
    closing = None
    if lasts:
        name, n = max(lasts.items(), key=lambda kv: kv[1])
        if n >= opts.trs_closing_field_share * len(parsed) and len(parsed) >= 3:
            closing = name
    seen: set = set()
    for index, (lines, (fields, cut)) in enumerate(zip(records, parsed)):
        raw = "<REC>\n" + "\n".join(lines)
        res.records_read += 1
        if enc.has_bad_bytes(raw):
            _reject(res, index, ENCODING_ERROR, raw, codec, f"bytes invalid in {codec}")
            continue
        names = [n for n, _ in fields]
        if cut or not fields or (closing is not None and closing not in names):
            _reject(res, index, TRUNCATED, raw, codec,
                    "record ends mid-line" if cut else f"record ends before <{closing}>")
            continue
        values = {}
        for name, value in fields:
            logical = layout.fields.get(name)
            if logical and not values.get(logical):
                values[logical] = _clean_value(value)
        _accept(res, index, values, layout, raw, codec, seen)


# --------------------------------------------------------------------------- CSV

def _csv_rows(text: str) -> Iterator[tuple[list[str], str]]:
    """RFC 4180 rows with their raw text (re-joined from the reader's line pieces)."""
    buf = io.StringIO(text, newline="")
    pieces: list[str] = []

    class _Lines:
        def __iter__(self):
            return self

        def __next__(self):
            line = buf.readline()
            if not line:
                raise StopIteration
            pieces.append(line)
            return line

    reader = csv.reader(_Lines(), strict=False)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            row = None
        raw = "".join(pieces)
        pieces.clear()
        yield row, raw


def parse_csv(text: str, codec: str, layout: Layout, res: FileResult, opts: ParseOptions):
    rows = _csv_rows(text)
    header_row = None
    for row, _raw in rows:
        if row:
            header_row = row
            break
    if header_row is None:
        res.status, res.message = "rejected", "no header row; expected a CSV header"
        return
    header = [norm_name(c) for c in header_row]
    missing = missing_required_columns(header, layout)
    if missing:
        res.status = "rejected"
        res.message = (f"missing required column(s) {', '.join(missing)} for layout "
                       f"{layout.name}; header was: {', '.join(header)}")
        return
    targets = [layout.fields.get(h) for h in header]
    seen: set = set()
    index = 0
    blank = 0
    for row, raw in rows:
        if row is not None and (len(row) == 0 or (len(row) == 1 and not row[0].strip()
                                                  and len(header) > 1)):
            if not enc.has_bad_bytes(raw):
                blank += 1
                continue
        res.records_read += 1
        raw_line = raw.rstrip("\r\n")
        if enc.has_bad_bytes(raw):
            _reject(res, index, ENCODING_ERROR, raw_line, codec, f"bytes invalid in {codec}")
        elif row is None or len(row) != len(header):
            _reject(res, index, FIELD_COUNT, raw_line, codec,
                    f"{0 if row is None else len(row)} fields, header has {len(header)}")
        else:
            values = {}
            for t, v in zip(targets, row):
                if t and not values.get(t):
                    values[t] = _clean_value(v)
            _accept(res, index, values, layout, raw_line, codec, seen)
        index += 1
    if blank:
        res.notes.append(f"{blank} blank line(s) skipped")


# --------------------------------------------------------------------------- JSONL

def _json_value(v):
    if v is None:
        return None
    if isinstance(v, list):
        items = [str(x).strip() for x in v if x is not None and str(x).strip()]
        return json.dumps(items, ensure_ascii=False) if items else None
    if isinstance(v, (dict,)):
        return json.dumps(v, ensure_ascii=False)
    return _clean_value(v)


def parse_jsonl(text: str, codec: str, layout: Layout, res: FileResult, opts: ParseOptions):
    seen: set = set()
    index = 0
    for line in _LINE.split(text):
        if not line.strip():
            continue
        res.records_read += 1
        if enc.has_bad_bytes(line):
            _reject(res, index, ENCODING_ERROR, line, codec, f"bytes invalid in {codec}")
            index += 1
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            _reject(res, index, TRUNCATED, line, codec, "not a complete JSON object")
            index += 1
            continue
        values = {}
        for k, v in obj.items():
            logical = layout.fields.get(norm_name(str(k)))
            if logical and not values.get(logical):
                values[logical] = _json_value(v)
        _accept(res, index, values, layout, line, codec, seen)
        index += 1


_PARSERS = {"trs": parse_trs, "incopat": parse_csv, "patsnap": parse_csv, "jsonl": parse_jsonl}


def parse_file(source_file: str, data: bytes, opts: ParseOptions,
               batch: str | None = None) -> FileResult:
    """Parse one raw export. Never raises on bad content: file-level problems come back
    as ``status='rejected'`` with a message, record-level ones as rejected records.
    ``batch`` is :func:`batch_id` of ``data`` when the caller has it already."""
    res = FileResult(source_file=source_file, batch_id=batch or batch_id(data))
    if not data.strip():
        res.status, res.message = "rejected", "empty file; expected a raw export"
        return res
    try:
        decoded = enc.decode(data, opts.utf8_min_share, opts.binary_max_control_share)
    except enc.BinaryFile as exc:
        res.status, res.message = "rejected", f"binary content: {exc}"
        return res
    res.encoding = decoded.encoding
    if opts.layout == "auto":
        det = detect_layout(decoded.text, opts.layouts, opts.min_header_matches)
        if det.layout is None:
            res.status = "rejected"
            res.message = f"unknown layout: {det.reason}; expected one of " \
                          f"{', '.join(opts.layouts)} (docs/raw-formats.md)"
            return res
        res.layout = det.layout
    else:
        res.layout = opts.layout
    _PARSERS[res.layout](decoded.text, decoded.codec, opts.layouts[res.layout], res, opts)
    res.check_invariant()
    return res
