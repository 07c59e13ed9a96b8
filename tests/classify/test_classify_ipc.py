"""IPC normalisation and code-list matching: hand-written cases, the Spark expressions
checked against the Python functions on the same inputs."""
from __future__ import annotations

import pytest

from patentpanel.classify.ipc import (CodeList, CodePattern, IPCFieldNormaliser, IPCFormatError,
                                      ipc_array_col, normalize_ipc, normalize_ipc_col,
                                      parse_code_col, split_ipc_list)
from patentpanel.classify.taxonomy import Taxonomy, TaxonomyError

NORMALISE = [
    ("G06N 3/08", "G06N3/08"),
    ("G06N3/08(2006.01)", "G06N3/08"),
    ("G06N 3/08 (2006.01)", "G06N3/08"),
    ("G06N  3/08", "G06N3/08"),
    ("g06n3/08", "G06N3/08"),
    ("Ｇ０６Ｎ３／０８", "G06N3/08"),                 # full-width
    ("Ｇ06Ｎ 3/08（2006.01）", "G06N3/08"),           # full-width brackets
    ("G06N0003/08", "G06N3/08"),                      # zero-padded main group
    ("G06N0003080000", "G06N3/08"),                   # 14-character compact form
    ("G06N0003063000", "G06N3/063"),
    ("A61B 5/0476", "A61B5/0476"),
    ("G06F 40/30", "G06F40/30"),
    ("G06N 3/00", "G06N3/00"),
    (" G06V10/82 [2022.01] ", "G06V10/82"),
    ("G06N", None), ("G06N3", None), ("3/08", None), ("", None), ("Z99Z1/00", None),
    ("G06N3/0", None),
]


@pytest.mark.parametrize("raw,expected", NORMALISE)
def test_normalize_ipc(raw, expected):
    assert normalize_ipc(raw) == expected


def test_normalize_strict_names_the_value():
    with pytest.raises(IPCFormatError, match="'G06N'"):
        normalize_ipc("G06N", strict=True)


@pytest.mark.parametrize("raw", [
    "G06N 3/08；G06F 17/30", "G06N3/08;G06F17/30", "G06N 3/08 | G06F 17/30",
    "G06N3/08(2006.01); G06F17/30(2006.01); g06n 3/08", "G06N3/08，G06F17/30"])
def test_split_lists(raw):
    assert split_ipc_list(raw) == ["G06N3/08", "G06F17/30"]


def test_split_list_drops_unreadable_unless_strict():
    assert split_ipc_list("G06N3/08; junk; ") == ["G06N3/08"]
    with pytest.raises(IPCFormatError, match="junk"):
        split_ipc_list("G06N3/08; junk", strict=True)


@pytest.mark.parametrize("codes, main, json_list, expected", [
    # the main-code field comes first, the list follows without repeats
    ("G06F 17/30；G06N 3/08 (2006.01)", "G06N3/08", False, ("G06N3/08", ["G06N3/08", "G06F17/30"])),
    # no readable main field: the first readable code of the list is the main code
    ("junk | G06V 10/82 | G06N3/08", None, False, ("G06V10/82", ["G06V10/82", "G06N3/08"])),
    ("G06N3/08、G06F17/30", "", False, ("G06N3/08", ["G06N3/08", "G06F17/30"])),
    ('["G06N 3/08", "G06F17/30", null]', None, True, ("G06N3/08", ["G06N3/08", "G06F17/30"])),
    ("not json", "G06N3/08", True, ("G06N3/08", ["G06N3/08"])),
    ('"G06N3/08"', None, True, (None, [])),            # a JSON string, not a list
    (None, None, False, (None, [])),
    (None, "Ｇ06Ｎ 3/08（2006.01）", False, ("G06N3/08", ["G06N3/08"])),
])
def test_field_normaliser(codes, main, json_list, expected):
    norm = IPCFieldNormaliser()
    assert norm.fields(codes, main, json_list=json_list) == expected
    # the cache answers a second time exactly as the first
    assert norm.fields(codes, main, json_list=json_list) == expected


def test_field_normaliser_agrees_with_split_ipc_list():
    norm = IPCFieldNormaliser()
    for raw in ["G06N 3/08；G06F 17/30", "G06N3/08(2006.01); G06F17/30(2006.01); g06n 3/08",
                "G06N3/08; junk; ", "A61B 5/0476 , G06K 9/62"]:
        main, codes = norm.fields(raw, None)
        assert codes == split_ipc_list(raw) and main == codes[0]


def test_spark_normalisation_agrees_with_python(spark):
    from pyspark.sql import functions as F
    df = spark.createDataFrame([(r,) for r, _ in NORMALISE], "raw string")
    got = {r["raw"]: r["n"] for r in df.select("raw", normalize_ipc_col(F.col("raw")).alias("n")).collect()}
    assert got == {r: e for r, e in NORMALISE}
    lists = spark.createDataFrame([("G06N 3/08；G06F 17/30 | g06n3/08 ; junk",)], "s string")
    row = lists.select(ipc_array_col(F.col("s"), is_array=False).alias("c")).first()
    assert row["c"] == ["G06N3/08", "G06F17/30"]


