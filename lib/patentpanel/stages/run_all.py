"""`patentpanel run-all`: every stage in pipeline order, in one Spark session.

On the embedded default it first simulates the paper-scale raw exports (unless
``--raw`` names real exports), then runs ingest → clean → classify → network → panels →
estimate → report. Each stage also runs alone and picks up from the Delta tables.
A stage whose module is not part of this build is reported as missing and the run stops
there (later stages need its tables).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import time

from ..cli import STAGES

log = logging.getLogger("patentpanel.run_all")

PIPELINE = ["simulate", "ingest", "clean", "classify", "network", "panels", "estimate", "report"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", default=None,
                        help="directory or glob of real raw exports (skips the simulator)")
    parser.add_argument("--records", type=int, default=None,
                        help="simulated applications (default: simulate.records in conf)")
    parser.add_argument("--from-stage", choices=PIPELINE, default=None,
                        help="start at this stage, using the tables earlier stages wrote")


def _stage_args(name: str, module, args: argparse.Namespace) -> argparse.Namespace:
    """The stage's own defaults, with the run-all options that apply to it."""
    p = argparse.ArgumentParser(add_help=False)
    if hasattr(module, "add_arguments"):
        module.add_arguments(p)
    ns = p.parse_args([])
    if args.raw and hasattr(ns, "input"):      # ingest's --input
        ns.input = args.raw
    if args.records is not None and hasattr(ns, "records"):
        ns.records = args.records
    return ns


def run(ctx, args) -> dict:
    stages = PIPELINE[PIPELINE.index(args.from_stage):] if args.from_stage else list(PIPELINE)
    if args.raw and "simulate" in stages:
        stages.remove("simulate")
    return run_stages(ctx, stages, args)


def run_stages(ctx, stages: list[str], args: argparse.Namespace) -> dict:
    """Run ``stages`` in order with their default options (plus what ``args`` carries)."""
    done: dict[str, dict] = {}
    for name in stages:
        try:
            module = importlib.import_module(STAGES[name][0])
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("patentpanel"):
                log.warning("run-all: stage %s is not part of this build (%s); stopping before it",
                            name, exc.name)
                return {"stages_run": list(done), "stopped_before": name, **{k: v for k, v in done.items()}}
            raise
        t0 = time.perf_counter()
        ctx.spark.sparkContext.setJobGroup(f"patentpanel-{name}", f"patentpanel stage {name}")
        summary = module.run(ctx, _stage_args(name, module, args)) or {}
        secs = time.perf_counter() - t0
        log.info("stage %-9s %7.1f s  %s", name, secs,
                 ", ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, (dict, list))))
        done[name] = {**summary, "seconds": round(secs, 2)}
    return {"stages_run": list(done), **done}
