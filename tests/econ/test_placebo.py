"""Placebo (permutation) test of a GMM coefficient and the replication runners."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patentpanel.econ.distributed import (SerialRunner, SparkRunner, replication_rng,
                                          replication_seed)
from patentpanel.econ.gmm import GMMSpec
from patentpanel.econ.placebo import (PlaceboTest, _Layout, empirical_pvalues, kde_grid,
                                      permute_column)

from econ_sim_panels import cluster_year


@pytest.fixture(scope="module")
def panel(cfg):
    return cluster_year(cfg, seed=3)


@pytest.fixture(scope="module")
def spec(cfg):
    return GMMSpec.from_yaml(cfg.path("estimate.gmm.models_file"), "model2")


def test_replication_seed_is_the_spawned_child():
    # SeedSequence(root, spawn_key=(k, r)) == SeedSequence(root).spawn(k+1)[k].spawn(R)[r]
    import zlib
    k = zlib.crc32(b"placebo")
    child = np.random.SeedSequence(42, spawn_key=(k,)).spawn(20)[13]
    assert replication_seed(42, "placebo", 13).generate_state(4).tolist() == child.generate_state(4).tolist()
    small = np.random.SeedSequence(7).spawn(5)[3]
    assert np.random.SeedSequence(7, spawn_key=(3,)).generate_state(4).tolist() == small.generate_state(4).tolist()
    a = replication_rng(1, "placebo", 0).random(3)
    b = replication_rng(1, "montecarlo", 0).random(3)
    assert not np.array_equal(a, b)


def _toy_layout():
    df = pd.DataFrame({"e": np.repeat(["a", "b", "c", "d"], 3), "t": np.tile([1, 2, 3], 4)})
    df = df.drop(index=[5]).reset_index(drop=True)   # b lacks year 3: unbalanced
    return df, _Layout.of(df, "e", "t")


def test_within_year_keeps_each_years_multiset():
    df, lay = _toy_layout()
    v = np.arange(len(df), dtype=float) * 1.5
    rng = np.random.default_rng(0)
    changed = False
    for _ in range(20):
        out = permute_column(v, lay, "within_year", rng)
        for t in (1, 2, 3):
            m = (df["t"] == t).to_numpy()
            assert sorted(out[m]) == sorted(v[m])
        changed |= not np.array_equal(out, v)
    assert changed


def test_all_keeps_the_overall_multiset_and_mixes_years():
    df, lay = _toy_layout()
    v = np.arange(len(df), dtype=float)
    rng = np.random.default_rng(1)
    moved_year = False
    for _ in range(20):
        out = permute_column(v, lay, "all", rng)
        assert sorted(out) == sorted(v)
        moved_year |= any(sorted(out[(df["t"] == t).to_numpy()]) != sorted(v[(df["t"] == t).to_numpy()])
                          for t in (1, 2, 3))
    assert moved_year


def test_series_swaps_whole_series():
    df, lay = _toy_layout()
    v = np.arange(len(df), dtype=float) + 10
    series = {e: dict(zip(g["t"], v[g.index])) for e, g in df.groupby("e")}
    rng = np.random.default_rng(2)
    for _ in range(20):
        out = permute_column(v, lay, "series", rng)
        got = {e: dict(zip(g["t"], out[g.index])) for e, g in df.groupby("e")}
        for e, s in got.items():
            # the values present in e's years are a donor's series at the same years
            match = [d for d, ds in series.items()
                     if all((np.isnan(x) and t not in ds) or ds.get(t) == x for t, x in s.items())]
            assert match, (e, s)
        # a donor without year 3 leaves year 3 missing in the receiver
        assert sum(np.isnan(x) for s in got.values() for x in s.values()) <= 1


def test_empirical_pvalues_by_hand():
    draws = np.array([-0.3, -0.1, 0.0, 0.05, 0.2, 0.25, np.nan])
    p = empirical_pvalues(draws, 0.2)
    # |b_r| >= 0.2: -0.3, 0.2, 0.25 -> 3; b_r >= 0.2: 0.2, 0.25 -> 2; b_r <= 0.2: 5; S = 6
    assert p == {"two_sided": 4 / 7, "greater": 3 / 7, "less": 6 / 7, "n": 6}


def test_kde_grid_matches_scott_formula():
    d = np.array([0.0, 0.1, 0.3, 0.35, 0.8])
    x, y, h = kde_grid(d, real=1.5, points=101)
    n = len(d)
    h_ref = n ** (-1 / 5) * d.std(ddof=1)                   # Scott's factor times the SD
    assert h == pytest.approx(h_ref, rel=1e-12)
    assert x[0] == pytest.approx(d.min() - 3 * h) and x[-1] == pytest.approx(1.5 + 3 * h)
    ref = np.exp(-0.5 * ((x[:, None] - d[None, :]) / h) ** 2).sum(1) / (n * h * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(y, ref, rtol=1e-10)


def test_placebo_identical_across_partitions_runs_and_backends(spark, panel, spec):
    # xtabond2's invsym (the study-1 specs use pinv): its omissions exercise the failure path
    test = PlaceboTest(panel, spec, replications=20, seed=123, fit_options={"diff_hansen": False, "ginv": "invsym"})
    serial = test.run(SerialRunner())
    # With 92 instruments on 29 groups the two-step X'Z A Z'X is singular in 5 of these
    # permutations and ip is omitted: NaN, so a failed replication (these 5 used to enter
    # the placebo distribution as coefficient 0 with SE 0).
    failed = serial.draws[serial.draws["status"] != "ok"]
    assert serial.n_failed == 5 and len(serial.coefs) == 15
    assert list(failed["replication"]) == [4, 8, 11, 12, 16]
    assert failed["reason"].str.contains("GMMDataError: term 'ip' omitted").all() and (serial.coefs != 0).all()
    cols = ["replication", "coef", "se", "nobs", "n_instruments", "status"]
    for parts in (1, 2, 5):
        res = test.run(SparkRunner(spark, partitions=parts, poll_seconds=0.2))
        pd.testing.assert_frame_equal(res.draws[cols], serial.draws[cols], check_exact=True)
        assert res.summary() == serial.summary()
    again = PlaceboTest(panel, spec, replications=20, seed=123,
                        fit_options={"diff_hansen": False, "ginv": "invsym"}).run(SparkRunner(spark, partitions=2))
    pd.testing.assert_frame_equal(again.draws[cols], serial.draws[cols], check_exact=True)
    other = PlaceboTest(panel, spec, replications=20, seed=124,
                        fit_options={"diff_hansen": False, "ginv": "invsym"}).run(SerialRunner())
    assert not np.array_equal(other.coefs, serial.coefs)
    # replication r really estimates the permutation the test exposes: a full fit on the
    # permuted data, with one BLAS thread as in the runners (with 92 instruments on 29
    # groups the two-step weight is singular and threaded BLAS moves the 8th digit)
    from threadpoolctl import threadpool_limits
    data = panel.copy()
    data["ip"] = test.permuted(7)
    with threadpool_limits(limits=1):
        ref = spec.fit(data, **{**spec.fit_options, "diff_hansen": False, "ginv": "invsym"})
    assert serial.draws.loc[7, "coef"] == ref.params["ip"]
    # the summary's p-value is the hand count over the draws
    b, d = serial.real, serial.coefs
    assert serial.summary()["p_two_sided"] == (1 + np.sum(np.abs(d) >= abs(b))) / (len(d) + 1)
    assert serial.summary()["mean"] == pytest.approx(d.mean(), rel=1e-15)


def test_failed_replications_are_recorded_not_dropped(panel, spec):
    bad = panel.copy()
    # a column the placebo permutes that makes some fits impossible: all-constant IP in a
    # year layout still fits, so use a term that the specification drops instead
    test = PlaceboTest(bad, spec, column="ip", term="not_a_term", replications=3, seed=1,
                       fit_options={"diff_hansen": False})
    with pytest.raises(Exception, match="not_a_term"):
        test.run(SerialRunner())  # the real fit must not silently lack the term
    from patentpanel.econ.placebo import placebo_replication

    def flaky(r, p):
        if r == 1:
            raise np.linalg.LinAlgError("Singular matrix")
        return placebo_replication(r, p)
    test = PlaceboTest(panel, spec, replications=3, seed=1, fit_options={"diff_hansen": False})
    draws = SerialRunner().run(flaky, 3, test.payload())
    assert draws["status"].tolist() == ["ok", "failed", "ok"]
    assert draws.loc[1, "reason"] == "LinAlgError: Singular matrix"


def test_bad_scheme_and_missing_column(panel, spec):
    with pytest.raises(ValueError, match="scheme"):
        PlaceboTest(panel, spec, scheme="shuffle", seed=1)
    with pytest.raises(Exception, match="no column 'policy'"):
        PlaceboTest(panel, spec, column="policy", seed=1)
