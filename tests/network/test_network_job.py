"""Edges, Table 1 counts, LQ, clusters and the network stage on hand-made silver tables.

Patents (AI unless said; year 2015 unless said):
P1 A(BJ) B(BJ) C(SH): A-B intra BJ, A-C and B-C inter BJ-SH (note 19)
P2 A(BJ) D(SZ), 2016          P3 A + individual E: excluded
P4 A + Hong Kong F: excluded  P5 B C, not AI: only in the LQ denominator
P6 D alone                    P7 A listed twice + B: one pair A-B
P8 A B in 2010: outside the window
P9 C(SH) G(unlocated): an org edge, no region edge
P10 C(SH) H(SH), 2016: intra SH
"""
from __future__ import annotations

import types
from pathlib import Path

import pandas as pd
import pytest

from patentpanel.network import job as network_job
from patentpanel.network.edges import (PatentFilter, collaboration_counts, eligible_applicants,
                                       org_edges, patent_pairs, region_edges)

BJ, SH, SZ, GZ = "110000", "310000", "440300", "440100"

APPLICANTS = [
    # app_no, position, name, type, city_code, year
    ("P1", 1, "A", "enterprise", BJ, 2015), ("P1", 2, "B", "university", BJ, 2015),
    ("P1", 3, "C", "institute", SH, 2015),
    ("P2", 1, "A", "enterprise", BJ, 2016), ("P2", 2, "D", "enterprise", SZ, 2016),
    ("P3", 1, "A", "enterprise", BJ, 2015), ("P3", 2, "E", "individual", None, 2015),
    ("P4", 1, "A", "enterprise", BJ, 2015), ("P4", 2, "F", "hmt", None, 2015),
    ("P5", 1, "B", "university", BJ, 2015), ("P5", 2, "C", "institute", SH, 2015),
    ("P6", 1, "D", "enterprise", SZ, 2015),
    ("P7", 1, "A", "enterprise", BJ, 2015), ("P7", 2, "A", "enterprise", BJ, 2015),
    ("P7", 3, "B", "university", BJ, 2015),
    ("P8", 1, "A", "enterprise", BJ, 2010), ("P8", 2, "B", "university", BJ, 2010),
    ("P9", 1, "C", "institute", SH, 2015), ("P9", 2, "G", "enterprise", None, 2015),
    ("P10", 1, "C", "institute", SH, 2016), ("P10", 2, "H", "enterprise", SH, 2016),
]
PATENTS = {  # app_no: (year, has_individual, all_mainland, is_ai)
    "P1": (2015, False, True, True), "P2": (2016, False, True, True),
    "P3": (2015, True, True, True), "P4": (2015, False, False, True),
    "P5": (2015, False, True, False), "P6": (2015, False, True, True),
    "P7": (2015, False, True, True), "P8": (2010, False, True, True),
    "P9": (2015, False, True, True), "P10": (2016, False, True, True),
}


@pytest.fixture(scope="module")
def silver(spark):
    a = spark.createDataFrame(
        [(n, p, nm, t, c, None if c is None else "x", 1.0, y) for n, p, nm, t, c, y in APPLICANTS],
        "app_no string, position int, name string, applicant_type string, city_code string, "
        "city_name string, share double, app_year int")
    p = spark.createDataFrame(
        [(k, y, "invention", True, hi, am) for k, (y, hi, am, _) in PATENTS.items()],
        "app_no string, app_year int, patent_type string, is_cooperative boolean, "
        "has_individual boolean, all_mainland boolean")
    # is_ai (the classifier's rule) differs from study 1's is_ai_ipc on P6 only, a
    # single-applicant patent: the network must follow is_ai_ipc (test_ai_flag_...)
    ai = spark.createDataFrame([(k, v[3] and k != "P6", v[3], "CT" if v[3] else None)
                                for k, v in PATENTS.items()],
                               "app_no string, is_ai boolean, is_ai_ipc boolean, tier string")
    return a, p, ai


@pytest.fixture(scope="module")
def regions():
    return pd.DataFrame({"city_code": [BJ, SH, SZ, GZ], "city_name": ["北京市", "上海市", "深圳市", "广州市"],
                         "name_en": ["Beijing", "Shanghai", "Shenzhen", "Guangzhou"]})


