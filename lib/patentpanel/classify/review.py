"""Manual review (study 2, A5-A6): a review sample for two coders, their decisions,
agreement statistics, and consensus decisions as an overrides table.

Workflow::

    sample = draw_review_sample(classified, seed=..., per_stratum=25)   # Spark -> pandas
    files = export_review_sample(sample, "reports/review", "r1")       # key + one sheet per coder
    # ... two coders fill in is_ai (1/0) and tier (FT/CT/GPT) independently ...
    batch = ReviewBatch.load("reports/review", "r1")
    report = batch.agreement()          # percent agreement and Cohen's kappa, pairwise
    batch.export_consensus_sheet()      # the disagreements, for a consensus decision
    overrides = batch.overrides()       # agreed rows + consensus rows -> overrides table
    classified = apply_overrides(classified, spark.createDataFrame(overrides))

Sampling is deterministic for a seed regardless of partitioning: rows are ranked by
``xxhash64(app_no, seed)``.
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .taxonomy import TIERS

__all__ = ["KappaResult", "cohen_kappa", "percent_agreement", "draw_review_sample",
           "export_review_sample", "read_coder_sheet", "ReviewBatch", "AgreementReport",
           "ReviewSheetError", "apply_overrides", "OVERRIDE_COLUMNS", "xlsx_available"]

log = logging.getLogger("patentpanel.classify.review")

OVERRIDE_COLUMNS = ("app_no", "is_ai", "tier", "review_batch", "decision", "decided_at")
NOT_AI = "none"
_TRUE = {"1", "yes", "y", "true", "t", "是", "ai"}
_FALSE = {"0", "no", "n", "false", "f", "否", "not ai", "non-ai"}
SHEET_COLUMNS = ("app_no", "app_year", "title", "abstract", "ipc_codes")
DECISION_COLUMNS = ("is_ai", "tier", "note")


class ReviewSheetError(ValueError):
    """A coder or consensus sheet that cannot be read."""


def xlsx_available() -> bool:
    try:
        import openpyxl  # noqa: F401
        return True
    except ImportError:
        return False


# ---- agreement statistics -----------------------------------------------------------
@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa of two raters over the same items.

    kappa = (p_o - p_e) / (1 - p_e), p_o the observed share of agreement and
    p_e = sum_k (n_k. / n)(n_.k / n) the agreement expected from the marginals.
    ``kappa`` is nan when p_e = 1 (both raters used a single identical label)."""
    kappa: float
    observed: float
    expected: float
    n: int
    labels: tuple[str, ...]
    table: pd.DataFrame = field(repr=False, compare=False)

    @property
    def percent_agreement(self) -> float:
        return 100.0 * self.observed


def cohen_kappa(a: Sequence, b: Sequence, labels: Iterable | None = None) -> KappaResult:
    """Cohen's (unweighted) kappa; pairs where either rating is missing are skipped."""
    sa, sb = pd.Series(list(a), dtype=object), pd.Series(list(b), dtype=object)
    if len(sa) != len(sb):
        raise ValueError(f"cohen_kappa: rater sequences differ in length ({len(sa)} vs {len(sb)})")
    keep = sa.notna() & sb.notna()
    sa, sb = sa[keep].astype(str), sb[keep].astype(str)
    n = int(len(sa))
    labs = tuple(str(x) for x in labels) if labels is not None else tuple(sorted(set(sa) | set(sb)))
    unknown = (set(sa) | set(sb)) - set(labs)
    if unknown:
        raise ValueError(f"cohen_kappa: ratings {sorted(unknown)} are not among labels {list(labs)}")
    idx = {lab: i for i, lab in enumerate(labs)}
    table = np.zeros((len(labs), len(labs)), dtype=np.int64)
    np.add.at(table, (sa.map(idx).to_numpy(dtype=int), sb.map(idx).to_numpy(dtype=int)), 1)
    frame = pd.DataFrame(table, index=pd.Index(labs, name="rater_a"),
                         columns=pd.Index(labs, name="rater_b"))
    if n == 0:
        return KappaResult(math.nan, math.nan, math.nan, 0, labs, frame)
    po = float(np.trace(table)) / n
    pe = float((table.sum(axis=1) / n) @ (table.sum(axis=0) / n))
    kappa = math.nan if math.isclose(pe, 1.0) else (po - pe) / (1.0 - pe)
    return KappaResult(kappa, po, pe, n, labs, frame)


