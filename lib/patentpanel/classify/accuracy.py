"""Accuracy of the classification against a truth table keyed by app_no (the simulator's
true labels, or a hand-coded gold sample): is_ai precision/recall/F1 and the tier
confusion matrix. Aggregation runs in Spark; only the 2x2 and 4x4 counts are collected."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .taxonomy import TIERS

__all__ = ["AccuracyReport", "accuracy_report", "TruthTableError"]

NONE = "none"
UNTIERED = "untiered"       # predicted AI without a tier (fallback_tier: null)


class TruthTableError(ValueError):
    """The truth table lacks a column, repeats an app_no or holds an unknown tier."""


def _ratio(a: int, b: int) -> float:
    return a / b if b else math.nan


@dataclass
class AccuracyReport:
    n_scored: int
    n_missing_in_truth: int           # classified rows without a truth row
    n_missing_in_classified: int      # truth rows without a classified row
    tp: int
    fp: int
    fn: int
    tn: int
    confusion: pd.DataFrame = field(repr=False)   # truth label (rows) x predicted label

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if (p + r) and not math.isnan(p + r) else math.nan

    @property
    def tier_confusion(self) -> pd.DataFrame:
        """Tier confusion among patents that are AI in truth and in prediction (the
        ``untiered`` column: predicted AI without a tier)."""
        return self.confusion.loc[list(TIERS), [*TIERS, UNTIERED]]

    @property
    def tier_accuracy(self) -> float:
        """Share of correctly tiered patents among those AI in truth and prediction."""
        m = self.tier_confusion.to_numpy()
        return _ratio(int(m[:, :len(TIERS)].trace()), int(m.sum()))

    @property
    def label_accuracy(self) -> float:
        """End-to-end accuracy over none/FT/CT/GPT."""
        m = self.confusion.to_numpy()
        return _ratio(int(m[:len(TIERS) + 1, :len(TIERS) + 1].trace()), int(m.sum()))

    def per_tier(self) -> pd.DataFrame:
        m = self.tier_confusion
        rows = []
        for t in TIERS:
            tp = int(m.loc[t, t])
            rows.append({"tier": t, "precision": _ratio(tp, int(m[t].sum())),  # column = predicted
                         "recall": _ratio(tp, int(m.loc[t].sum())), "support": int(m.loc[t].sum())})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"n_scored": self.n_scored, "n_missing_in_truth": self.n_missing_in_truth,
                "n_missing_in_classified": self.n_missing_in_classified,
                "is_ai": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                          "precision": self.precision, "recall": self.recall, "f1": self.f1},
                "tier_accuracy": self.tier_accuracy, "label_accuracy": self.label_accuracy,
                "confusion": {r: {c: int(v) for c, v in row.items()}
                              for r, row in self.confusion.iterrows()}}

    def summary(self) -> str:
        return "\n".join([
            f"scored {self.n_scored} patents ({self.n_missing_in_truth} without truth, "
            f"{self.n_missing_in_classified} truth rows unclassified)",
            f"is_ai: precision {self.precision:.4f} recall {self.recall:.4f} F1 {self.f1:.4f} "
            f"(tp {self.tp} fp {self.fp} fn {self.fn} tn {self.tn})",
            f"tier accuracy (AI in truth and prediction): {self.tier_accuracy:.4f}; "
            f"none/FT/CT/GPT accuracy: {self.label_accuracy:.4f}",
            "confusion (rows = truth, columns = predicted):",
            self.confusion.to_string()])


def accuracy_report(classified, truth, *, truth_is_ai: str = "is_ai",
                    truth_tier: str = "tier") -> AccuracyReport:
    """Score ``classified`` (app_no, is_ai, tier) against ``truth`` (app_no and the named
    columns; ``truth_tier`` may be null for non-AI rows)."""
    from pyspark.sql import functions as F
    for c in ("app_no", truth_is_ai, truth_tier):
        if c not in truth.columns:
            raise TruthTableError(f"truth table: column {c!r} is missing (have {', '.join(truth.columns)})")
    dup = truth.groupBy("app_no").count().filter("count > 1").limit(1).collect()
    if dup:
        raise TruthTableError(f"truth table: app_no {dup[0]['app_no']!r} appears {dup[0]['count']} times")
    t = truth.select("app_no", F.col(truth_is_ai).cast("boolean").alias("t_ai"),
                     F.upper(F.trim(F.col(truth_tier))).alias("t_tier"))
    bad = t.filter(F.col("t_ai") & ~F.coalesce(F.col("t_tier").isin(*TIERS), F.lit(False))).limit(1).collect()
    if bad:
        raise TruthTableError(f"truth table: app_no {bad[0]['app_no']!r} is AI but tier "
                              f"{bad[0]['t_tier']!r} is not one of {list(TIERS)}")
    p = classified.select("app_no", F.col("is_ai").alias("p_ai"), F.col("tier").alias("p_tier"))
    j = p.join(t, "app_no", "full_outer")
    label = lambda ai, tier: F.when(ai, F.coalesce(tier, F.lit(UNTIERED))).otherwise(F.lit(NONE))  # noqa: E731
    counts = (j.withColumn("side", F.when(F.col("t_ai").isNull(), "no_truth")
                           .when(F.col("p_ai").isNull(), "no_pred").otherwise("both"))
               .groupBy("side", label(F.col("t_ai"), F.col("t_tier")).alias("truth"),
                        label(F.col("p_ai"), F.col("p_tier")).alias("pred"))
               .count().collect())
    labels = [NONE, *TIERS, UNTIERED]
    conf = pd.DataFrame(0, index=pd.Index(labels, name="truth"), columns=pd.Index(labels, name="predicted"))
    missing_truth = missing_pred = 0
    for r in counts:
        if r["side"] == "no_truth":
            missing_truth += r["count"]
        elif r["side"] == "no_pred":
            missing_pred += r["count"]
        else:
            pred = r["pred"] if r["pred"] in labels else NONE
            conf.loc[r["truth"], pred] += r["count"]
    ai_t = conf.index != NONE
    ai_p = conf.columns != NONE
    m = conf.to_numpy()
    tp = int(m[ai_t][:, ai_p].sum())
    fn = int(m[ai_t][:, ~ai_p].sum())
    fp = int(m[~ai_t][:, ai_p].sum())
    tn = int(m[~ai_t][:, ~ai_p].sum())
    return AccuracyReport(int(m.sum()), missing_truth, missing_pred, tp, fp, fn, tn, conf)