def test_pairs_edges_and_table1_counts(silver):
    a, p, ai = silver
    elig = eligible_applicants(a, p, ai, PatentFilter(2011, 2020))
    pairs = patent_pairs(elig, "newman").persist()   # four checks below read it
    got = sorted((r.app_no, r.org_a, r.org_b) for r in pairs.collect())
    assert got == [("P1", "A", "B"), ("P1", "A", "C"), ("P1", "B", "C"), ("P10", "C", "H"),
                   ("P2", "A", "D"), ("P7", "A", "B"), ("P9", "C", "G")]
    oe = {(r.app_year, r.org_a, r.org_b): (r.n_collab, r.weight) for r in org_edges(pairs).collect()}
    assert oe[(2015, "A", "B")] == (2, 1.5)   # P1 (1/(3-1)) + P7 (1/(2-1))
    assert oe[(2015, "C", "G")] == (1, 1.0)
    reg = region_edges(pairs).persist()
    re_ = {(r.app_year, r.region_a, r.region_b): (r.n_collab, r.is_intra)
           for r in reg.collect()}
    assert re_ == {(2015, BJ, BJ): (2, True), (2015, BJ, SH): (2, False),
                   (2016, BJ, SZ): (1, False), (2016, SH, SH): (1, True)}
    cc = {(r.city_code, r.app_year): (r.intra, r.inter)
          for r in collaboration_counts(reg).collect()}
    assert cc == {(BJ, 2015): (2, 2), (SH, 2015): (0, 2), (BJ, 2016): (0, 1),
                  (SZ, 2016): (0, 1), (SH, 2016): (1, 0)}
    reg.unpersist()
    pairs.unpersist()


def test_drop_applicant_keeps_mainland_pairs(silver):
    a, p, ai = silver
    elig = eligible_applicants(a, p, ai, PatentFilter(2011, 2020, non_mainland="drop_applicant"))
    apps = {r.app_no for r in patent_pairs(elig).collect()}
    assert "P4" not in apps  # A alone remains after dropping the Hong Kong applicant
    with pytest.raises(ValueError, match="non_mainland"):
        PatentFilter(2011, 2020, non_mainland="keep")


def test_null_applicant_type_is_kept(silver):
    from pyspark.sql import functions as F
    a, p, ai = silver
    a2 = a.withColumn("applicant_type", F.when(F.col("name") == "H", None)
                      .otherwise(F.col("applicant_type")))
    elig = eligible_applicants(a2, p, ai, PatentFilter(2011, 2020, non_mainland="drop_applicant"))
    assert "P10" in {r.app_no for r in patent_pairs(elig).collect()}


def test_missing_column_is_named(silver):
    a, p, ai = silver
    with pytest.raises(ValueError, match=r"silver.applicants: missing column\(s\) \['city_code'\]"):
        eligible_applicants(a.drop("city_code"), p, ai, PatentFilter(2011, 2020))


def test_ai_flag_selects_the_definition(silver):
    from patentpanel.network.lq import region_applications
    a, p, ai = silver
    counts = {}
    for flag in ("is_ai_ipc", "is_ai"):
        elig = eligible_applicants(a, p, ai, PatentFilter(2011, 2020, ai_flag=flag), ai_only=False)
        apps = region_applications(None, elig, "first_applicant").toPandas()
        counts[flag] = {(r.city_code, r.app_year): (r.ai_apps, r.all_apps, r.coop_ai_apps)
                        for r in apps.itertuples()}
    # P6 (SZ 2015, alone) is AI by codes only; P9's first applicant C is in SH
    assert counts["is_ai_ipc"][(SZ, 2015)] == (1.0, 1.0, 0.0)
    assert counts["is_ai"][(SZ, 2015)] == (0.0, 1.0, 0.0)
    # BJ 2015: P1, P7 AI and cooperative, P5 not AI
    assert counts["is_ai_ipc"][(BJ, 2015)] == (2.0, 3.0, 2.0)
    with pytest.raises(ValueError, match="ai_flag"):
        PatentFilter(2011, 2020, ai_flag="is_ai_title")
    with pytest.raises(ValueError, match=r"silver.ai_patents: missing column\(s\) \['is_ai_ipc'\]"):
        eligible_applicants(a, p, ai.drop("is_ai_ipc"), PatentFilter(2011, 2020))


