"""Co-application edges (study 1, note 19) as pure Spark transforms.

Every cooperative AI patent that survives the exclusions turns each unordered pair of its
applicants into one collaboration: applicants A, B, C give A-B, A-C and B-C. Geolocated
to regions (the applicant rows' ``city_code``), a pair is intraregional when both ends
are in the same region and interregional otherwise.

Outputs, per application year:

* ``org_edges``  (app_year, org_a, org_b, n_collab, weight), org_a < org_b by name;
* ``region_edges`` (app_year, region_a, region_b, is_intra, n_collab, weight),
  region_a <= region_b; intraregional pairs are the rows with region_a == region_b;
* ``collaboration_counts`` (city_code, app_year, intra, inter, intra_weight,
  inter_weight): Table 1's intra- and interregional collaborations of a region. A pair
  inside region r counts once for r; a pair between r and s counts once for each.

Region-level results are region x year sized (at most ~340² pairs a year however many
patents there are), so the stage aggregates pairs in Spark once
(:func:`region_pair_counts`) and derives the region tables on the driver
(:func:`region_edges_frame`, :func:`collaboration_counts_frame`); the Spark versions
:func:`region_edges` and :func:`collaboration_counts` compute the same tables.

``weight`` is the optional fractional weight of a pair on a patent with k applicants:
``count`` 1, ``newman`` 1/(k-1), ``pair_share`` 1/C(k,2) (configuration
``network.edges.weight``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

log = logging.getLogger("patentpanel.network.edges")

__all__ = ["PatentFilter", "eligible_applications", "eligible_applicants", "applications_of", "exclusion_counts", "patent_pairs", "org_edges",
           "region_edges", "collaboration_counts", "region_pair_counts", "region_edges_frame",
           "collaboration_counts_frame", "require_columns", "WEIGHTINGS", "AI_FLAGS"]

WEIGHTINGS = ("count", "newman", "pair_share")
PATENT_TYPES = ("invention", "utility", "design")
NON_MAINLAND = ("drop_patent", "drop_applicant")
# Which silver.ai_patents column defines an AI patent: study 1 (the network, LQ and
# clusters) uses the AI IPC codes; is_ai is the classifier's configured rule.
AI_FLAGS = ("is_ai_ipc", "is_ai", "is_ai_kw")

APPLICANT_COLUMNS = ("app_no", "position", "name", "applicant_type", "city_code", "app_year")
PATENT_COLUMNS = ("app_no", "app_year", "patent_type", "has_individual", "all_mainland")


def require_columns(df: DataFrame, columns: Iterable[str], table: str) -> None:
    """Raise ValueError naming the table and the missing columns."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table}: missing column(s) {missing}; expected at least "
                         f"{list(columns)}, got {df.columns}")


@dataclass(frozen=True)
class PatentFilter:
    """Which patents and applicants count (``network.patents`` plus the window)."""
    start: int
    end: int
    patent_types: tuple[str, ...] = PATENT_TYPES
    tiers: tuple[str, ...] = ()
    exclude_individual: bool = True
    non_mainland: str = "drop_patent"
    exclusions_apply_to_all: bool = True
    ai_flag: str = "is_ai_ipc"
    ai_only: bool = field(default=True, compare=False)

    def __post_init__(self):
        if self.start > self.end:
            raise ValueError(f"window start {self.start} is after end {self.end}")
        bad = [t for t in self.patent_types if t not in PATENT_TYPES]
        if bad:
            raise ValueError(f"network.patents.patent_types: {bad} not in {PATENT_TYPES}")
        if self.non_mainland not in NON_MAINLAND:
            raise ValueError(f"network.patents.non_mainland: {self.non_mainland!r} not in "
                             f"{NON_MAINLAND}")
        if self.ai_flag not in AI_FLAGS:
            raise ValueError(f"network.patents.ai_flag: {self.ai_flag!r} not in {AI_FLAGS}")

    @classmethod
    def from_config(cls, cfg) -> "PatentFilter":
        sec = cfg.section("network.patents")
        return cls(start=int(cfg.get("network.window.start")),
                   end=int(cfg.get("network.window.end")),
                   patent_types=tuple(sec["patent_types"]), tiers=tuple(sec["tiers"] or ()),
                   exclude_individual=bool(sec["exclude_individual"]),
                   non_mainland=sec["non_mainland"],
                   exclusions_apply_to_all=bool(sec["exclusions_apply_to_all"]),
                   ai_flag=sec.get("ai_flag") or "is_ai_ipc")


