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


RUN_ALL_RECORDS = 20_000


@pytest.fixture(scope="session")
def run_all_small(cfg, spark, engines, tmp_path_factory):
    """run-all on 20,000 simulated applications (default seed) into a temporary lake and
    reports directory, once per session: the run-all test checks its files and estimates,
    the notebooks test reads its lake. The placebo runs 50 replications and the mediation
    bootstrap is off (both are tested on their own in tests/econ)."""
    import time
    from types import SimpleNamespace

    from patentpanel.stages import run_all

    root = tmp_path_factory.mktemp("run_all")
    c = cfg.with_overrides([f"lake.root={root / 'lake'}", f"inputs.simulated={root / 'sim'}",
                            f"outputs.reports={root / 'reports'}", "estimate.placebo.replications=50",
                            "estimate.mediation.bootstrap=0"])
    ctx = RunContext(c, _spark=spark, _engines=engines)
    wall, cpu, jvm = time.perf_counter(), time.process_time(), _jvm_cpu_seconds(spark)
    summary = run_all.run(ctx, argparse.Namespace(raw=None, records=RUN_ALL_RECORDS, from_stage=None))
    return SimpleNamespace(ctx=ctx, summary=summary, root=root, lake=root / "lake", sim=root / "sim",
                           reports=root / "reports", seconds=time.perf_counter() - wall,
                           python_cpu_seconds=time.process_time() - cpu,
                           jvm_cpu_seconds=(_jvm_cpu_seconds(spark) - jvm) if jvm is not None else None)


def _jvm_cpu_seconds(spark) -> float | None:
    """User + system CPU seconds of the local Spark JVM so far (None where not readable):
    wall time on a shared machine says little, CPU time is what the run costs."""
    import os
    proc = getattr(getattr(spark.sparkContext, "_gateway", None), "proc", None)
    try:
        fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError, IndexError):
        return None