def test_driver_region_tables_equal_spark_ones(silver):
    """region_edges_frame / collaboration_counts_frame (driver) == the Spark transforms."""
    from patentpanel.network.edges import (collaboration_counts_frame, region_edges_frame,
                                           region_pair_counts)
    a, p, ai = silver
    pairs = patent_pairs(eligible_applicants(a, p, ai, PatentFilter(2011, 2020)), "pair_share").persist()
    pc = region_pair_counts(pairs).toPandas()
    assert int(pc.loc[pc.region_a.isna(), "n_collab"].sum()) == 1     # P9's C-G
    reg = region_edges_frame(pc)
    spark_reg = (region_edges(pairs).toPandas().sort_values(["app_year", "region_a", "region_b"])
                 .reset_index(drop=True))
    pd.testing.assert_frame_equal(reg, spark_reg, check_dtype=False)
    cc = collaboration_counts_frame(reg)
    spark_cc = (collaboration_counts(region_edges(pairs)).toPandas()
                .sort_values(["city_code", "app_year"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(cc, spark_cc, check_dtype=False, rtol=1e-15)
    pairs.unpersist()


class FakeStore:
    def __init__(self, tables):
        self.tables, self.written = tables, {}

    def read(self, name):
        return self.tables[name]

    def write(self, df, name, mode="overwrite", **kw):
        assert mode == "overwrite"
        self.written[name] = df.toPandas()
        return 0


def test_stage_end_to_end(spark, cfg, silver, regions, tmp_path):
    a, p, ai = silver
    gaz = tmp_path / "regions.csv"
    regions.rename(columns={"city_code": "adcode", "city_name": "name"}).to_csv(gaz, index=False)
    c = cfg.with_overrides(["network.lq.percentile=50", f"network.lq.gazetteer={gaz}",
                            "network.org_graph.max_iter=4", "network.org_graph.tol=0",
                            # the stage's default path (auto -> the driver engine here);
                            # the DataFrame engine is checked in test_network_graph.py
                            "network.org_graph.landmarks=1", "graph.engine=auto",
                            f"outputs.reports={tmp_path / 'reports'}"])
    store = FakeStore({"silver.applicants": a, "silver.patents": p, "silver.ai_patents": ai})
    ctx = types.SimpleNamespace(cfg=c, spark=spark, store=store)
    summary = network_job.run(ctx, types.SimpleNamespace(skip_org_graph=False, skip_export=False))
    w = store.written
    assert set(w) == {"gold.org_edges", "gold.region_edges", "gold.collaboration_counts",
                      "gold.centrality", "gold.region_lq", "gold.clusters",
                      "gold.threshold_sensitivity", "gold.org_graph"}
    assert summary["cooperative_patents"] == 5 and summary["collaborations"] == 7
    assert summary["unlocated_collaborations"] == 1
    # P1-P10 minus P8 (2010) are in the window: P3 has an individual, P4 is non-mainland
    assert (summary["patents_in_window"], summary["excluded_individual"],
            summary["excluded_non_mainland"]) == (9, 1, 1)
    lq = w["gold.region_lq"].set_index("city_code")
    # first applicants: A = BJ 3, SZ 1, SH 2 (6); P = BJ 4 (P5 too), SZ 1, SH 2 (7)
    assert lq.loc[BJ, "lq"] == pytest.approx((3 / 4) / (6 / 7), rel=1e-14)
    assert lq.loc[SH, "lq"] == pytest.approx((2 / 2) / (6 / 7), rel=1e-14)
    assert lq.loc[GZ, "ai_total"] == 0
    # AI totals [0, 1, 2, 3]: 50th percentile (linear) = 1.5 -> SZ (1) excluded
    assert lq.loc[SH, "threshold"] == pytest.approx(1.5)
    assert list(lq.index[lq["potential"]]) == [SH]
    cl = w["gold.clusters"].set_index("city_code")
    assert bool(cl.loc[SH, "is_cluster"]) and (cl.loc[SH, "intra"], cl.loc[SH, "inter"]) == (1, 2)
    sens = w["gold.threshold_sensitivity"]
    assert list(sens.loc[sens.percentile == 80, "excluded_codes"].iloc[0]) == [SH, SZ]
    cen = w["gold.centrality"]
    y15 = cen[cen.app_year == 2015].set_index("city_code")
    assert sorted(y15.index) == [BJ, SH] and y15.loc[BJ, "nc"] == pytest.approx(100.0)
    y16 = cen[cen.app_year == 2016].set_index("city_code")
    # active nodes BJ, SZ, SH (SH intra only); ucinet x100: BJ 2/(1+3), SH 2/(3+3)
    assert y16.loc[BJ, "nc"] == pytest.approx(50.0) and y16.loc[SH, "nc"] == pytest.approx(100 / 3)
    assert bool(y16.loc[SH, "is_cluster"]) and (y16["nc_convention"] == "ucinet").all()
    og = w["gold.org_graph"].set_index("name")
    assert og.loc["A", "degree"] == 3 and og.loc["C", "degree"] == 4
    assert og["component"].nunique() == 1 and (og["component_size"] == 6).all()  # A B C D G H
    assert og.loc["H", "landmark_distances"] == {"C": 1}  # C has the highest degree
    assert og["pagerank"].sum() == pytest.approx(1.0, abs=1e-12)
    for f in summary["exports"]:
        assert Path(f).stat().st_size > 0