def percent_agreement(a: Sequence, b: Sequence) -> float:
    return cohen_kappa(a, b).percent_agreement


# ---- sampling and export ------------------------------------------------------------
def draw_review_sample(classified, *, seed: int, per_stratum: int = 25,
                       strata: Sequence[str] = ("tier", "ai_basis", "generic_digital"),
                       max_ambiguous: int = 0) -> pd.DataFrame:
    """All ambiguous rows (or a seeded subset of ``max_ambiguous`` of them) plus, for each
    stratum, ``per_stratum`` seeded random non-ambiguous rows. Returns a pandas frame
    (review samples are small) with a ``sample_reason`` column."""
    from pyspark.sql import Window, functions as F
    missing = [c for c in ("app_no", "ambiguous", *strata) if c not in classified.columns]
    if missing:
        raise ValueError(f"review sample: classified table lacks columns {missing}")
    df = classified.withColumn("_rank", F.xxhash64(F.col("app_no"), F.lit(int(seed))))
    stratum = F.concat_ws("|", *[F.coalesce(F.col(c).cast("string"), F.lit("-")) for c in strata])
    df = df.withColumn("_stratum", stratum)
    amb = df.filter(F.col("ambiguous"))
    if max_ambiguous and max_ambiguous > 0:
        amb = amb.orderBy("_rank", "app_no").limit(int(max_ambiguous))
    amb = amb.withColumn("sample_reason", F.lit("ambiguous"))
    w = Window.partitionBy("_stratum").orderBy("_rank", "app_no")
    rest = (df.filter(~F.col("ambiguous"))
              .withColumn("_rn", F.row_number().over(w))
              .filter(F.col("_rn") <= int(per_stratum)).drop("_rn")
              .withColumn("sample_reason", F.concat(F.lit("stratum:"), F.col("_stratum"))))
    out = amb.unionByName(rest).orderBy("_rank", "app_no").drop("_rank", "_stratum")
    for c in ("keyword_hits", "tier_scores"):
        if c in out.columns:
            out = out.drop(c)
    return out.toPandas()


def _join_list(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (list, tuple, np.ndarray)):
        return "; ".join(str(x) for x in v)
    return str(v)