def eligible_applications(applicants: DataFrame, patents: DataFrame,
                          ai_patents: DataFrame | None, spec: PatentFilter,
                          *, ai_only: bool = True, apply_exclusions: bool = True) -> DataFrame:
    """The applications that count, one row each: (app_no, app_year, is_ai, k, members).

    ``members``: the application's eligible applicants as array<struct<name, position,
    city_code>>, sorted by name, one entry per organisation (its lowest position, so an
    organisation listed twice never collaborates with itself); ``k`` = their number.
    ``is_ai`` is ai_patents' ``spec.ai_flag`` column (study 1: ``is_ai_ipc``) and, when
    ``spec.tiers`` is given, a tier among them. With ``ai_only`` only AI applications;
    otherwise all, with the flag (false when absent from ai_patents).

    One shuffle (applicants joined to their patents, grouped by application): edges,
    Table 1 and the LQ counts all start from this table, so the stage caches it.
    """
    require_columns(applicants, APPLICANT_COLUMNS, "silver.applicants")
    require_columns(patents, PATENT_COLUMNS, "silver.patents")
    p = patents.where(F.col("app_year").between(spec.start, spec.end)
                      & F.col("patent_type").isin(list(spec.patent_types)))
    if apply_exclusions:
        if spec.exclude_individual:
            p = p.where(~F.coalesce(F.col("has_individual"), F.lit(True)))
        if spec.non_mainland == "drop_patent":
            p = p.where(F.coalesce(F.col("all_mainland"), F.lit(False)))
    if ai_patents is not None:
        require_columns(ai_patents, ("app_no", spec.ai_flag) + (("tier",) if spec.tiers else ()),
                        "silver.ai_patents")
        ai_flag = F.coalesce(F.col(f"a.{spec.ai_flag}"), F.lit(False))
        if spec.tiers:
            ai_flag = ai_flag & F.col("a.tier").isin(list(spec.tiers))
        p = (p.alias("p").join(ai_patents.alias("a"), F.col("p.app_no") == F.col("a.app_no"), "left")
             .select("p.app_no", "p.app_year", ai_flag.alias("is_ai")))
    elif ai_only:
        raise ValueError("ai_only=True needs silver.ai_patents")
    else:
        p = p.select("app_no", "app_year", F.lit(False).alias("is_ai"))
    if ai_only:
        p = p.where("is_ai")
    a = applicants.select("app_no", "position", F.trim("name").alias("name"),
                          "applicant_type", "city_code")
    # (a null applicant_type is kept: it is neither individual nor non-mainland)
    if apply_exclusions and spec.non_mainland == "drop_applicant":
        a = a.where(F.coalesce(~F.col("applicant_type").isin("foreign", "hmt"), F.lit(True)))
    if apply_exclusions and spec.exclude_individual:
        # has_individual already dropped such patents; this also guards inconsistent rows.
        a = a.where(F.coalesce(F.col("applicant_type") != "individual", F.lit(True)))
    a = a.where(F.col("name").isNotNull() & (F.col("name") != ""))
    # sorted by name, then position (a missing position last), then city code
    entry = F.struct("name", F.coalesce("position", F.lit(_NO_POSITION)).alias("pos_key"),
                     "position", "city_code")
    grouped = (a.join(p, "app_no", "inner").groupBy("app_no", "app_year", "is_ai")
               .agg(F.array_sort(F.collect_list(entry)).alias("m")))
    m = F.col("m")
    first_of_name = F.filter(m, lambda x, i: (i == 0) | (x["name"] != m[i - 1]["name"]))
    members = F.transform(first_of_name, lambda x: F.struct(
        x["name"].alias("name"), x["position"].alias("position"), x["city_code"].alias("city_code")))
    return (grouped.select("app_no", "app_year", "is_ai", members.alias("members"))
            .select("app_no", "app_year", "is_ai", F.size("members").cast("long").alias("k"),
                    "members"))


_NO_POSITION = 2 ** 31 - 1


def eligible_applicants(applicants: DataFrame, patents: DataFrame,
                        ai_patents: DataFrame | None, spec: PatentFilter,
                        *, ai_only: bool = True, apply_exclusions: bool = True) -> DataFrame:
    """Applicant rows of the applications that count, one row per (app_no, name):
    (app_no, app_year, name, position, city_code, is_ai); :func:`eligible_applications`
    exploded (see there for the rules)."""
    apps = eligible_applications(applicants, patents, ai_patents, spec, ai_only=ai_only,
                                 apply_exclusions=apply_exclusions)
    return (apps.select("app_no", "app_year", "is_ai", F.explode("members").alias("e"))
            .select("app_no", "app_year", F.col("e.name").alias("name"),
                    F.col("e.position").alias("position"), F.col("e.city_code").alias("city_code"),
                    "is_ai"))


