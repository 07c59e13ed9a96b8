"""The classification transform: silver.patents rows -> silver.ai_patents rows.

``AIClassifier(taxonomy, ...).transform(patents)`` is pure (DataFrame in, DataFrame out):
code normalisation and the tier score are Spark built-in expressions; keyword matching
(one Aho-Corasick pass) and the per-record IPC results (:class:`~.ipc.CodeFlagger`) run in
one ``mapInArrow`` pass over the narrow input frame, whose texts are not returned from the
Python workers.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

from .ipc import NORMAL_FORM, CodeFlagger, CodeList, ipc_array_col
from .keywords import KeywordMatcher
from .taxonomy import IPC_GROUPS, Taxonomy
from .tiers import TierSettings, score_tiers

__all__ = ["AIClassifier", "OUTPUT_COLUMNS", "InputSchemaError"]

log = logging.getLogger("patentpanel.classify")

OUTPUT_COLUMNS = ("app_no", "app_year", "is_ai", "ai_basis", "is_ai_ipc", "is_ai_kw", "tier",
                  "branch", "branch_secondary", "tier_scores", "matched_terms", "matched_codes",
                  "keyword_hits", "ambiguous", "ambiguity_reason", "generic_digital",
                  "override_source", "taxonomy_version")


class InputSchemaError(ValueError):
    """The input table lacks a column the classifier needs, or has the wrong type."""


@dataclass
class AIClassifier:
    """AI identification and tiering with one taxonomy and one set of settings.

    >>> clf = AIClassifier.from_config(cfg)            # doctest: +SKIP
    >>> ai = clf.transform(spark.table("silver.patents"))   # doctest: +SKIP
    """
    taxonomy: Taxonomy
    settings: TierSettings = field(default_factory=TierSettings)
    ipc_groups: Mapping[str, bool] = field(default_factory=lambda: {
        "sei2021": True, "bridge": True, "wipo2019": False})
    enforce_validity: bool = False

    @classmethod
    def from_config(cls, cfg, taxonomy: Taxonomy | None = None) -> "AIClassifier":
        groups = dict(cfg.get("classify.ipc.groups"))
        return cls(taxonomy=taxonomy or Taxonomy.from_config(cfg),
                   settings=TierSettings.from_config(cfg), ipc_groups=groups,
                   enforce_validity=bool(cfg.get("classify.ipc.enforce_validity")))

    @property
    def codes(self) -> CodeList:
        return self.taxonomy.ipc_list(self.ipc_groups)

    @property
    def matcher(self) -> KeywordMatcher:
        return KeywordMatcher.from_taxonomy(self.taxonomy)

    def describe(self) -> dict:
        return {"taxonomy_version": self.taxonomy.version,
                "taxonomy_fingerprint": self.taxonomy.fingerprint(),
                "ipc_groups": [g for g in IPC_GROUPS if self.ipc_groups.get(g)],
                "n_codes": len(self.codes), "n_terms": len(self.taxonomy.terms),
                "is_ai_rule": self.settings.is_ai_rule}

    def _check_input(self, df) -> bool:
        from pyspark.sql import types as T
        types = dict((f.name, f.dataType) for f in df.schema.fields)
        need = {"app_no": T.StringType, "title": T.StringType, "abstract": T.StringType}
        for name, typ in need.items():
            if name not in types:
                raise InputSchemaError(f"classify input: column {name!r} is missing "
                                       f"(silver.patents contract; have {', '.join(df.columns)})")
            if not isinstance(types[name], typ):
                raise InputSchemaError(f"classify input: column {name!r} is {types[name].simpleString()}, "
                                       f"expected string")
        if "ipc_codes" not in types:
            raise InputSchemaError("classify input: column 'ipc_codes' is missing (expected "
                                   "array<string> of codes like 'G06N3/08')")
        t = types["ipc_codes"]
        if isinstance(t, T.ArrayType) and isinstance(t.elementType, T.StringType):
            return True
        if isinstance(t, T.StringType):
            return False
        raise InputSchemaError(f"classify input: column 'ipc_codes' is {t.simpleString()}, "
                               f"expected array<string> (or a separated string)")

    def transform(self, patents):
        """Classify every row of ``patents`` (app_no, title, abstract, ipc_codes, and
        app_year when present). Returns the columns of :data:`OUTPUT_COLUMNS` plus
        ``n_invalid_codes`` (codes dropped because they could not be read)."""
        from pyspark.sql import functions as F
        is_array = self._check_input(patents)
        year = F.col("app_year").cast("int") if "app_year" in patents.columns else F.lit(None).cast("int")
        raw = F.col("ipc_codes") if is_array else F.split(F.col("ipc_codes"), r"[;；|,，]+")
        df = patents.select(
            F.col("app_no"), year.alias("app_year"),
            F.coalesce(F.col("title"), F.lit("")).alias("title"),
            F.coalesce(F.col("abstract"), F.lit("")).alias("abstract"),
            ipc_array_col(F.col("ipc_codes"), is_array=is_array, trusted=NORMAL_FORM).alias("_codes"),
            F.coalesce(F.size(F.filter(raw, lambda c: F.trim(c) != "")), F.lit(0)).alias("_n_raw_codes"))
        # One Python pass on the narrow frame: keywords, and the texts do not come back
        # (nothing downstream reads them).
        # The IPC results (matched AI codes, specific, tier anchors) are computed in the same
        # Python pass (CodeFlagger): as Spark higher-order functions they ran interpreted and
        # cost more JVM time than the keyword matching.
        flagger = CodeFlagger(self.codes, self.taxonomy.tier_anchors,
                              enforce_validity=self.enforce_validity)
        df = self.matcher.transform(df, "title", "abstract", "keyword_hits", summary="_kw_summary",
                                    keep_text=False, extra=flagger)
        df = df.withColumn("n_invalid_codes", F.greatest(F.col("_n_raw_codes") - F.size("_codes"),
                                                         F.lit(0)))
        df = score_tiers(df, self.settings, self.taxonomy.tier_anchors, summary="_kw_summary",
                         anchor_prefix=flagger.prefix)
        df = (df.withColumn("override_source", F.lit(None).cast("string"))
                .withColumn("taxonomy_version", F.lit(self.taxonomy.version)))
        return df.select(*OUTPUT_COLUMNS, "n_invalid_codes")
