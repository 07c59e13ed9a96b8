"""`patentpanel refresh --raw NEW_EXPORTS`: the yearly data refresh.

Ingests the new exports into bronze (files already ingested are recognised by their
content hash and skipped), cleans only the new batches into silver (merged by
application number), then recomputes everything that depends on silver: classify,
network, panels, estimate and report. When no file is new, nothing is recomputed and no
table gets a new version, so running the same refresh twice changes nothing.
"""
from __future__ import annotations

import argparse
import logging

from .run_all import PIPELINE, run_stages

log = logging.getLogger("patentpanel.refresh")

DOWNSTREAM = PIPELINE[PIPELINE.index("clean"):]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", required=True,
                        help="directory or glob of the new raw exports")
    parser.add_argument("--layout", default=None,
                        help="declare the layout of every new file instead of detecting it")
    parser.add_argument("--until", choices=DOWNSTREAM, default=DOWNSTREAM[-1],
                        help="last stage to recompute (default: report)")


def run(ctx, args) -> dict:
    from ..ingest import job as ingest_job
    ing = ingest_job.run(ctx, argparse.Namespace(input=args.raw, layout=args.layout)) or {}
    if not ing.get("batches"):
        log.info("refresh: no new records in %s (%s file(s) already ingested); nothing to "
                 "recompute", args.raw, ing.get("skipped_known", 0))
        return {"new_batches": 0, "ingest": ing, "stages_run": ["ingest"]}
    stages = DOWNSTREAM[: DOWNSTREAM.index(args.until) + 1]
    done = run_stages(ctx, stages, argparse.Namespace(raw=None, records=None))
    return {"new_batches": ing["batches"], "ingest": ing,
            "stages_run": ["ingest", *done["stages_run"]], **{k: v for k, v in done.items()
                                                               if k != "stages_run"}}