def export_review_sample(sample: pd.DataFrame, out_dir: str | Path, batch_id: str, *,
                         coders: Sequence[str] = ("coder1", "coder2"),
                         show_auto_labels: bool = False, xlsx: bool | None = None) -> dict[str, Path]:
    """Write ``<batch>_key.csv`` (automatic labels, kept from coders) and one sheet per
    coder (``<batch>_<coder>.csv``, and ``.xlsx`` when openpyxl is installed) with blank
    ``is_ai`` / ``tier`` / ``note`` columns. CSVs are UTF-8 with BOM so Excel shows Chinese."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if len(set(coders)) != len(coders) or len(coders) < 2:
        raise ValueError(f"export_review_sample: need two or more distinct coder names, got {coders}")
    base = pd.DataFrame({c: sample[c] if c in sample.columns else "" for c in SHEET_COLUMNS})
    codes = "ipc_codes" if "ipc_codes" in sample.columns else "matched_codes"
    if codes in sample.columns:
        base["ipc_codes"] = sample[codes].map(_join_list)
    auto = pd.DataFrame({
        "app_no": sample["app_no"],
        "auto_is_ai": sample["is_ai"].astype(bool).astype(int),
        "auto_tier": sample["tier"].fillna(""),
        "ambiguous": sample["ambiguous"].astype(bool).astype(int),
        "ambiguity_reason": sample.get("ambiguity_reason", pd.Series([""] * len(sample))).fillna(""),
        "matched_terms": sample.get("matched_terms", pd.Series([None] * len(sample))).map(_join_list),
        "sample_reason": sample["sample_reason"]})
    auto.insert(0, "review_batch", batch_id)
    files = {"key": out / f"{batch_id}_key.csv"}
    auto.to_csv(files["key"], index=False, encoding="utf-8-sig")
    sheet = base.copy()
    if show_auto_labels:
        sheet = sheet.merge(auto[["app_no", "auto_is_ai", "auto_tier", "matched_terms"]], on="app_no")
    for c in DECISION_COLUMNS:
        sheet[c] = ""
    use_xlsx = xlsx_available() if xlsx is None else xlsx
    if xlsx and not xlsx_available():
        raise RuntimeError("XLSX export requested but openpyxl is not installed")
    for coder in coders:
        files[coder] = out / f"{batch_id}_{coder}.csv"
        sheet.to_csv(files[coder], index=False, encoding="utf-8-sig")
        if use_xlsx:
            files[f"{coder}_xlsx"] = out / f"{batch_id}_{coder}.xlsx"
            _write_xlsx(sheet, files[f"{coder}_xlsx"])
    if not use_xlsx:
        log.info("openpyxl not installed: review sheets written as CSV only")
    log.info("review batch %s: %d rows (%d ambiguous) for %s in %s", batch_id, len(sheet),
             int((auto["sample_reason"] == "ambiguous").sum()), ", ".join(coders), out)
    return files


def _write_xlsx(sheet: pd.DataFrame, path: Path) -> None:
    guide = pd.DataFrame({
        "column": ["is_ai", "tier", "note"],
        "allowed values": ["1 (AI patent) or 0 (not AI); also yes/no, 是/否",
                           "FT, CT or GPT when is_ai = 1 (Table A2 of study 2); empty when 0",
                           "free text (optional)"]})
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        sheet.to_excel(xw, sheet_name="review", index=False)
        guide.to_excel(xw, sheet_name="instructions", index=False)


# ---- import -------------------------------------------------------------------------
def read_coder_sheet(path: str | Path) -> pd.DataFrame:
    """A filled-in sheet (CSV or XLSX) as ``app_no, is_ai (bool or NA), tier, note``.
    Rows with an empty ``is_ai`` are undecided (NA). Bad values raise
    :class:`ReviewSheetError` naming file, row, app_no and field."""
    path = Path(path)
    if not path.is_file():
        raise ReviewSheetError(f"review sheet not found: {path}")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        if not xlsx_available():
            raise ReviewSheetError(f"{path}: reading XLSX needs openpyxl (or export the sheet as CSV)")
        raw = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in ("app_no", "is_ai", "tier") if c not in raw.columns]
    if missing:
        raise ReviewSheetError(f"{path}: missing columns {missing}")
    is_ai, tiers = [], []
    for i, r in raw.iterrows():
        where = f"{path}, row {i + 2}, app_no {r['app_no']!r}"
        v = str(r["is_ai"]).strip().lower()
        t = str(r["tier"]).strip().upper()
        if v == "":
            flag = pd.NA
        elif v in _TRUE:
            flag = True
        elif v in _FALSE:
            flag = False
        else:
            raise ReviewSheetError(f"{where}: is_ai {r['is_ai']!r} is not 1/0 (yes/no, 是/否)")
        if t and t not in TIERS:
            raise ReviewSheetError(f"{where}: tier {r['tier']!r} is not one of {list(TIERS)}")
        if flag is True and not t:
            raise ReviewSheetError(f"{where}: is_ai = 1 needs a tier ({'/'.join(TIERS)})")
        if flag is False and t:
            raise ReviewSheetError(f"{where}: tier {t!r} given but is_ai = 0")
        is_ai.append(flag)
        tiers.append(t or None)
    dup = raw["app_no"][raw["app_no"].duplicated()]
    if len(dup):
        raise ReviewSheetError(f"{path}: app_no {dup.iloc[0]!r} appears more than once")
    return pd.DataFrame({"app_no": raw["app_no"].str.strip(),
                         "is_ai": pd.array(is_ai, dtype="boolean"), "tier": tiers,
                         "note": raw["note"] if "note" in raw.columns else ""})


def _label(is_ai, tier) -> str | None:
    if is_ai is pd.NA or is_ai is None or (isinstance(is_ai, float) and math.isnan(is_ai)):
        return None
    return tier if bool(is_ai) else NOT_AI


@dataclass
class AgreementReport:
    """Pairwise agreement between coders and with the automatic labels, for is_ai
    (2 categories) and the full label (none/FT/CT/GPT)."""
    batch_id: str
    pairs: dict[str, dict[str, KappaResult]]
    n_items: int
    n_undecided: dict[str, int]

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for pair, stats in self.pairs.items():
            for target, k in stats.items():
                rows.append({"pair": pair, "target": target, "n": k.n,
                             "percent_agreement": k.percent_agreement, "kappa": k.kappa,
                             "p_observed": k.observed, "p_expected": k.expected})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        f = self.to_frame()
        return (f"Review batch {self.batch_id}: {self.n_items} items\n"
                + f.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


@dataclass
class ReviewBatch:
    batch_id: str
    key: pd.DataFrame
    coders: dict[str, pd.DataFrame]
    consensus: pd.DataFrame | None = None
    directory: Path | None = None

    @classmethod
    def load(cls, directory: str | Path, batch_id: str,
             coders: Sequence[str] = ("coder1", "coder2")) -> "ReviewBatch":
        d = Path(directory)
        key_path = d / f"{batch_id}_key.csv"
        if not key_path.is_file():
            raise ReviewSheetError(f"review key not found: {key_path}")
        key = pd.read_csv(key_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        sheets = {}
        for c in coders:
            xlsx, csv = d / f"{batch_id}_{c}.xlsx", d / f"{batch_id}_{c}.csv"
            # the coder edits one of the two; take the newer
            cands = [p for p in (xlsx, csv) if p.is_file()]
            if not cands:
                raise ReviewSheetError(f"no sheet for coder {c!r} in {d} ({csv.name} or {xlsx.name})")
            sheets[c] = read_coder_sheet(max(cands, key=lambda p: p.stat().st_mtime))
        cons_path = d / f"{batch_id}_consensus.csv"
        consensus = read_coder_sheet(cons_path) if cons_path.is_file() else None
        return cls(batch_id, key, sheets, consensus, d)

    def __post_init__(self):
        keys = set(self.key["app_no"])
        for c, s in self.coders.items():
            extra = sorted(set(s["app_no"]) - keys)
            if extra:
                raise ReviewSheetError(f"coder {c!r}: app_no {extra[0]!r} is not in review batch "
                                       f"{self.batch_id}")

    def decisions(self) -> pd.DataFrame:
        """One row per item: the automatic label and each coder's label."""
        out = self.key[["app_no"]].copy()
        auto_ai = self.key["auto_is_ai"].astype(str).str.strip().isin(["1", "True", "true"])
        out["auto"] = [_label(a, t or None) for a, t in zip(auto_ai, self.key["auto_tier"])]
        for c, s in self.coders.items():
            m = out[["app_no"]].merge(s, on="app_no", how="left")
            out[c] = [_label(a, t) for a, t in zip(m["is_ai"], m["tier"])]
        return out

    def agreement(self) -> AgreementReport:
        d = self.decisions()
        names = list(self.coders)
        pairs: dict[str, dict[str, KappaResult]] = {}
        combos = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
        combos += [(c, "auto") for c in names]
        labels4 = (NOT_AI, *TIERS)
        for a, b in combos:
            la, lb = d[a], d[b]
            ia = la.map(lambda x: None if x is None else str(x != NOT_AI))
            ib = lb.map(lambda x: None if x is None else str(x != NOT_AI))
            pairs[f"{a} vs {b}"] = {"is_ai": cohen_kappa(ia, ib, labels=("False", "True")),
                                    "label": cohen_kappa(la, lb, labels=labels4)}
        undecided = {c: int(d[c].isna().sum()) for c in names}
        return AgreementReport(self.batch_id, pairs, len(d), undecided)

    def disagreements(self) -> pd.DataFrame:
        d = self.decisions()
        names = list(self.coders)
        decided = d[names].notna().all(axis=1)
        differ = d[names].nunique(axis=1, dropna=True) > 1
        return d[decided & differ]

    def export_consensus_sheet(self, path: str | Path | None = None) -> Path:
        """The disagreements with both coders' labels and blank consensus columns."""
        path = Path(path) if path else (self.directory or Path(".")) / f"{self.batch_id}_consensus.csv"
        dis = self.disagreements().drop(columns=["auto"])
        for c in DECISION_COLUMNS:
            dis[c] = ""
        dis.to_csv(path, index=False, encoding="utf-8-sig")
        return path

    def overrides(self, decided_at: str | None = None) -> pd.DataFrame:
        """Items both coders labelled alike, plus consensus decisions on the others.
        Disagreements without a consensus decision are left out (logged)."""
        d = self.decisions()
        names = list(self.coders)
        agreed = d[d[names].notna().all(axis=1) & (d[names].nunique(axis=1) == 1)]
        rows = [{"app_no": r.app_no, "label": getattr(r, names[0]), "decision": "agreement"}
                for r in agreed.itertuples()]
        dis = set(self.disagreements()["app_no"])
        resolved = set()
        if self.consensus is not None:
            for r in self.consensus.itertuples():
                lab = _label(r.is_ai, r.tier)
                if r.app_no in dis and lab is not None:
                    rows.append({"app_no": r.app_no, "label": lab, "decision": "consensus"})
                    resolved.add(r.app_no)
        pending = dis - resolved
        if pending:
            log.warning("review batch %s: %d disagreements have no consensus decision yet",
                        self.batch_id, len(pending))
        when = decided_at or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = pd.DataFrame(rows, columns=["app_no", "label", "decision"])
        return pd.DataFrame({
            "app_no": out["app_no"].astype(str),
            "is_ai": (out["label"] != NOT_AI).astype(bool),
            "tier": out["label"].where(out["label"] != NOT_AI, None).astype(object),
            "review_batch": self.batch_id, "decision": out["decision"],
            "decided_at": when})[list(OVERRIDE_COLUMNS)]


