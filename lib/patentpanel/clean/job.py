"""The ``clean`` stage: bronze.patent_records -> silver.patents, silver.applicants,
silver.organisations (+ clean-stage rows of bronze.quarantine).

:func:`transform` is pure (DataFrames in, DataFrames out). :func:`run` cleans the whole
bronze table (the organisation gazetteer needs every first-applicant record) but writes
only the applications touched by batches not cleaned before, merged by application
number, so a new year's export never rewrites or duplicates earlier years; the batches
done are recorded in ``silver.clean_log``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..geo.geocode import Geocoder, geocode_pairs
from ..ingest.layouts import LOGICAL_FIELDS
from ..session import release
from . import organisations as orgs
from .applicants import split_applicants, type_names
from .patents import collapse, patent_columns, publications

log = logging.getLogger("patentpanel.clean")

RECORDS = "bronze.patent_records"
QUARANTINE = "bronze.quarantine"
REPORT = "bronze.ingest_report"
PATENTS = "silver.patents"
APPLICANTS = "silver.applicants"
ORGANISATIONS = "silver.organisations"
CLEAN_LOG = "silver.clean_log"
MISSING_APPLICANT = "missing_applicant"

PATENT_COLUMNS = ("app_no", "patent_type", "type_conflict", "pct", "app_date", "app_year",
                  "title", "abstract", "ipc_main", "ipc_codes", "n_applicants",
                  "has_individual", "all_mainland", "is_cooperative", "n_publications")
APPLICANT_COLUMNS = ("app_no", "position", "name_raw", "name", "applicant_type", "type_rule",
                     "province_code", "city_code", "city_name", "region_method", "share",
                     "app_year")
_OWN_OK = ("resolved", "province_admin", "hmt", "foreign")


class AccountingError(AssertionError):
    """Bronze records in != publications accepted + quarantined by clean."""


@dataclass
class CleanResult:
    publications: DataFrame      # every bronze record with app_no, reason (null = good)
    patents: DataFrame
    applicants: DataFrame
    organisations: DataFrame
    quarantine: DataFrame
    cached: list = field(default_factory=list)   # intermediates to release after the writes


def add_arguments(parser) -> None:
    parser.add_argument("--full", action="store_true",
                        help="rewrite the silver tables from all of bronze instead of "
                             "merging the applications of new batches")


def transform(records: DataFrame, geocoder: Geocoder, section: Mapping, city_names: DataFrame
              ) -> CleanResult:
    """Pure transform; ``section`` is the ``ingest`` configuration section and
    ``city_names`` has (city_code, city_name) of the 2020 regions."""
    copts = section["clean"]
    seps = {k: v["separator"] for k, v in section["layouts"].items()}
    pubs = publications(records, copts).withColumn(
        "_names", split_applicants(F.col("applicants"), seps))
    pubs = pubs.withColumn("reason", F.coalesce(
        "reason", F.when(F.size("_names") == 0, F.lit(MISSING_APPLICANT))))
    # materialise: cuts the lineage, which keeps Spark's plan analysis fast downstream,
    # and every later use (quarantine, counts, collapse) reads the parsed publications
    # instead of re-parsing bronze (the quarantine alone is read three times by a merge)
    pubs = pubs.localCheckpoint()
    raw_json = F.to_json(F.struct(*[F.col("app_no_raw").alias("app_no") if f == "app_no"
                                    else F.col(f) for f in LOGICAL_FIELDS]))
    quarantine = (pubs.where(F.col("reason").isNotNull())
                  .select(F.lit("clean").alias("stage"), "batch_id", "source_file",
                          "source_layout", "encoding", "record_index", "reason",
                          F.concat(F.lit("app_no="), F.coalesce("app_no_raw", F.lit("")),
                                   F.lit(" app_date="), F.coalesce("app_date", F.lit("")))
                          .alias("detail"),
                          raw_json.alias("raw_text"), F.col("app_no_raw").alias("app_no"),
                          F.current_timestamp().alias("quarantined_at")))
    # row blocks, not persist()'s compressed columnar cache: building that for the wide
    # titles and abstracts cost more CPU than both later scans of the rows save
    apps = collapse(pubs.where(F.col("reason").isNull()), copts).localCheckpoint()
    base = patent_columns(apps, copts)

    rows = (apps.select("app_no", F.col("app_date_parsed").alias("app_date"), "address",
                        "province_code", F.posexplode("_names").alias("pos", "name_raw"),
                        F.size("_names").alias("n_applicants"))
            .withColumn("position", (F.col("pos") + 1).cast("int")).drop("pos"))
    typed = type_names(rows, section["applicants"]["rules"])
    rows = rows.join(typed, "name_raw", "left")

    # the first applicant's address, parsed once per distinct (address, code) and joined
    # straight onto the first applicants' rows (one shuffle, not three)
    first = rows.where("position = 1").select(F.col("address").alias("_a"),
                                               F.col("province_code").alias("_c"))
    geo = geocode_pairs(first, geocoder)
    on_first = ((F.col("position") == 1) & F.col("address").eqNullSafe(F.col("_a"))
                & F.col("province_code").eqNullSafe(F.col("_c")))
    rows = rows.join(geo, on_first, "left").drop("_a", "_c")
    rows = rows.localCheckpoint()
    checkpointed_rows = rows
    raw_code = F.upper(F.trim(F.col("province_code")))
    own_type = (F.when(F.col("geo_status") == "hmt", F.lit("hmt"))
                .when(F.col("geo_status") == "foreign", F.lit("foreign")))
    own_rule = F.when(raw_code.rlike("^[A-Z]{2}$") & (raw_code != "CN"),
                      F.concat(F.lit("code_"), own_type)) \
        .otherwise(F.concat(F.lit("address_"), own_type))
    rows = (rows.withColumn("applicant_type", F.coalesce(own_type, F.col("name_type")))
            .withColumn("type_rule", F.when(own_type.isNotNull(), own_rule)
                        .otherwise(F.col("name_rule"))))

    rows = rows.withColumn("_own_ok", F.coalesce(
        (F.col("position") == 1) & F.col("geo_status").isin(*_OWN_OK), F.lit(False)))
    own_ok = F.col("_own_ok")
    evidence = (rows.where(own_ok & (F.col("applicant_type") != "individual"))
                .select("name", "app_date", F.col("geo_province_code").alias("province_code"),
                        F.col("geo_city_code").alias("city_code"), "applicant_type"))
    segs = orgs.segments(evidence).persist()
    gopts = section["geo"]
    # Only the applicants not placed by their own address (co-applicants, unresolved
    # first applicants: about a tenth of the rows) go through the gazetteer and the
    # name lookup; the others skip both shuffles and are unioned back.
    unplaced = rows.where(~own_ok)
    if gopts.get("use_org_gazetteer", True):
        need = orgs.place(unplaced, segs)
    else:
        need = unplaced.withColumn("org_province", F.lit(None).cast("string")) \
            .withColumn("org_city", F.lit(None).cast("string")) \
            .withColumn("org_type", F.lit(None).cast("string"))
    names = unplaced.select(F.col("name").alias("_a"), F.lit(None).cast("string").alias("_c")) \
        .where(F.col("_a").isNotNull())
    in_name = geocode_pairs(names, geocoder, prefix="nm_", names=True).select(
        F.col("_a").alias("name"), "nm_province_code", "nm_city_code")
    if not gopts.get("use_name_city", True):
        in_name = in_name.where(F.lit(False))
    need = need.join(in_name, "name", "left")
    placed_cols = ("org_province", "org_city", "org_type", "nm_province_code", "nm_city_code")
    done = rows.where(own_ok).select("*", *[F.lit(None).cast("string").alias(c)
                                            for c in placed_cols])
    rows = done.unionByName(need)

    org_non_mainland = F.col("org_type").isin("hmt", "foreign")
    by_org = F.col("org_city").isNotNull() | org_non_mainland
    by_name = F.col("nm_city_code").isNotNull()
    individual = F.col("applicant_type") == "individual"
    method = (F.when(own_ok, F.lit("own_address"))
              .when(~individual & by_org, F.lit("org_gazetteer"))
              .when(~individual & by_name, F.lit("name_contains_city"))
              .otherwise(F.lit("unresolved")))
    rows = rows.withColumn("region_method", method)
    province = (F.when(F.col("region_method") == "own_address", F.col("geo_province_code"))
                .when(F.col("region_method") == "org_gazetteer", F.col("org_province"))
                .when(F.col("region_method") == "name_contains_city", F.col("nm_province_code"))
                .otherwise(F.coalesce("geo_province_code", "org_province", "nm_province_code")))
    city = (F.when(F.col("region_method") == "own_address", F.col("geo_city_code"))
            .when(F.col("region_method") == "org_gazetteer", F.col("org_city"))
            .when(F.col("region_method") == "name_contains_city", F.col("nm_city_code"))
            .when(F.col("geo_province_code").isin("11", "12", "31", "50"), F.concat("geo_province_code", F.lit("0000"))))
    rows = (rows.withColumn("province_code", province).withColumn("city_code", city)
            .withColumn("type_rule", F.when((F.col("region_method") == "org_gazetteer")
                                            & org_non_mainland,
                                            F.concat(F.lit("org_gazetteer_"), F.col("org_type")))
                        .otherwise(F.col("type_rule")))
            .withColumn("applicant_type", F.when((F.col("region_method") == "org_gazetteer")
                                                 & org_non_mainland, F.col("org_type"))
                        .otherwise(F.col("applicant_type")))
            .join(city_names, "city_code", "left")
            .withColumn("share", 1.0 / F.col("n_applicants"))
            .withColumn("app_year", F.year("app_date")))
    applicants = rows.select(*APPLICANT_COLUMNS).persist()

    flags = (applicants.groupBy("app_no")
             .agg(F.count(F.lit(1)).cast("int").alias("n_applicants"),
                  F.max((F.col("applicant_type") == "individual").cast("int")).alias("_ind"),
                  F.max(F.col("applicant_type").isin("foreign", "hmt").cast("int"))
                  .alias("_nonmain")))
    patents = (base.join(flags, "app_no", "left")
               .withColumn("has_individual", F.col("_ind") == 1)
               .withColumn("all_mainland", F.col("_nonmain") == 0)
               .withColumn("is_cooperative", F.col("n_applicants") > 1)
               .select(*PATENT_COLUMNS))
    organisations = orgs.organisations(segs, city_names)
    return CleanResult(pubs, patents, applicants, organisations, quarantine,
                       [apps, checkpointed_rows, segs])


def _city_names(spark, geocoder: Geocoder) -> DataFrame:
    regions = geocoder.gaz.regions[["adcode", "name"]].rename(
        columns={"adcode": "city_code", "name": "city_name"})
    return spark.createDataFrame(regions)


def run(ctx, args) -> dict:
    cfg = ctx.cfg
    section = cfg.section("ingest")
    return clean(ctx.spark, ctx.store, Geocoder.from_config(cfg), section,
                 full=bool(getattr(args, "full", False)))


def clean(spark, store, geocoder: Geocoder, section: Mapping, full: bool = False) -> dict:
    """Clean bronze into silver; see the module doc for what is rewritten."""
    if not store.exists(RECORDS):
        log.warning("clean: %s does not exist; run ingest first", RECORDS)
        return {"batches": 0}
    records = store.read(RECORDS)
    batches = {r["batch_id"] for r in records.select("batch_id").distinct().collect()}
    done: set[str] = set()
    if store.exists(CLEAN_LOG) and not full:
        done = {r["batch_id"] for r in store.read(CLEAN_LOG).select("batch_id").collect()}
    new = sorted(batches - done)
    if not new:
        log.info("clean: no new batches")
        return {"batches": 0, "tables": []}
    res = transform(records, geocoder, section, _city_names(spark, geocoder))
    pubs = res.publications          # already materialised by transform (localCheckpoint)
    try:
        in_new = F.col("batch_id").isin(new)
        counts = {r["ok"]: r["count"] for r in
                  pubs.where(in_new).groupBy((F.col("reason").isNull()).alias("ok"))
                  .count().collect()}
        read = records.where(in_new).count()
        good, bad = counts.get(True, 0), counts.get(False, 0)
        if read != good + bad:
            raise AccountingError(f"clean: {read} bronze records of the new batches != "
                                  f"{good} accepted + {bad} quarantined")
        first_run = full or not store.exists(PATENTS)
        meta = {"stage": "clean"}
        if first_run:
            store.write(res.patents, PATENTS, mode="overwrite", partition_by=["app_year"],
                        metadata=meta)
            store.write(res.applicants, APPLICANTS, mode="overwrite", partition_by=["app_year"],
                        metadata=meta)
        else:
            touched = pubs.where(in_new & F.col("reason").isNull()).select("app_no").distinct()
            store.write(res.patents.join(touched, "app_no", "left_semi"), PATENTS,
                        mode="merge", keys=["app_no"], metadata=meta)
            store.write(res.applicants.join(touched, "app_no", "left_semi"), APPLICANTS,
                        mode="merge", keys=["app_no", "position"], metadata=meta)
        store.write(res.organisations, ORGANISATIONS, mode="overwrite", metadata=meta)
        q = res.quarantine.where(in_new)
        if bad:
            store.write(q, QUARANTINE, mode="merge", keys=["stage", "batch_id", "record_index"],
                        metadata=meta)
        by_reason = {r["reason"]: r["count"] for r in
                     pubs.where(in_new & F.col("reason").isNotNull()).groupBy("reason")
                     .count().collect()}
        log_rows = spark.createDataFrame([(b,) for b in new], "batch_id string") \
            .withColumn("cleaned_at", F.current_timestamp())
        store.write(log_rows, CLEAN_LOG, mode="overwrite" if full else "merge",
                    **({} if full else {"keys": ["batch_id"]}), metadata=meta)
    finally:
        release(pubs, res.applicants, *res.cached)
    summary = {"batches": len(new), "records": read, "publications_accepted": good,
               "quarantined": bad, "quarantined_by_reason": by_reason,
               "tables": [PATENTS, APPLICANTS, ORGANISATIONS, QUARANTINE]}
    log.info("clean: %d batch(es): %d records = %d accepted + %d quarantined %s",
             len(new), read, good, bad, by_reason)
    return summary
