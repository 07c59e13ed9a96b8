"""Collapsing the A and B publications of one application into one silver row."""
from __future__ import annotations

from patentpanel.clean.patents import collapse

OPTIONS = {"kind_preference": ["B", "C", "A", "U", "Y", "S", "D"]}
COLUMNS = ("app_no", "pub_no", "title", "abstract", "address", "province_code", "ipc",
           "ipc_main", "patent_type", "source_file", "record_index", "batch_id")


def _row(app_no, pub_no, *, title="t", abstract="a", file="f1", index=0, batch="b1",
         address="addr"):
    return (app_no, pub_no, title, abstract, address, "11", "G06N3/08", "G06N3/08", "发明",
            file, index, batch)


def _collapse(spark, rows):
    df = spark.createDataFrame(rows, ", ".join(
        f"{c} {'long' if c == 'record_index' else 'string'}" for c in COLUMNS))
    out = collapse(df, OPTIONS).toPandas().sort_values("app_no").reset_index(drop=True)
    return {r.app_no: r for r in out.itertuples()}


def test_granted_publication_speaks_and_publications_are_counted(spark):
    got = _collapse(spark, [
        _row("CN1", "CN100A", title="application text", index=0),
        _row("CN1", "CN100B", title="granted text", file="f2", index=5),
        _row("CN2", "CN200A", index=1),
        _row("CN3", None, index=2),
    ])
    assert sorted(got) == ["CN1", "CN2", "CN3"]
    assert got["CN1"].title == "granted text" and got["CN1"].n_publications == 2
    assert got["CN2"].n_publications == 1
    assert got["CN3"].n_publications == 1          # no publication number: still one


def test_ties_go_to_the_most_complete_then_the_first_record(spark):
    got = _collapse(spark, [
        _row("CN1", "CN100A", title="sparse", address=None, index=0),
        _row("CN1", "CN100A", title="complete", file="f1", index=7),
        _row("CN2", "CN200A", title="second", file="f2", index=3),
        _row("CN2", "CN200A", title="first", file="f1", index=9),
        # the same file name and position in two batches: exactly one row survives
        _row("CN3", "CN300A", title="batch b1", index=4, batch="b1"),
        _row("CN3", "CN300A", title="batch b2", index=4, batch="b2"),
    ])
    assert got["CN1"].title == "complete"
    assert got["CN1"].n_publications == 1          # one distinct publication number
    assert got["CN2"].title == "first"
    assert got["CN3"].title == "batch b1"
