"""Run one stage module the way the CLI does (its own argument parser, then run(ctx,
args)), for tests that drive the pipeline stage by stage."""
from __future__ import annotations

import argparse
import importlib


def run_stage(module: str, ctx, argv=()):
    """``module.run(ctx, args)`` with ``argv`` parsed by the stage's own arguments."""
    mod = importlib.import_module(module)
    parser = argparse.ArgumentParser()
    if hasattr(mod, "add_arguments"):
        mod.add_arguments(parser)
    return mod.run(ctx, parser.parse_args(list(argv)))


def simulate_to_silver(spark, cfg, tmp_path_factory, records: int, name: str = "sim"):
    """Simulate ``records`` applications and run ingest + clean on them into a fresh lake.
    Returns ``(out_dir, store, ingest_summary, clean_summary)``."""
    from patentpanel.clean.job import clean
    from patentpanel.geo.geocode import Geocoder
    from patentpanel.ingest.job import ingest, list_inputs, parse_options
    from patentpanel.simulate.job import simulate
    from patentpanel.storage import TableStore
    out = tmp_path_factory.mktemp(name)
    simulate(cfg, out, records=records)
    store = TableStore(spark, str(tmp_path_factory.mktemp(f"lake_{name}")), engine="auto")
    section = cfg.section("ingest")
    ing = ingest(spark, store, list_inputs(str(out / "raw"), section["patterns"]),
                 parse_options(section))
    cl = clean(spark, store, Geocoder.from_config(cfg), section)
    return out, store, ing, cl
