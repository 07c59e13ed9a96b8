"""End to end on the loopback standalone cluster, exactly as the README's cluster section (the README's
cluster section) shows it: the walkthrough's bash block is run as written (cluster-up,
simulate a small sample, then ingest -> clean -> classify -> network -> panels, each a
separate ``./spark-submit.sh --master spark://... STAGE`` with its tasks in two executor
processes, cluster-down). The same raw exports then go through the same stages in local
mode (this test session's SparkSession: local[2] and 2 shuffle partitions against the
cluster run's 4), and every table both runs wrote must be equal: sorted rows; strings,
integers and booleans exactly; floats to 1e-12 (relative and absolute).

The walkthrough skips the network stage's organisation graph and GEXF/GraphML export
(``--skip-org-graph --skip-export``): they are its slowest part and no later table reads
them. The walkthrough's cluster is this module's one cluster; if the script fails, the
fixture stops it by the process ids in its state file.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterlib import ROOT, submit_env
from patentpanel.cluster import LocalCluster
from patentpanel.storage.delta_rs import WRITE_DIR_KEY

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TOL = 1e-12
# columns that record when a row was written, not what it says; and the embedded
# engine's per-write directory (pp_write=<time-id>/), which is storage layout
VOLATILE = {"ingested_at", "quarantined_at", "cleaned_at", "classified_at", "computed_at",
            "created_at", "updated_at", "written_at", "run_at", WRITE_DIR_KEY}


def lake_tables(root: Path) -> list[str]:
    """``layer.name`` of every Delta table under ``root``."""
    return sorted(f"{p.parent.parent.name}.{p.parent.name}"
                  for p in root.glob("*/*/_delta_log") if p.is_dir())


def read_table(root: Path, name: str) -> pd.DataFrame:
    """A Delta table's current version as pandas (delta-rs file list + pyarrow; the
    partition columns from the paths), without Spark."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from deltalake import DeltaTable
    path = root / Path(*name.split("."))
    dt = DeltaTable(str(path))
    files = [u.removeprefix("file://") for u in dt.file_uris()]
    if not files:
        return pd.DataFrame(columns=[f.name for f in dt.schema().fields])
    table = ds.dataset(files, format="parquet", partitioning="hive",
                       partition_base_dir=str(path)).to_table()
    df = table.to_pandas()
    for field in table.schema:   # a map's entries have no order: compare them as dicts
        if pa.types.is_map(field.type):
            df[field.name] = df[field.name].map(lambda v: None if v is None else dict(v))
    return df


def _key(v):
    """A sortable, exact-comparable form of one cell (lists, maps, structs as text)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "\x00null"
    if isinstance(v, (list, tuple, np.ndarray, dict)):
        return json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, sort_keys=True,
                          default=str, ensure_ascii=False)
    return v


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by every column (floats rounded to 9 digits for the order only, so a
    last-digit difference cannot reorder rows), columns by name, volatile columns dropped."""
    df = df[[c for c in sorted(df.columns) if c not in VOLATILE]].copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(_key)
    order = pd.DataFrame({c: (df[c].round(9) if df[c].dtype.kind == "f" else df[c].astype(str))
                          for c in df.columns})
    idx = order.sort_values(list(order.columns), kind="stable").index
    return df.loc[idx].reset_index(drop=True)


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    assert sorted(a.columns) == sorted(b.columns), f"{name}: columns differ"
    assert len(a) == len(b), f"{name}: {len(a)} rows on the cluster, {len(b)} in local mode"
    a, b = canonical(a), canonical(b)
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            np.testing.assert_allclose(x.to_numpy(float), y.to_numpy(float), rtol=TOL, atol=TOL,
                                       equal_nan=True, err_msg=f"{name}.{c}")
        else:
            bad = ~((x == y) | (x.isna() & y.isna()))
            assert not bad.any(), f"{name}.{c}: {int(bad.sum())} rows differ, e.g. " \
                                  f"{x[bad].iloc[0]!r} (cluster) vs {y[bad].iloc[0]!r} (local)"


