"""A small simulated export shared by the pipeline tests (simulated once per session)."""
from __future__ import annotations

import argparse

import pytest

from patentpanel.cli import RunContext


@pytest.fixture
def make_ctx(cfg, spark, engines):
    """A RunContext on the shared session with its own lake root (and --set items)."""
    def make(lake, *sets):
        c = cfg.with_overrides([f"lake.root={lake}", *sets])
        return RunContext(c, _spark=spark, _engines=engines)
    return make


@pytest.fixture(scope="session")
def small_sim(cfg, tmp_path_factory):
    """5,000 simulated applications in all layouts, with the truth manifest."""
    from patentpanel.simulate import job as sim_job
    out = tmp_path_factory.mktemp("sim")
    ctx = RunContext(cfg)
    sim_job.run(ctx, argparse.Namespace(records=5000, years=None, seed=11, out=str(out), layouts=None))
    return out
