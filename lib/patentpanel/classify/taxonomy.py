"""The AI taxonomy of ``conf/taxonomy/``: IPC code list, keyword dictionary, generic-digital
terms and tier rules, loaded and checked once (bad rows raise naming file, line and field)."""
from __future__ import annotations

import csv
import hashlib
import json
import unicodedata
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from .ipc import CodeList, IPCFormatError

__all__ = ["Term", "Taxonomy", "TaxonomyError", "TIERS", "ROLES", "IPC_GROUPS", "normalize_term"]

TIERS = ("FT", "CT", "GPT")
# ai: identifies AI on its own; weak: AI marker that needs a context term or an AI code;
# context: tier signal only; generic: digital vocabulary without AI function (A5).
ROLES = ("ai", "weak", "context", "generic")
IPC_GROUPS = ("sei2021", "bridge", "wipo2019")


class TaxonomyError(ValueError):
    """A taxonomy file is missing, malformed or inconsistent."""


def normalize_term(term: str) -> str:
    """Dictionary form of a term: NFKC, lower case, hyphens/underscores as spaces, single
    spaces. Text is normalised the same way (length-preserving) before matching."""
    s = unicodedata.normalize("NFKC", term).lower()
    s = re.sub(r"[-_\u2010-\u2015]", " ", s)
    return re.sub(r"\s+", " ", s).strip()


@dataclass(frozen=True)
class Term:
    term: str
    concept: str
    lang: str
    role: str
    tier: str | None
    weight: float
    category: str = ""
    subcategory: str = ""
    branch: str | None = None
    branch_secondary: str | None = None
    source: str = ""

    @property
    def key(self) -> str:
        return normalize_term(self.term)


@dataclass
class Taxonomy:
    version: str
    ipc_codes: CodeList
    terms: list[Term]
    tier_anchors: dict[str, CodeList]
    tier_definitions: dict[str, dict]
    head_rules: dict[str, list[str]]
    directory: Path | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    # ---- loading --------------------------------------------------------------------
    @classmethod
    def load(cls, manifest: str | Path) -> "Taxonomy":
        manifest = Path(manifest)
        meta = _yaml(manifest)
        d = manifest.parent
        files = meta.get("files") or {}
        for key in ("ipc_codes", "keywords", "generic_digital", "tier_rules"):
            if key not in files:
                raise TaxonomyError(f"{manifest}: files.{key} is missing")
        try:
            codes = CodeList.from_csv(d / files["ipc_codes"])
        except (IPCFormatError, OSError) as exc:
            raise TaxonomyError(str(exc)) from None
        bad = sorted({p.group for p in codes.patterns} - set(IPC_GROUPS))
        if bad:
            raise TaxonomyError(f"{d / files['ipc_codes']}: unknown code groups {bad}; "
                                f"expected {list(IPC_GROUPS)}")
        terms = _read_terms(d / files["keywords"]) + _read_generic(d / files["generic_digital"])
        rules = _yaml(d / files["tier_rules"])
        anchors, definitions = {}, {}
        for tier in TIERS:
            spec = (rules.get("tiers") or {}).get(tier)
            if not isinstance(spec, Mapping):
                raise TaxonomyError(f"{d / files['tier_rules']}: tiers.{tier} is missing")
            try:
                anchors[tier] = CodeList.from_patterns(spec.get("ipc_anchors") or [], group=tier)
            except IPCFormatError as exc:
                raise TaxonomyError(f"{d / files['tier_rules']}: tiers.{tier}.ipc_anchors: {exc}") \
                    from None
            definitions[tier] = {k: v for k, v in spec.items() if k != "ipc_anchors"}
        head = rules.get("head_rules") or {}
        head_rules = {k: list(head.get(k) or []) for k in
                      ("en_head_end", "en_modifier_end", "zh_modifier_end")}
        tax = cls(version=str(meta.get("version", "")), ipc_codes=codes, terms=terms,
                  tier_anchors=anchors, tier_definitions=definitions, head_rules=head_rules,
                  directory=d)
        tax.check()
        return tax

    @classmethod
    def from_config(cls, cfg) -> "Taxonomy":
        return cls.load(cfg.path("classify.taxonomy"))

    def check(self) -> None:
        """Consistency: unique terms after normalisation, disjoint tier anchors."""
        seen: dict[str, Term] = {}
        for t in self.terms:
            if not t.key:
                raise TaxonomyError(f"empty term in concept {t.concept!r}")
            if t.key in seen:
                raise TaxonomyError(f"term {t.term!r} ({t.concept}) duplicates "
                                    f"{seen[t.key].term!r} ({seen[t.key].concept}) after "
                                    f"normalisation to {t.key!r}")
            seen[t.key] = t
        # Nested hits are dropped at match time, so a term that contains an AI-identifying
        # term must identify AI itself, or it would hide that evidence.
        ai_keys = [t for t in self.terms if t.role == "ai"]
        for t in self.terms:
            if t.role == "ai":
                continue
            padded = f" {t.key} " if t.key.isascii() else t.key
            for a in ai_keys:
                needle = f" {a.key} " if a.key.isascii() else a.key
                if a.key != t.key and needle in padded:
                    raise TaxonomyError(f"term {t.term!r} (role {t.role}) contains the AI term "
                                        f"{a.term!r}; give it role 'ai' or it hides that evidence")
        for i, a in enumerate(TIERS):
            for b in TIERS[i + 1:]:
                pairs = self.tier_anchors[a].overlapping_pairs(self.tier_anchors[b])
                if pairs:
                    x, y = pairs[0]
                    raise TaxonomyError(f"tier anchors overlap: {a} {x.pattern} and {b} {y.pattern}; "
                                        f"a code must point to one tier")

    # ---- views ----------------------------------------------------------------------
    def ipc_list(self, groups: Mapping[str, bool] | Iterable[str]) -> CodeList:
        """The AI code list restricted to the enabled groups (mapping name -> bool, or names)."""
        if isinstance(groups, Mapping):
            unknown = set(groups) - set(IPC_GROUPS)
            if unknown:
                raise TaxonomyError(f"classify.ipc.groups: unknown groups {sorted(unknown)}; "
                                    f"expected {list(IPC_GROUPS)}")
            enabled = {g for g, on in groups.items() if on}
        else:
            enabled = set(groups)
        return CodeList([p for p in self.ipc_codes.patterns if p.group in enabled])

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            blob = json.dumps({
                "v": self.version,
                "codes": [p.__dict__ for p in self.ipc_codes.patterns],
                "terms": [t.__dict__ for t in self.terms],
                "anchors": {k: [p.pattern for p in v.patterns] for k, v in self.tier_anchors.items()},
                "head": self.head_rules}, sort_keys=True, default=str, ensure_ascii=False)
            self._fingerprint = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._fingerprint

    def terms_frame(self):
        import pandas as pd
        return pd.DataFrame([t.__dict__ for t in self.terms])