def override_schema():
    from pyspark.sql import types as T
    return T.StructType([T.StructField("app_no", T.StringType(), False),
                         T.StructField("is_ai", T.BooleanType(), False),
                         T.StructField("tier", T.StringType(), True),
                         T.StructField("review_batch", T.StringType(), False),
                         T.StructField("decision", T.StringType(), False),
                         T.StructField("decided_at", T.StringType(), False)])


def apply_overrides(classified, overrides):
    """Replace is_ai/tier by the latest review decision per app_no (``decided_at``, then
    batch id); mark ``override_source`` with the batch and clear ``ambiguous`` (the
    automatic ``ambiguity_reason`` is kept for the record)."""
    from pyspark.sql import Window, functions as F
    missing = [c for c in OVERRIDE_COLUMNS if c not in overrides.columns]
    if missing:
        raise ValueError(f"overrides table lacks columns {missing}")
    w = Window.partitionBy("app_no").orderBy(F.col("decided_at").desc(), F.col("review_batch").desc())
    latest = (overrides.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1")
              .select("app_no", F.col("is_ai").alias("_o_is_ai"), F.col("tier").alias("_o_tier"),
                      F.col("review_batch").alias("_o_batch")))
    cols = classified.columns
    j = classified.join(latest, "app_no", "left")
    hit = F.col("_o_batch").isNotNull()
    repl = {
        "is_ai": F.when(hit, F.col("_o_is_ai")).otherwise(F.col("is_ai")),
        "tier": F.when(hit, F.when(F.col("_o_is_ai"), F.col("_o_tier"))).otherwise(F.col("tier")),
        "ambiguous": F.when(hit, F.lit(False)).otherwise(F.col("ambiguous")),
        "override_source": F.when(hit, F.col("_o_batch")).otherwise(F.col("override_source")),
    }
    return j.select(*[repl[c].alias(c) if c in repl else F.col(c) for c in cols])
