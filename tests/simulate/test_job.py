"""The stage end to end: planted clusters at the default scale, byte-identical re-runs."""
from __future__ import annotations

import json

import pytest

from patentpanel.simulate.job import simulate


def _manifest(path):
    with open(path / "truth" / "manifest.json", encoding="utf-8") as fh:
        return json.load(fh)


def test_planted_cluster_structure(cfg, tmp_path):
    """At 300k applications (no rendering) the truth finds exactly the planted 33 LQ>1
    regions, the 4 small ones below the threshold and the 29 clusters, each with intra- and
    interregional links, interregional more numerous."""
    out = tmp_path / "big"
    s = simulate(cfg, out, records=300_000, seed=11, render=False)
    m = _manifest(out)
    assert s["clusters_match_planted"], set(m["clusters_planted"]) ^ set(m["clusters_truth"])
    assert len(m["lq_gt_1"]) == 33
    import pandas as pd
    lq = pd.read_parquet(out / "truth" / "lq.parquet")
    small = lq[lq["planted_group"] == "small_lq"]
    assert small["lq_gt_1"].all() and not small["above_threshold"].any()
    cl = lq[lq["cluster"]]
    assert (cl["intra"] > 0).all() and (cl["inter"] > cl["intra"]).all()


def test_rerun_identical_bytes_and_seed_changes(cfg, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(cfg, a, records=8_000, seed=5)
    simulate(cfg, b, records=8_000, seed=5)
    simulate(cfg, a, records=8_000, seed=5)            # idempotent re-run in place
    ma, mb = _manifest(a), _manifest(b)
    assert ma["files"] == mb["files"]
    assert (a / "truth" / "manifest.json").read_bytes() == (b / "truth" / "manifest.json").read_bytes()
    simulate(cfg, c, records=8_000, seed=6)
    mc = _manifest(c)
    diff = [k for k in ma["files"] if ma["files"][k] != mc["files"].get(k)]
    assert len(diff) > len(ma["files"]) // 2
    if ma["rendered"]:
        assert any(k.startswith("raw/") for k in ma["files"])
        assert ma["counts"]["bad_records"] > 0