def applications_of(eligible: DataFrame) -> DataFrame:
    """:func:`eligible_applications`' form of ``eligible``: applicant rows (as
    :func:`eligible_applicants` returns) are grouped back; application rows pass."""
    if "members" in eligible.columns:
        return eligible
    entry = F.struct("name", F.coalesce("position", F.lit(_NO_POSITION)).alias("pos_key"),
                     "position", "city_code")
    members = F.transform(F.array_sort(F.collect_list(entry)), lambda x: F.struct(
        x["name"].alias("name"), x["position"].alias("position"), x["city_code"].alias("city_code")))
    return (eligible.groupBy("app_no", "app_year", "is_ai").agg(members.alias("members"))
            .select("app_no", "app_year", "is_ai", F.size("members").cast("long").alias("k"),
                    "members"))


def exclusion_counts(patents: DataFrame, spec: PatentFilter) -> dict[str, int]:
    """Patents of the window and types, and how many each exclusion removes (a null
    flag counts as failing: has_individual null -> excluded, all_mainland null ->
    non-mainland), so that no patent leaves the network silently."""
    p = patents.where(F.col("app_year").between(spec.start, spec.end)
                      & F.col("patent_type").isin(list(spec.patent_types)))
    row = p.agg(F.count("*").alias("patents"),
                F.sum(F.when(F.coalesce("has_individual", F.lit(True)), 1).otherwise(0)).alias("individual"),
                F.sum(F.when(~F.coalesce("all_mainland", F.lit(False)), 1).otherwise(0)).alias("non_mainland"),
                F.sum(F.when(F.col("has_individual").isNull() | F.col("all_mainland").isNull(), 1)
                      .otherwise(0)).alias("null_flags")).first()
    return {k: int(row[k] or 0) for k in ("patents", "individual", "non_mainland", "null_flags")}


def _pair_weight(weighting: str, k: Column) -> Column:
    if weighting == "count":
        return F.lit(1.0)
    if weighting == "newman":
        return F.lit(1.0) / (k - F.lit(1)).cast("double")
    if weighting == "pair_share":
        return F.lit(2.0) / (k * (k - F.lit(1))).cast("double")
    raise ValueError(f"network.edges.weight: {weighting!r} not in {WEIGHTINGS}")


def patent_pairs(eligible: DataFrame, weighting: str = "count") -> DataFrame:
    """Every unordered applicant pair of every patent with two or more applicants.
    ``eligible``: :func:`eligible_applications` or :func:`eligible_applicants` rows.

    Returns (app_no, app_year, k, org_a, org_b, region_a, region_b, weight) with
    org_a < org_b; region_* are the ends' city codes on this patent (null when the
    applicant is unlocated).
    """
    _pair_weight(weighting, F.lit(2))  # validate early
    # No self-join: per application, the index pairs i < j of its applicants sorted by
    # name (names are unique per application, so m[i].name < m[j].name).
    apps = applications_of(eligible).where(F.col("k") >= 2)
    k = F.col("k")
    index_pairs = F.flatten(F.transform(
        F.sequence(F.lit(0), (k - 2).cast("int")),
        lambda i: F.transform(F.sequence(i + 1, (k - 1).cast("int")),
                              lambda j: F.struct(i.alias("i"), j.alias("j")))))
    pairs = apps.select("app_no", "app_year", "k", "members", F.explode(index_pairs).alias("ij"))
    x, y = F.col("members")[F.col("ij.i")], F.col("members")[F.col("ij.j")]
    return pairs.select(
        "app_no", "app_year", "k", x["name"].alias("org_a"), y["name"].alias("org_b"),
        x["city_code"].alias("region_a"), y["city_code"].alias("region_b"),
        _pair_weight(weighting, k).alias("weight"))


def org_edges(pairs: DataFrame) -> DataFrame:
    """Organisation pairs per year: (app_year, org_a, org_b, n_collab, weight)."""
    return (pairs.groupBy("app_year", "org_a", "org_b")
            .agg(F.count("*").cast("long").alias("n_collab"), F.sum("weight").alias("weight")))


def region_edges(pairs: DataFrame) -> DataFrame:
    """Region pairs per year: (app_year, region_a, region_b, is_intra, n_collab, weight).

    Pairs with an unlocated end are left out (the stage counts and logs them)."""
    located = pairs.where(F.col("region_a").isNotNull() & F.col("region_b").isNotNull())
    ra = F.least("region_a", "region_b")
    rb = F.greatest("region_a", "region_b")
    return (located.select("app_year", ra.alias("region_a"), rb.alias("region_b"), "weight")
            .groupBy("app_year", "region_a", "region_b")
            .agg(F.count("*").cast("long").alias("n_collab"), F.sum("weight").alias("weight"))
            .withColumn("is_intra", F.col("region_a") == F.col("region_b"))
            .select("app_year", "region_a", "region_b", "is_intra", "n_collab", "weight"))


