"""silver.organisations: where an organisation is, learnt from the records in which it
is the FIRST applicant (real CNIPA records carry only the first applicant's address).

Evidence rows (name, app_date, province, city) are cut into segments: consecutive runs
(in date order) at one region. A co-applicant is placed at the segment nearest to its
application date (distance 0 inside a segment's date range, else to its nearer end);
because segments are consecutive runs, this is exactly "the evidence record with the
nearest application date wins"; ties go to the segment with more evidence, then the
lower city code.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

SEGMENT_COLUMNS = ("name", "seg", "province_code", "city_code", "first_date", "last_date",
                   "n_evidence", "org_type")


def segments(evidence: DataFrame) -> DataFrame:
    """``evidence``: name, app_date, province_code, city_code, applicant_type of first
    applicants whose own address resolved -> one row per (name, segment)."""
    w = Window.partitionBy("name").orderBy("app_date", "city_code", "province_code")
    region = F.concat_ws("|", F.coalesce("province_code", F.lit("")),
                         F.coalesce("city_code", F.lit("")))
    changed = (F.lag(region).over(w).isNull() | (F.lag(region).over(w) != region)).cast("int")
    seg = (evidence.withColumn("_region", region)
           .withColumn("_chg", changed)
           .withColumn("seg", F.sum("_chg").over(w.rowsBetween(Window.unboundedPreceding, 0))))
    return (seg.groupBy("name", "seg")
            .agg(F.first("province_code").alias("province_code"),
                 F.first("city_code").alias("city_code"),
                 F.min("app_date").alias("first_date"), F.max("app_date").alias("last_date"),
                 F.count(F.lit(1)).alias("n_evidence"),
                 F.mode("applicant_type").alias("org_type")))


def organisations(segs: DataFrame, city_names: DataFrame) -> DataFrame:
    """One row per organisation: its main region (most evidence, then the latest), the
    evidence count, date range and every segment."""
    seg_struct = F.struct("province_code", "city_code", "first_date", "last_date", "n_evidence")
    per_region = (segs.groupBy("name", "province_code", "city_code")
                  .agg(F.sum("n_evidence").alias("n"), F.max("last_date").alias("last")))
    w = Window.partitionBy("name").orderBy(F.desc("n"), F.desc("last"), "city_code")
    main = (per_region.withColumn("_r", F.row_number().over(w)).where("_r = 1")
            .select("name", "province_code", "city_code"))
    agg = (segs.groupBy("name")
           .agg(F.sum("n_evidence").cast("int").alias("n_evidence"),
                F.min("first_date").alias("first_date"), F.max("last_date").alias("last_date"),
                F.countDistinct(F.coalesce("city_code", "province_code")).cast("int")
                .alias("n_regions"),
                F.mode("org_type").alias("applicant_type"),
                F.sort_array(F.collect_list(F.struct("first_date", seg_struct.alias("s"))))
                .alias("_segs")))
    return (agg.join(main, "name").join(city_names, "city_code", "left")
            .select("name", "applicant_type", "province_code", "city_code", "city_name",
                    "n_evidence", "first_date", "last_date", "n_regions",
                    F.transform("_segs", lambda x: x["s"]).alias("segments")))


def place(rows: DataFrame, segs: DataFrame) -> DataFrame:
    """``rows`` (app_no, position, name, app_date, and any other columns, which are
    kept) -> the same with ``org_province``, ``org_city``, ``org_type`` from the nearest
    segment of that organisation (null when the organisation was never a first
    applicant with a resolved address)."""
    s = segs.select(F.col("name").alias("_n"), F.col("province_code").alias("org_province"),
                    F.col("city_code").alias("org_city"), F.col("org_type"),
                    "first_date", "last_date", "n_evidence")
    j = rows.join(s, rows["name"] == s["_n"], "left")
    dist = F.when(F.col("first_date").isNull(), F.lit(None)) \
        .when(F.col("app_date").between(F.col("first_date"), F.col("last_date")), F.lit(0)) \
        .otherwise(F.least(F.abs(F.datediff("app_date", "first_date")),
                           F.abs(F.datediff("app_date", "last_date"))))
    w = Window.partitionBy("app_no", "position").orderBy(
        F.asc_nulls_last("_dist"), F.desc("n_evidence"), "org_city")
    return (j.withColumn("_dist", dist).withColumn("_r", F.row_number().over(w))
            .where("_r = 1").drop("_r", "_dist", "_n", "first_date", "last_date", "n_evidence"))
