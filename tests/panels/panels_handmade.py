"""Hand-made silver rows for the panels tests: each patent is written out with its
applicants' cities so the expected counts can be read off by eye."""
from __future__ import annotations

import pandas as pd
from pyspark.sql import types as T

PATENT_SCHEMA = T.StructType([
    T.StructField("app_no", T.StringType()), T.StructField("patent_type", T.StringType()),
    T.StructField("pct", T.BooleanType()), T.StructField("app_year", T.IntegerType()),
    T.StructField("n_applicants", T.IntegerType()), T.StructField("has_individual", T.BooleanType()),
    T.StructField("all_mainland", T.BooleanType()), T.StructField("n_publications", T.IntegerType())])
APPLICANT_SCHEMA = T.StructType([
    T.StructField("app_no", T.StringType()), T.StructField("position", T.IntegerType()),
    T.StructField("city_code", T.StringType()), T.StructField("share", T.DoubleType()),
    T.StructField("app_year", T.IntegerType())])
AI_SCHEMA = T.StructType([
    T.StructField("app_no", T.StringType()), T.StructField("is_ai", T.BooleanType()),
    T.StructField("is_ai_ipc", T.BooleanType()), T.StructField("tier", T.StringType())])


def silver(spark, rows):
    """rows: (app_no, type, year, [cities of applicants 1..n; None = no city], has_individual,
    all_mainland, is_ai_ipc, is_ai, tier, pct, n_publications)."""
    pats, apps, ais = [], [], []
    for app_no, ptype, year, cities, indiv, mainland, ai_ipc, ai, tier, pct, npub in rows:
        n = len(cities)
        pats.append((app_no, ptype, pct, year, n, indiv, mainland, npub))
        for i, c in enumerate(cities, start=1):
            apps.append((app_no, i, c, 1.0 / n, year))
        ais.append((app_no, ai, ai_ipc, tier if ai else None))
    return (spark.createDataFrame(pats, PATENT_SCHEMA), spark.createDataFrame(apps, APPLICANT_SCHEMA),
            spark.createDataFrame(ais, AI_SCHEMA))


def p(app_no, cities, year=2015, ptype="invention", indiv=False, mainland=True, ai_ipc=True, ai=True,
      tier="CT", pct=False, npub=1):
    return (app_no, ptype, year, cities, indiv, mainland, ai_ipc, ai, tier, pct, npub)


def policies(rows):
    """rows: (doc_id, organ, date, level, province_adcode, city_adcode)."""
    return pd.DataFrame(rows, columns=["doc_id", "issuing_organ", "issue_date", "level", "province_adcode",
                                       "city_adcode"]).astype({"province_adcode": "string", "city_adcode": "string"})
