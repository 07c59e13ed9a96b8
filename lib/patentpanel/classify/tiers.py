"""Evidence combination, dominant-function tier score, ambiguity rules and the
generic-digital exclusion (study 2, Appendix A3-A5), as Spark built-in expressions over
the keyword hits and matched IPC codes of each record.

Evidence
--------
* ``kw_strong``: a term of role ``ai`` (identifies AI on its own).
* ``kw_supported``: a ``weak`` marker (智能, intelligent, smart ...) and a ``context`` term
  both in the title ("智能医学影像诊断系统").
* ``is_ai_kw`` = kw_strong or kw_supported. A weak marker with context elsewhere (the
  abstract) is only *weak evidence* (A3: retained only if codes support it).
* ``is_ai_ipc``: a code in the enabled AI code groups; ``ipc_specific``: one of them is
  marked ``specific`` (G06N3, G06N5 ...), not ``broad`` (G06F9/44, G06F3/01 ...).
* ``generic_digital`` (A5): neither strong nor title-supported AI wording, no specific AI
  code, but digital signals (a broad AI code, a generic-digital term, or an FT/CT context
  term). A bare 智能/smart does not clear the suspicion ("智能化软件测试方法").

``is_ai`` by ``is_ai_rule``: ``ipc`` = is_ai_ipc (study 1); ``keyword`` = is_ai_kw;
``either``; ``both``; ``combined`` = is_ai_kw or (is_ai_ipc and not generic_digital)
(study 2: codes count unless the patent is a generic digital one).

Dominant-function score
-----------------------
For tier t, over *distinct* terms (a term counts once, in its best field; frequency is
ignored, as A4 asks):

    S_t = title_weight * (sum(w: head-segment title terms of t)
                          + modifier_weight * sum(w: modifier title terms of t))
          + abstract_weight * max(w: abstract-only terms of t)
          + head_bonus * [title head term has tier t]
          + ipc_anchor_weight * [a code lies in t's IPC anchors]

Modifier terms are the title's means ("基于X的Y", "X-based Y", "Y for X": X), discounted
because the dominant function is Y; abstracts count by presence (max weight per tier),
since application abstracts routinely list several techniques.

Decision order (precedence): highest S_t; on equal S_t the higher title part
(title terms + head); then the IPC anchor; then ``tie_order`` (default FT > GPT > CT:
an algorithm named beside a chip or an application is usually the means, not the
contribution). Scores are rounded to 1e-9 before comparing.

Ambiguity reasons (all recorded; those in ``flag`` set ``ambiguous``): ``tier_tie``
(top two S_t equal, resolved by the order above), ``low_margin`` ((top - second) / top
below ``min_margin_ratio``), ``no_tier_signal`` (AI but all S_t = 0; tier =
``fallback_tier``), ``weak_evidence`` (a weak marker with context or an AI code, but no
strong word, no title support and no specific code: borderline, AI or not),
``ipc_only`` (AI only through codes, no AI word in the text).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .ipc import CodeList
from .taxonomy import TIERS

__all__ = ["TierSettings", "IS_AI_RULES", "AMBIGUITY_REASONS", "score_tiers"]

IS_AI_RULES = ("ipc", "keyword", "either", "both", "combined")
AMBIGUITY_REASONS = ("tier_tie", "low_margin", "no_tier_signal", "weak_evidence", "ipc_only")


@dataclass(frozen=True)
class TierSettings:
    is_ai_rule: str = "combined"
    title_weight: float = 3.0
    abstract_weight: float = 1.0
    head_bonus: float = 4.0
    modifier_weight: float = 0.5
    ipc_anchor_weight: float = 2.0
    tie_order: tuple[str, ...] = ("FT", "GPT", "CT")
    fallback_tier: str | None = "CT"
    min_margin_ratio: float = 0.25
    flag: tuple[str, ...] = ("tier_tie", "low_margin", "no_tier_signal", "weak_evidence")
    extra: Mapping = field(default_factory=dict)

    def __post_init__(self):
        from ..config import ConfigError
        if self.is_ai_rule not in IS_AI_RULES:
            raise ConfigError(f"classify.is_ai_rule: {self.is_ai_rule!r} is not one of "
                              f"{list(IS_AI_RULES)}")
        if sorted(self.tie_order) != sorted(TIERS):
            raise ConfigError(f"classify.scoring.tie_order: {list(self.tie_order)} must list "
                              f"each of {list(TIERS)} once")
        if self.fallback_tier is not None and self.fallback_tier not in TIERS:
            raise ConfigError(f"classify.scoring.fallback_tier: {self.fallback_tier!r} is not "
                              f"one of {list(TIERS)} or null")
        bad = sorted(set(self.flag) - set(AMBIGUITY_REASONS))
        if bad:
            raise ConfigError(f"classify.ambiguity.flag: unknown reasons {bad}; expected some "
                              f"of {list(AMBIGUITY_REASONS)}")
        for k in ("title_weight", "abstract_weight", "head_bonus", "modifier_weight", "ipc_anchor_weight",
                  "min_margin_ratio"):
            if getattr(self, k) < 0:
                raise ConfigError(f"classify: {k} must be >= 0, got {getattr(self, k)}")

    @classmethod
    def from_config(cls, cfg) -> "TierSettings":
        s = cfg.get("classify.scoring")
        a = cfg.get("classify.ambiguity")
        return cls(is_ai_rule=cfg.get("classify.is_ai_rule"),
                   title_weight=float(s["title_weight"]),
                   abstract_weight=float(s["abstract_weight"]),
                   head_bonus=float(s["head_bonus"]),
                   modifier_weight=float(s["modifier_weight"]),
                   ipc_anchor_weight=float(s["ipc_anchor_weight"]),
                   tie_order=tuple(s["tie_order"]), fallback_tier=s.get("fallback_tier"),
                   min_margin_ratio=float(a["min_margin_ratio"]), flag=tuple(a["flag"]))


def score_tiers(df, settings: TierSettings, anchors: Mapping[str, CodeList], *,
                summary: str = "kw_summary", parsed_codes: str = "_parsed_codes",
                matched_codes: str = "matched_codes", ipc_specific: str = "_ipc_specific",
                anchor_prefix: str | None = None):
    """Add is_ai_kw, is_ai, ai_basis, tier, tier_scores, branch, ambiguity and
    generic-digital columns. ``df`` carries the per-record keyword summary (see
    :data:`patentpanel.classify.keywords.SUMMARY_FIELDS`), the parsed codes, the matched
    AI codes and whether one of them is specific. Everything here is scalar Spark
    arithmetic (code-generated); only the IPC anchor test walks the short code array."""
    from pyspark.sql import functions as F

    s = settings
    k = lambda f: F.col(f"{summary}.{f}")  # noqa: E731
    out = df
    prec = {t: len(s.tie_order) - i for i, t in enumerate(s.tie_order)}
    keys = []
    for t in TIERS:
        # anchor_prefix: the anchor hits are already columns <prefix><tier> (0/1)
        anchor = F.col(f"{anchor_prefix}{t}").cast("int") if anchor_prefix else \
            anchors[t].any_col(F.col(parsed_codes)).cast("int")
        head = (F.coalesce(k("head_tier"), F.lit("")) == t).cast("double")
        title_part = F.round(F.lit(s.title_weight) * (k(f"title_{t}")
                                                      + F.lit(s.modifier_weight) * k(f"modifier_{t}"))
                             + F.lit(s.head_bonus) * head, 9)
        total = F.round(title_part + F.lit(s.abstract_weight) * k(f"abstract_{t}")
                        + F.lit(s.ipc_anchor_weight) * F.col(f"_A_{t}"), 9)
        out = out.withColumn(f"_A_{t}", anchor).withColumn(f"_T_{t}", title_part) \
                 .withColumn(f"_S_{t}", total)
        keys.append(F.struct(F.col(f"_S_{t}").alias("score"), F.col(f"_T_{t}").alias("title"),
                             F.col(f"_A_{t}").alias("anchor"), F.lit(prec[t]).alias("prec"),
                             F.lit(t).alias("tier")))
    out = out.withColumn("_best", F.greatest(*keys)) \
             .withColumn("_second", F.sort_array(F.array(*[F.col(f"_S_{t}") for t in TIERS]),
                                                 asc=False)[1])

    # ---- evidence ---------------------------------------------------------------------
    strong, weak, ctx = k("has_ai"), k("has_weak"), k("has_context")
    supported = k("weak_and_context_in_title")
    marker = strong | weak
    out = out.withColumn("is_ai_kw", strong | supported) \
             .withColumn("is_ai_ipc", F.size(F.col(matched_codes)) > 0)
    out = out.withColumn("generic_digital", ~strong & ~supported & ~F.col(ipc_specific)
                         & (F.col("is_ai_ipc") | k("has_digital")))
    rule = {"ipc": F.col("is_ai_ipc"), "keyword": F.col("is_ai_kw"),
            "either": F.col("is_ai_kw") | F.col("is_ai_ipc"),
            "both": F.col("is_ai_kw") & F.col("is_ai_ipc"),
            "combined": F.col("is_ai_kw") | (F.col("is_ai_ipc") & ~F.col("generic_digital"))}
    out = out.withColumn("is_ai", rule[s.is_ai_rule])
    out = out.withColumn("ai_basis", F.when(~F.col("is_ai"), "none")
                         .when(F.col("is_ai_kw") & F.col("is_ai_ipc"), "both")
                         .when(F.col("is_ai_kw"), "keyword").otherwise("ipc"))

    # ---- tier and ambiguity -----------------------------------------------------------
    top = F.col("_best.score")
    second = F.col("_second")
    ai = F.col("is_ai")
    reasons = F.array(
        F.when(ai & (top > 0) & (top == second), F.lit("tier_tie")),
        F.when(ai & (top > 0) & (second > 0) & (top != second)
               & ((top - second) / top < F.lit(s.min_margin_ratio)), F.lit("low_margin")),
        F.when(ai & (top == 0), F.lit("no_tier_signal")),
        F.when(~strong & ~F.col(ipc_specific) & ~supported & weak & (ctx | F.col("is_ai_ipc")),
               F.lit("weak_evidence")),
        F.when(ai & ~marker, F.lit("ipc_only")))
    out = out.withColumn("_reasons", F.array_compact(reasons))
    flagged = F.array(*[F.lit(r) for r in s.flag]) if s.flag else F.array().cast("array<string>")
    fallback = F.lit(s.fallback_tier).cast("string")
    out = (out
           .withColumn("tier", F.when(~ai, F.lit(None).cast("string"))
                       .when(top == 0, fallback).otherwise(F.col("_best.tier")))
           .withColumn("tier_scores", F.struct(*[F.col(f"_S_{t}").alias(t) for t in TIERS]))
           .withColumn("ambiguous", F.arrays_overlap(F.col("_reasons"), flagged)
                       & F.lit(bool(s.flag)))
           .withColumn("ambiguity_reason", F.when(F.size("_reasons") > 0,
                                                  F.concat_ws(";", F.col("_reasons"))))
           .withColumn("branch", F.when(ai, k("branch")))
           .withColumn("branch_secondary", F.when(ai, k("branch_secondary")))
           .withColumn("matched_terms", F.coalesce(k("terms"), F.array().cast("array<string>"))))
    tmp = [c for c in out.columns if c.startswith("_")]
    return out.drop(*tmp)