def test_clean_stage_ipc_udf_agrees_with_spark_expressions(spark):
    """The clean stage's pandas_udf against the Spark regex expressions, row by row."""
    from pyspark.sql import functions as F

    from patentpanel.clean.patents import ipc_fields_col
    raws = [r for r, _ in NORMALISE]
    rows = [("trs", "；".join(raws[i:i + 3]), raws[-i - 1]) for i in range(len(raws))]
    rows += [("patsnap", " | ".join(raws[i:i + 4]), None) for i in range(len(raws))]
    df = spark.createDataFrame(rows, "layout string, ipc string, ipc_main string")
    ref_codes = ipc_array_col(F.split(F.col("ipc"), r"[;；|,，]"))
    ref_main = F.coalesce(normalize_ipc_col(F.col("ipc_main")), F.try_element_at(ref_codes, F.lit(1)))
    out = df.select(
        ipc_fields_col(F.col("layout"), F.col("ipc"), F.col("ipc_main")).alias("udf"),
        ref_main.alias("main"),
        F.array_distinct(F.concat(F.when(ref_main.isNotNull(), F.array(ref_main))
                                  .otherwise(F.array()), ref_codes)).alias("codes")).collect()
    assert len(out) == len(rows)
    for r in out:
        assert (r["udf"]["ipc_main"], list(r["udf"]["ipc_codes"])) == (r["main"], list(r["codes"]))


@pytest.mark.parametrize("pattern,inside,outside", [
    ("G06N3/00-12", ["G06N3/00", "G06N3/02", "G06N3/063", "G06N3/067", "G06N3/08", "G06N3/0464",
                     "G06N3/10", "G06N3/12", "G06N3/126"],
     ["G06N3/13", "G06N3/20", "G06N5/00", "G06F3/08"]),
    ("A61B5/0476-0478", ["A61B5/0476", "A61B5/0477", "A61B5/0478", "A61B5/04784"],
     ["A61B5/0475", "A61B5/0479", "A61B5/048", "A61B5/04"]),
    ("G06F9/44", ["G06F9/44", "G06F9/445", "G06F9/448", "G06F9/4401"], ["G06F9/455", "G06F9/45", "G06F9/4"]),
    ("G06N3/00", ["G06N3/00"], ["G06N3/02", "G06N3/08"]),          # /00 is the code itself
    ("G06N5", ["G06N5/00", "G06N5/02", "G06N5/048"], ["G06N7/02"]),
    ("G06Q", ["G06Q10/08", "G06Q50/22"], ["G06N3/08"]),
    ("G06V10/70-82", ["G06V10/70", "G06V10/764", "G06V10/82"], ["G06V10/84", "G06V10/60"]),
])
def test_pattern_ranges(pattern, inside, outside):
    p = CodePattern.parse(pattern)
    assert [c for c in inside if not p.matches(c)] == []
    assert [c for c in outside if p.matches(c)] == []


def test_spark_matching_agrees_with_python(spark):
    from pyspark.sql import functions as F
    codes = CodeList.from_patterns(["G06N3/00-12", "A61B5/0476-0478", "G06F9/44", "G06Q"])
    sample = ["G06N3/063", "G06N3/13", "A61B5/0477", "A61B5/0479", "G06F9/4401", "G06F9/455",
              "G06Q10/08", "H04L67/10"]
    df = spark.createDataFrame([(sample,)], "c array<string>")
    got = df.select(codes.matched_codes_col(parse_code_col(F.col("c"))).alias("m")).first()["m"]
    assert got == [c for c in sample if codes.match(c)]
    assert got == ["G06N3/063", "A61B5/0477", "G06F9/4401", "G06Q10/08"]


def test_bad_patterns_raise():
    with pytest.raises(IPCFormatError, match="G06N3/12-00"):
        CodePattern.parse("G06N3/12-00")
    with pytest.raises(IPCFormatError, match="expected"):
        CodePattern.parse("neural")


@pytest.fixture(scope="module")
def taxonomy():
    from patentpanel.config import conf_dir
    return Taxonomy.load(conf_dir() / "taxonomy" / "taxonomy.yaml")


