"""The yearly refresh: new exports are merged into bronze and silver without duplicating
earlier records, what depends on them is recomputed, and a repeated refresh changes no
table (no new Delta version anywhere)."""
from __future__ import annotations

import argparse

from patentpanel.stages import refresh
from patentpanel.stages.run_all import run_stages

TABLES = ["bronze.patent_records", "bronze.quarantine", "bronze.ingest_report",
          "silver.patents", "silver.applicants", "silver.organisations", "silver.ai_patents"]


def _versions(store):
    return {t: store.version(t) for t in TABLES if store.exists(t)}


def test_refresh_merges_new_exports_and_is_idempotent(make_ctx, small_sim, tmp_path):
    ctx = make_ctx(tmp_path / "lake")
    raw = small_sim / "raw"
    # The first export: the TRS files only.
    from patentpanel.ingest import job as ingest_job
    first = ingest_job.run(ctx, argparse.Namespace(input=str(raw / "trs"), layout=None))
    assert first["batches"] >= 1
    run_stages(ctx, ["clean", "classify"], argparse.Namespace(raw=None, records=None))
    store = ctx.store
    n_before = store.read("silver.patents").count()
    ai_version = store.version("silver.ai_patents")

    # The refresh brings every layout; the TRS files are recognised and skipped.
    out = refresh.run(ctx, argparse.Namespace(raw=str(raw), layout=None, until="classify"))
    assert out["new_batches"] >= 1 and out["ingest"]["skipped_known"] == first["batches"]
    assert out["stages_run"] == ["ingest", "clean", "classify"]
    patents = store.read("silver.patents")
    n_after = patents.count()
    assert n_after > n_before
    assert patents.select("app_no").distinct().count() == n_after      # one row per application
    assert store.version("silver.ai_patents") > ai_version
    assert store.read("silver.ai_patents").count() == n_after
    # bronze holds every raw record once: read = accepted + quarantined + duplicates
    report = store.read("bronze.ingest_report").toPandas()
    assert (report.records_read == report.accepted + report.quarantined + report.duplicates).all()
    assert store.read("bronze.patent_records").count() == int(report.accepted.sum())

    # Running the same refresh again changes nothing.
    before = _versions(store)
    again = refresh.run(ctx, argparse.Namespace(raw=str(raw), layout=None, until="classify"))
    assert again["new_batches"] == 0 and again["stages_run"] == ["ingest"]
    assert _versions(store) == before