def _yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise TaxonomyError(f"taxonomy file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TaxonomyError(f"{path}: expected a mapping at top level")
    return data


def _rows(path: Path, required: set[str]):
    try:
        fh = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise TaxonomyError(f"taxonomy file not found: {path}") from None
    with fh:
        reader = csv.DictReader(fh)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise TaxonomyError(f"{path}: missing columns {sorted(missing)}")
        for lineno, row in enumerate(reader, start=2):
            yield lineno, {k: (v or "").strip() for k, v in row.items()}


def _read_terms(path: Path) -> list[Term]:
    out = []
    for lineno, r in _rows(path, {"concept", "lang", "term", "role", "tier", "weight"}):
        where = f"{path}:{lineno} ({r['term']!r})"
        if r["role"] not in ROLES or r["role"] == "generic":
            raise TaxonomyError(f"{where}: role {r['role']!r} is not one of ai, weak, context "
                                f"(generic terms belong in the generic-digital file)")
        if r["tier"] and r["tier"] not in TIERS:
            raise TaxonomyError(f"{where}: tier {r['tier']!r} is not one of {list(TIERS)} or empty")
        if r["lang"] not in ("zh", "en"):
            raise TaxonomyError(f"{where}: lang {r['lang']!r} is not 'zh' or 'en'")
        try:
            weight = float(r["weight"])
        except ValueError:
            raise TaxonomyError(f"{where}: weight {r['weight']!r} is not a number") from None
        if weight < 0 or (r["tier"] and weight == 0):
            raise TaxonomyError(f"{where}: weight {weight} must be > 0 for a tier term, >= 0 otherwise")
        if r["role"] == "context" and not r["tier"]:
            raise TaxonomyError(f"{where}: a context term needs a tier (it only signals a tier)")
        out.append(Term(term=r["term"], concept=r["concept"], lang=r["lang"], role=r["role"],
                        tier=r["tier"] or None, weight=weight, category=r.get("category", ""),
                        subcategory=r.get("subcategory", ""), branch=r.get("branch") or None,
                        branch_secondary=r.get("branch_secondary") or None,
                        source=r.get("source", "")))
    return out


def _read_generic(path: Path) -> list[Term]:
    out = []
    for lineno, r in _rows(path, {"concept", "lang", "term"}):
        if r["lang"] not in ("zh", "en"):
            raise TaxonomyError(f"{path}:{lineno}: lang {r['lang']!r} is not 'zh' or 'en'")
        out.append(Term(term=r["term"], concept=r["concept"], lang=r["lang"], role="generic",
                        tier=None, weight=0.0, category="Generic digital (A5)",
                        source=r.get("note", "")))
    return out