def collaboration_counts(reg_edges: DataFrame) -> DataFrame:
    """Table 1 per region and year: (city_code, app_year, intra, inter, intra_weight,
    inter_weight)."""
    intra = reg_edges.where("is_intra").select(
        F.col("region_a").alias("city_code"), "app_year",
        F.col("n_collab").alias("intra"), F.col("weight").alias("intra_weight"),
        F.lit(0).cast("long").alias("inter"), F.lit(0.0).alias("inter_weight"))
    inter_rows = reg_edges.where(~F.col("is_intra"))
    inter = None
    for end in ("region_a", "region_b"):
        side = inter_rows.select(
            F.col(end).alias("city_code"), "app_year",
            F.lit(0).cast("long").alias("intra"), F.lit(0.0).alias("intra_weight"),
            F.col("n_collab").alias("inter"), F.col("weight").alias("inter_weight"))
        inter = side if inter is None else inter.unionByName(side)
    return (intra.unionByName(inter).groupBy("city_code", "app_year")
            .agg(F.sum("intra").alias("intra"), F.sum("inter").alias("inter"),
                 F.sum("intra_weight").alias("intra_weight"),
                 F.sum("inter_weight").alias("inter_weight"))
            .select("city_code", "app_year", "intra", "inter", "intra_weight", "inter_weight"))


def region_pair_counts(pairs: DataFrame) -> DataFrame:
    """Pairs aggregated to (app_year, region_a, region_b, n_collab, weight) with
    region_a <= region_b; a pair with an unlocated end has both regions null, so one
    small collect gives the region edges and the number of unlocated collaborations."""
    located = F.col("region_a").isNotNull() & F.col("region_b").isNotNull()
    return (pairs.select("app_year",
                         F.when(located, F.least("region_a", "region_b")).alias("region_a"),
                         F.when(located, F.greatest("region_a", "region_b")).alias("region_b"),
                         "weight")
            .groupBy("app_year", "region_a", "region_b")
            .agg(F.count("*").cast("long").alias("n_collab"), F.sum("weight").alias("weight")))


def region_edges_frame(pair_counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`region_edges` on the driver from :func:`region_pair_counts` rows (collected):
    located pairs only, sorted by (app_year, region_a, region_b)."""
    e = pair_counts[pair_counts["region_a"].notna() & pair_counts["region_b"].notna()]
    e = e.sort_values(["app_year", "region_a", "region_b"]).reset_index(drop=True)
    out = pd.DataFrame({"app_year": e["app_year"].astype("int32"), "region_a": e["region_a"],
                        "region_b": e["region_b"], "is_intra": e["region_a"] == e["region_b"],
                        "n_collab": e["n_collab"].astype("int64"),
                        "weight": e["weight"].astype("float64")})
    return out


def collaboration_counts_frame(reg_edges: pd.DataFrame) -> pd.DataFrame:
    """:func:`collaboration_counts` on the driver from region edges (pandas): one row per
    region and year with a collaboration, sorted by (city_code, app_year)."""
    cols = ["city_code", "app_year", "intra", "inter", "intra_weight", "inter_weight"]
    intra = reg_edges[reg_edges["is_intra"]]
    inter = reg_edges[~reg_edges["is_intra"]]
    parts = [pd.DataFrame({"city_code": intra["region_a"], "app_year": intra["app_year"],
                           "intra": intra["n_collab"], "inter": 0,
                           "intra_weight": intra["weight"], "inter_weight": 0.0})]
    for end in ("region_a", "region_b"):
        parts.append(pd.DataFrame({"city_code": inter[end], "app_year": inter["app_year"],
                                   "intra": 0, "inter": inter["n_collab"],
                                   "intra_weight": 0.0, "inter_weight": inter["weight"]}))
    allp = pd.concat(parts, ignore_index=True)
    if allp.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            cols, ["object", "int32", "int64", "int64", "float64", "float64"])})
    out = (allp.groupby(["city_code", "app_year"], as_index=False, sort=True)
           [["intra", "inter", "intra_weight", "inter_weight"]].sum())
    return out.astype({"app_year": "int32", "intra": "int64", "inter": "int64",
                       "intra_weight": "float64", "inter_weight": "float64"})[cols]
