"""Stage ``classify``: silver.patents -> silver.ai_patents (AI flag under both studies'
definitions, tier, matches, ambiguity), with the review workflow and the accuracy report.

    patentpanel classify                                  # classify, apply review overrides
    patentpanel classify --export-review r1               # ... and export review sheets
    patentpanel classify --import-review r1               # read coders' sheets first
    patentpanel classify --truth data/sim/truth.parquet   # ... and score against true labels
"""
from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

from ..config import ConfigError, resolve_path

log = logging.getLogger("patentpanel.classify")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("classify")
    g.add_argument("--export-review", metavar="BATCH", default=None,
                   help="after classifying, export a review sample as batch BATCH")
    g.add_argument("--import-review", metavar="BATCH", default=None,
                   help="before classifying, import coders' sheets of batch BATCH into the "
                        "overrides table (and report agreement)")
    g.add_argument("--review-dir", default=None,
                   help="directory of review sheets (default: classify.review.output_dir)")
    g.add_argument("--truth", default=None, metavar="TABLE_OR_FILE",
                   help="score is_ai and tier against a truth table (layer.name in the lake, "
                        "or a .parquet/.csv/.json file) keyed by app_no")
    g.add_argument("--seed", type=int, default=None, help="review sample seed (default: run.seed)")
    g.add_argument("--no-overrides", action="store_true",
                   help="do not apply the review overrides table")


def _read_truth(ctx, spec: str):
    store = ctx.store
    if re.fullmatch(r"[A-Za-z_]\w*\.[A-Za-z_]\w*", spec) and store.exists(spec):
        return store.read(spec)
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"--truth {spec!r}: neither a lake table nor an existing file")
    reader = ctx.spark.read
    suffix = (path.suffix if path.is_file() else "").lower()
    if suffix == ".csv":
        return reader.option("header", True).option("inferSchema", True).csv(str(path))
    if suffix in (".json", ".jsonl"):
        return reader.json(str(path))
    return reader.parquet(str(path))


def _counts(df) -> dict:
    from pyspark.sql import functions as F
    n = lambda c: F.sum(F.col(c).cast("int"))  # noqa: E731  (ANSI mode: no sum(boolean))
    row = df.agg(F.count(F.lit(1)).alias("rows"), n("is_ai").alias("ai"),
                 n("is_ai_ipc").alias("ai_ipc"), n("is_ai_kw").alias("ai_keyword"),
                 n("ambiguous").alias("ambiguous"), n("generic_digital").alias("generic_digital"),
                 F.sum(F.col("override_source").isNotNull().cast("int")).alias("overridden"),
                 F.sum("n_invalid_codes").alias("invalid_ipc_codes"),
                 F.sum(F.col("app_no").isNull().cast("int")).alias("null_app_no"),
                 *[F.sum((F.col("tier") == t).cast("int")).alias(t) for t in ("FT", "CT", "GPT")]
                 ).collect()[0].asDict()
    return {k: int(v or 0) for k, v in row.items()}


def run(ctx, args) -> dict:
    from .accuracy import accuracy_report
    from .classifier import AIClassifier
    from .review import (ReviewBatch, apply_overrides, draw_review_sample, export_review_sample,
                         override_schema)

    cfg = ctx.cfg
    store = ctx.store
    spark = ctx.spark
    src, dst = cfg.get("classify.input_table"), cfg.get("classify.output_table")
    ov_table = cfg.get("classify.overrides_table")
    review_dir = Path(args.review_dir) if args.review_dir else \
        resolve_path(str(cfg.get("classify.review.output_dir")), cfg.directory)
    clf = AIClassifier.from_config(cfg)
    summary: dict = {"input": src, "output": dst, **clf.describe()}

    if args.import_review:
        batch = ReviewBatch.load(review_dir, args.import_review)
        report = batch.agreement()
        log.info("%s", report.summary())
        report.to_frame().to_csv(review_dir / f"{args.import_review}_agreement.csv", index=False)
        ov = batch.overrides()
        if len(ov):
            store.write(spark.createDataFrame(ov, override_schema()), ov_table, mode="merge",
                        keys=["app_no"], description="review decisions (agreement or consensus)")
        summary.update(review_batch=args.import_review, overrides_written=len(ov),
                       pending_disagreements=len(batch.disagreements()) -
                       int((ov["decision"] == "consensus").sum()))
        k = report.pairs[f"{list(batch.coders)[0]} vs {list(batch.coders)[1]}"]
        summary.update(kappa_is_ai=round(k["is_ai"].kappa, 4), kappa_label=round(k["label"].kappa, 4))

    patents = store.read(src)
    classified = clf.transform(patents)
    if not args.no_overrides and store.exists(ov_table):
        classified = apply_overrides(classified, store.read(ov_table))
        summary["overrides_table"] = ov_table
    version = store.write(classified, dst, mode="overwrite",
                          description="AI identification and FT/CT/GPT tier per application",
                          metadata={k: str(v) for k, v in clf.describe().items()})
    out = store.read(dst)
    counts = _counts(out)
    summary.update(version=version, **counts)
    log.info("classify: %d rows, %d AI (ipc %d, keyword %d), FT %d CT %d GPT %d, ambiguous %d, "
             "generic digital %d, overridden %d, unreadable IPC codes %d", counts["rows"],
             counts["ai"], counts["ai_ipc"], counts["ai_keyword"], counts["FT"], counts["CT"],
             counts["GPT"], counts["ambiguous"], counts["generic_digital"], counts["overridden"],
             counts["invalid_ipc_codes"])
    if counts["null_app_no"]:
        log.warning("classify: %d rows of %s have no app_no; they cannot be reviewed or joined",
                    counts["null_app_no"], src)

    if args.export_review:
        r = cfg.get("classify.review")
        seed = args.seed if args.seed is not None else int(cfg.get("run.seed"))
        text = patents.select("app_no", "title", "abstract", "ipc_codes")
        sample = draw_review_sample(out.join(text, "app_no", "left"), seed=seed,
                                    per_stratum=int(r["per_stratum"]), strata=tuple(r["strata"]),
                                    max_ambiguous=int(r["max_ambiguous"]))
        files = export_review_sample(sample, review_dir, args.export_review,
                                     show_auto_labels=bool(r["show_auto_labels"]))
        summary.update(review_rows=len(sample), review_files=[str(p) for p in files.values()])

    if args.truth:
        acc = cfg.get("classify.accuracy")
        rep = accuracy_report(out, _read_truth(ctx, args.truth), truth_is_ai=acc["truth_is_ai"],
                              truth_tier=acc["truth_tier"])
        log.info("accuracy against %s:\n%s", args.truth, rep.summary())
        reports = resolve_path(str(cfg.get("outputs.reports")), cfg.directory)
        reports.mkdir(parents=True, exist_ok=True)
        (reports / "classify_accuracy.json").write_text(
            json.dumps(rep.to_dict(), indent=2, default=float), encoding="utf-8")
        summary.update(precision=round(rep.precision, 4), recall=round(rep.recall, 4),
                       tier_accuracy=round(rep.tier_accuracy, 4))
    return summary