def walkthrough() -> str:
    """The bash block of the README's loopback walkthrough."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"### Try it on one machine.*?```bash\n(.*?)```", text, re.S)
    assert m, "README.md: no bash block in the loopback walkthrough"
    return m.group(1)


def _local_stage(stage: str, ctx, argv):
    from patentpanel.cli import STAGES as REGISTRY
    module = importlib.import_module(REGISTRY[stage][0])
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(ctx, parser.parse_args(argv))


@pytest.fixture(scope="module")
def runs(spark, engines, cfg, tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    state = work / "cluster-state"
    env = {**submit_env(), "WORK": str(work), "PATENTPANEL_CLUSTER_STATE": str(state),
           "PATENTPANEL_CLUSTER_PORT": "0", "PATENTPANEL_CLUSTER_WEBUI_PORT": "0"}
    script = walkthrough()
    try:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=3600)
        assert r.returncode == 0, f"the walkthrough failed ({r.returncode}):\n{r.stderr[-4000:]}"
    finally:
        # the script's trap stops the cluster; this covers a timeout or a killed shell
        if (state / "cluster.json").exists():
            LocalCluster.from_state(state).stop()
    assert not (state / "cluster.json").exists(), "cluster-down did not run"
    assert LocalCluster(state_dir=state).leftover_processes() == []
    master = re.search(r"spark://127\.0\.0\.1:\d+", r.stdout)
    assert master, f"cluster-status printed no master URL:\n{r.stdout[-2000:]}"
    status = json.loads(r.stdout[r.stdout.index("{"):r.stdout.index("}") + 1])
    assert status["alive_workers"] == 2

    # the local-mode reference: the same raw exports, the same stages and options
    sets = dict(re.findall(r'--set ([^\s="]+)=([^\s"]+)', script.replace("$WORK", str(work))))
    local_lake = work / "lake_local"
    c = cfg.with_overrides([f"lake.root={local_lake}", f"inputs.simulated={sets['inputs.simulated']}",
                            f"run.seed={sets['run.seed']}"])
    from patentpanel.cli import RunContext
    ctx = RunContext(c, _spark=spark, _engines=engines)
    for stage, opts in documented_stages(script):
        _local_stage(stage, ctx, opts)
    return Path(sets["lake.root"]), local_lake, r


def documented_stages(script: str) -> list[tuple[str, list[str]]]:
    """(stage, its own options) of every ``--master "$MASTER" STAGE ... $RUN`` line after
    simulate, in order."""
    out = []
    for m in re.finditer(r'--master "\$MASTER" (\S+)(.*?) \$RUN', script):
        if m.group(1) != "simulate":
            out.append((m.group(1), m.group(2).split()))
    return out


def test_walkthrough_runs_the_pipeline_stages():
    stages = [s for s, _ in documented_stages(walkthrough())]
    assert stages == ["ingest", "clean", "classify", "network", "panels"]


def test_every_stage_wrote_its_tables_on_the_cluster(runs):
    cl_lake, _, _ = runs
    tables = lake_tables(cl_lake)
    for t in ("bronze.patent_records", "silver.patents", "silver.applicants", "silver.ai_patents",
              "gold.centrality", "gold.clusters", "gold.cluster_year", "gold.city120_year",
              "gold.firm_year"):
        assert t in tables, f"{t} missing after the cluster run ({tables})"
    records = int(re.search(r"simulate --records (\d+)", walkthrough()).group(1))
    assert len(read_table(cl_lake, "bronze.patent_records")) > 0.9 * records


def test_cluster_tables_equal_local_mode(runs):
    cl_lake, lo_lake, _ = runs
    cl, lo = lake_tables(cl_lake), lake_tables(lo_lake)
    assert cl == lo, f"tables only on the cluster: {set(cl) - set(lo)}; only local: {set(lo) - set(cl)}"
    for name in cl:
        assert_same_table(read_table(cl_lake, name), read_table(lo_lake, name), name)
