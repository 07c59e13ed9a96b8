"""bronze.patent_records -> publications with canonical numbers, dates and types, and
the silver.patents rows (one per application) after collapsing A/B publications.

Numbers, dates and types are Spark built-ins (the application number is checked with
the mod-11 rule written out as a weighted sum); the IPC fields are normalised by a
vectorised ``pandas_udf`` with a cache of raw codes (:func:`ipc_fields_col`).
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..classify.ipc import IPCFieldNormaliser

BAD_FORMAT = "bad_app_no_format"
BAD_CHECK = "bad_check_digit"
BAD_DATE = "bad_date"
WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)

_FULL = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
_HALF = "".join(chr(c) for c in range(0x21, 0x7F)) + " "
_APP_NO = r"^(?:CN|ZL)?(\d{12})\.?([0-9X])$"
_DATE_SEP = r"^(\d{4})[.\-/年](\d{1,2})[.\-/月](\d{1,2})日?$"
_DATE_COMPACT = r"^(\d{4})(\d{2})(\d{2})$"


def check_char(digits: str) -> str:
    """Mod-11 check character of the 12 digits of an application number (Python twin of
    :func:`app_no_columns`, for tests and tools)."""
    total = sum(int(d) * w for d, w in zip(digits, WEIGHTS))
    r = total % 11
    return "X" if r == 10 else str(r)


def _halfwidth_upper(col: Column) -> Column:
    return F.upper(F.regexp_replace(F.translate(col, _FULL, _HALF), r"\s+", ""))


def with_app_no(df: DataFrame, raw: str = "app_no_raw") -> DataFrame:
    """Add ``app_no`` (canonical ``CN`` + 12 digits + ``.`` + check), ``type_digit`` and
    ``app_no_error`` (null, bad_app_no_format or bad_check_digit) from column ``raw``.
    Intermediate columns keep the expression trees small (Spark's analyser is slow on
    deeply repeated expressions)."""
    df = df.withColumn("_s", _halfwidth_upper(F.col(raw)))
    df = (df.withColumn("_ok", F.col("_s").rlike(_APP_NO))
          .withColumn("_digits", F.regexp_extract("_s", _APP_NO, 1))
          .withColumn("_given", F.regexp_extract("_s", _APP_NO, 2)))
    total = sum(F.substring("_digits", i + 1, 1).try_cast("int") * w for i, w in enumerate(WEIGHTS))
    df = df.withColumn("_rem", total % 11)
    expected = F.when(F.col("_rem") == 10, F.lit("X")).otherwise(F.col("_rem").cast("string"))
    error = (F.when(~F.col("_ok") | F.col(raw).isNull(), F.lit(BAD_FORMAT))
             .when(expected != F.col("_given"), F.lit(BAD_CHECK)))
    return (df.withColumn("app_no", F.when(F.col("_ok"), F.concat(
                F.lit("CN"), F.col("_digits"), F.lit("."), F.col("_given"))))
            .withColumn("type_digit", F.when(F.col("_ok"), F.substring("_digits", 5, 1)))
            .withColumn("app_no_error", error)
            .drop("_s", "_ok", "_digits", "_given", "_rem"))


def with_date(df: DataFrame, raw: str, out: str, min_year: int, max_year: int) -> DataFrame:
    """Add ``out``: the raw date (2020.03.05, 2020-03-05, 2020/3/5, 20200305, 2020年3月5日)
    as a date, or null when unparseable, impossible (2019-02-30) or outside
    [min_year, max_year]."""
    df = df.withColumn("_ds", F.regexp_replace(F.translate(F.col(raw), _FULL, _HALF), r"\s+", ""))
    parts = []
    for i in (1, 2, 3):
        parts.append(F.coalesce(F.nullif(F.regexp_extract("_ds", _DATE_SEP, i), F.lit("")),
                                F.nullif(F.regexp_extract("_ds", _DATE_COMPACT, i), F.lit(""))))
    df = df.withColumn("_dt", F.concat_ws("-", parts[0], F.lpad(parts[1], 2, "0"),
                                          F.lpad(parts[2], 2, "0")))
    df = df.withColumn("_d", F.try_to_date(F.col("_dt"), "yyyy-MM-dd"))
    # round-trip: try_to_date is lenient about some impossible dates
    valid = (F.date_format("_d", "yyyy-MM-dd") == F.col("_dt")) & \
        F.year("_d").between(min_year, max_year)
    return df.withColumn(out, F.when(valid, F.col("_d"))).drop("_ds", "_dt", "_d")


def type_from_field(raw: Column, words: Mapping[str, str]) -> Column:
    """发明 / 发明专利 / 发明授权 / 实用新型 / 外观设计 (prefix match, NFKC) -> type."""
    s = F.lower(F.trim(F.translate(raw, _FULL, _HALF)))
    out = None
    for word, kind in sorted(words.items(), key=lambda kv: -len(kv[0])):
        cond = s.startswith(word.lower())
        out = F.when(cond, F.lit(kind)) if out is None else out.when(cond, F.lit(kind))
    return out


def publications(records: DataFrame, options: Mapping) -> DataFrame:
    """Bronze records with the clean columns: ``app_no``, ``type_digit``,
    ``app_no_error``, ``app_date_parsed``, ``reason`` (first failing check, or null)."""
    out = with_app_no(records.withColumnRenamed("app_no", "app_no_raw"))
    out = with_date(out, "app_date", "app_date_parsed", int(options["min_year"]),
                    int(options["max_year"]))
    return out.withColumn("reason", F.coalesce(
        F.col("app_no_error"), F.when(F.col("app_date_parsed").isNull(), F.lit(BAD_DATE))))


def collapse(pubs: DataFrame, options: Mapping) -> DataFrame:
    """Good publications -> one row per application (``n_publications`` = distinct
    publication numbers, at least 1). The row that speaks for the application is the
    publication with the preferred kind code (B before A: the granted text is final),
    then the most complete, then the first by (source_file, record_index, batch_id)."""
    kinds = list(options["kind_preference"])
    kind = F.regexp_extract(F.upper(F.coalesce(F.col("pub_no"), F.lit(""))), r"([A-Z])\d?$", 1)
    rank = F.lit(len(kinds))
    for i, k in reversed(list(enumerate(kinds))):
        rank = F.when(kind == k, F.lit(i)).otherwise(rank)
    filled = sum(F.col(c).isNotNull().cast("int") for c in
                 ("title", "abstract", "address", "province_code", "ipc", "ipc_main", "patent_type"))
    # Only the narrow sort key is shuffled: the winner of each application with more than
    # one publication (a few percent of rows) is found on (app_no, key), and the wide rows
    # (titles, abstracts) are then filtered where they are, with those winners broadcast.
    order = F.struct(rank.alias("r"), (-filled).alias("f"), F.col("source_file").alias("s"),
                     F.col("record_index").alias("i"), F.col("batch_id").alias("b"))
    multi = (pubs.select("app_no", order.alias("_key"), "pub_no")
             .groupBy("app_no")
             .agg(F.count(F.lit(1)).alias("_n"), F.min("_key").alias("_win"),
                  F.size(F.collect_set("pub_no")).alias("_n_pub"))
             .where(F.col("_n") > 1)
             .select(F.col("app_no").alias("_app"), F.col("_win.s").alias("_win_file"),
                     F.col("_win.i").alias("_win_index"), F.col("_win.b").alias("_win_batch"),
                     "_n_pub"))
    joined = pubs.join(F.broadcast(multi), pubs["app_no"] == multi["_app"], "left")
    winner = (F.col("_app").isNull()
              | ((F.col("source_file") == F.col("_win_file"))
                 & (F.col("record_index") == F.col("_win_index"))
                 & (F.col("batch_id") == F.col("_win_batch"))))
    return (joined.where(winner)
            .withColumn("n_publications", F.greatest(F.coalesce("_n_pub", F.lit(1)), F.lit(1)))
            .drop("_app", "_win_file", "_win_index", "_win_batch", "_n_pub"))


IPC_FIELDS = "struct<ipc_main:string,ipc_codes:array<string>>"


def ipc_fields_col(layout: Column, codes: Column, main: Column) -> Column:
    """``ipc_main`` and ``ipc_codes`` (main first, distinct, normal form) from a record's
    raw IPC list (a JSON array in the jsonl layout, a separated string otherwise) and
    main-code field: :class:`IPCFieldNormaliser` per Arrow batch in a ``pandas_udf``.
    The Spark regex expressions (``ipc_array_col``) give the same codes at about four
    times the CPU, because every raw code is parsed anew on every row."""
    return _ipc_fields_udf()(layout, codes, main)


def _ipc_fields_udf():
    @F.pandas_udf(IPC_FIELDS)
    def ipc_fields(layout: pd.Series, codes: pd.Series, main: pd.Series) -> pd.DataFrame:
        norm = IPCFieldNormaliser()
        mains, lists = [], []
        for lay, raw, m in zip(layout.tolist(), codes.tolist(), main.tolist()):
            code, all_codes = norm.fields(raw, m, json_list=(lay == "jsonl"))
            mains.append(code)
            lists.append(all_codes)
        return pd.DataFrame({"ipc_main": mains, "ipc_codes": lists})
    return ipc_fields


def patent_columns(apps: DataFrame, options: Mapping) -> DataFrame:
    """Application rows -> the silver.patents columns except the applicant flags."""
    digit_map = options["type_digits"]
    by_digit = None
    pct = None
    for digit, (kind, is_pct) in digit_map.items():
        c = F.col("type_digit") == digit
        by_digit = F.when(c, F.lit(kind)) if by_digit is None else by_digit.when(c, F.lit(kind))
        pct = F.when(c, F.lit(bool(is_pct))) if pct is None else pct.when(c, F.lit(bool(is_pct)))
    field_type = type_from_field(F.col("patent_type"), options["type_words"])
    return (apps
            .withColumn("_field_type", field_type)
            .withColumn("patent_type_n", F.coalesce(by_digit, F.col("_field_type")))
            .withColumn("type_conflict", F.coalesce(
                (F.col("_field_type").isNotNull() & by_digit.isNotNull()
                 & (F.col("_field_type") != by_digit)), F.lit(False)))
            .withColumn("pct", F.coalesce(pct, F.lit(False)))
            .withColumn("app_year", F.year("app_date_parsed"))
            .withColumn("_ipc", ipc_fields_col(F.col("source_layout"), F.col("ipc"),
                                               F.col("ipc_main")))
            .select("app_no", F.col("patent_type_n").alias("patent_type"), "type_conflict",
                    "pct", F.col("app_date_parsed").alias("app_date"), "app_year", "title",
                    "abstract", F.col("_ipc.ipc_main").alias("ipc_main"),
                    F.col("_ipc.ipc_codes").alias("ipc_codes"),
                    "n_publications"))