def test_revision_bridges(taxonomy, spark):
    """G06K9/62 (IPC <= 2021) and G06V10/82 (IPC >= 2022) both count through the bridge
    group; with enforce_validity they count only inside their IPC version window; without
    the bridge group neither counts (the SEI 2021 list has only G06K9/66)."""
    from pyspark.sql import functions as F
    on = taxonomy.ipc_list({"sei2021": True, "bridge": True, "wipo2019": False})
    off = taxonomy.ipc_list({"sei2021": True, "bridge": False, "wipo2019": False})
    assert on.match("G06K9/62", 2019) and on.match("G06V10/82", 2023)
    assert not off.match("G06K9/62", 2019) and not off.match("G06V10/82", 2023)
    assert off.match("G06K9/66", 2019)
    assert on.match("A61B5/372", 2022) and not off.match("A61B5/372", 2022)
    assert not on.match("A61B5/333", 2022)            # ECG: not a successor of the EEG codes
    assert not on.match("G06V10/82", 2019, enforce_validity=True)
    assert not on.match("G06K9/62", 2023, enforce_validity=True)
    assert on.match("G06K9/62", 2019, enforce_validity=True)
    rows = [(2019, ["G06K9/62"]), (2023, ["G06V10/82"]), (2019, ["G06V10/82"]), (2023, ["G06K9/62"])]
    df = spark.createDataFrame(rows, "y int, c array<string>")
    p = parse_code_col(F.col("c"))
    got = df.select(on.any_col(p, F.col("y")).alias("loose"),
                    on.any_col(p, F.col("y"), enforce_validity=True).alias("strict")).collect()
    assert [(r["loose"], r["strict"]) for r in got] == [(True, True), (True, True), (True, False),
                                                         (True, False)]


def test_groups_switch(taxonomy):
    assert not taxonomy.ipc_list({"sei2021": True, "bridge": True, "wipo2019": False}).match("G06N20/00")
    assert taxonomy.ipc_list({"sei2021": True, "bridge": True, "wipo2019": True}).match("G06N20/00")
    assert taxonomy.ipc_list({"sei2021": False, "bridge": False, "wipo2019": True}).match("G10L15/16")
    with pytest.raises(TaxonomyError, match="wipo2020"):
        taxonomy.ipc_list({"wipo2020": True})


def test_sei_codes_from_domain_notes_are_covered(taxonomy):
    sei = taxonomy.ipc_list({"sei2021": True})
    listed = ["G06F40/30", "A61B5/0476", "A61B5/0478", "G05B15/02", "G06K9/66", "G07C9/00",
              "G08B19/00", "G08B25/10", "G06F9/44", "G06F9/455", "G06N3/00", "G06N3/02",
              "G06N3/04", "G06N3/06", "G06N3/063", "G06N3/067", "G06N3/08", "G06N3/10",
              "G06N3/12", "G06N5/00", "G06N5/02", "G06N5/04", "G06F1/16", "G06F3/01"]
    assert [c for c in listed if not sei.match(c)] == []


def test_tier_anchors_are_disjoint(taxonomy):
    a, b = taxonomy.tier_anchors["FT"], taxonomy.tier_anchors["CT"]
    assert a.overlapping_pairs(b) == []
    assert CodePattern.parse("G06N3/00-12").overlaps(CodePattern.parse("G06N3/063"))
    assert not CodePattern.parse("G06N3/02-04").overlaps(CodePattern.parse("G06N3/06-067"))


@pytest.mark.parametrize("enforce", [False, True])
def test_code_flagger_agrees_with_spark_expressions(taxonomy, spark, enforce):
    """The Python per-record IPC results used by the classifier (CodeFlagger) equal the
    Spark expressions (matched_codes_col / any_col) on the same codes and years,
    including the IPC version windows when validity is enforced."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    from patentpanel.classify.ipc import CodeFlagger
    codes = taxonomy.ipc_list({"sei2021": True, "bridge": True, "wipo2019": True})
    anchors = taxonomy.tier_anchors
    rows = [(["G06K9/62", "G06V10/82", "G06Q10/08"], 2019), (["G06K9/62", "G06V10/82"], 2023),
            (["G06N3/063", "H04L67/10", "G06N3/08"], 2020), (["F16K1/00"], None), ([], 2018),
            (None, 2018), (["A61B5/0476", "A61B5/369", "G06F9/44", "B25J9/16"], 2021),
            (["G06N20/00", None, "G16H50/20"], 2015)]
    df = spark.createDataFrame(rows, "c array<string>, y int")
    p = parse_code_col(F.col("c"))
    y = F.col("y")
    spec = codes.subset(strength="specific")
    want = df.select(codes.matched_codes_col(p, y, enforce_validity=enforce).alias("m"),
                     spec.any_col(p, y, enforce_validity=enforce).alias("s"),
                     *[anchors[t].any_col(p).cast("int").alias(t) for t in anchors]).collect()
    f = CodeFlagger(codes, anchors, enforce_validity=enforce, codes_col="c", year_col="y")
    batch = pa.RecordBatch.from_pydict({"c": [r[0] for r in rows], "y": [r[1] for r in rows]})
    got = [a.to_pylist() for a in f.arrow_columns(batch)]
    assert got[0] == [r["m"] for r in want]
    assert got[1] == [r["s"] for r in want]
    for k, t in enumerate(anchors):
        assert got[2 + k] == [r[t] for r in want], t
    assert [x.name for x in f.fields()] == ["matched_codes", "_ipc_specific", *[f"_A_{t}" for t in anchors]]
    # the windows matter in this sample: G06K9/62 in 2023 and G06V10/82 in 2019 drop out
    assert (got[0][0] == ["G06K9/62", "G06V10/82"]) != enforce
