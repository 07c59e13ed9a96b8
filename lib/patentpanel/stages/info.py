"""`patentpanel info`: the effective configuration and the engines a session would use."""
from __future__ import annotations

import argparse

from .. import __version__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-spark", action="store_true",
                        help="show the configuration only; do not start Spark")


def run(ctx, args) -> dict:
    summary = {"version": __version__, "config": ctx.cfg.fingerprint(),
               "sources": ctx.cfg.sources, "lake_root": ctx.cfg.get("lake.root")}
    if not args.no_spark:
        e = ctx.engines
        summary.update(spark=e.spark_version, master=e.master, storage=e.storage, graph=e.graph)
    return summary
