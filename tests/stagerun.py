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
