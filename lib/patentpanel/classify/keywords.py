"""Keyword matching: one Aho-Corasick automaton (pyahocorasick) over the whole Chinese and
English dictionary, run inside Spark with ``mapInArrow``.

Per record the text is scanned once (cost independent of the dictionary size); there is
no loop over terms. The automaton is built once per Python worker process and cached by
the dictionary's fingerprint. ``mapInArrow`` rather than ``mapInPandas`` because the
output is a nested ``array<struct>`` column, which Arrow builds directly from flat
buffers without going through pandas objects.

Matching rules
--------------
* Text is normalised length-preservingly before scanning (full-width ASCII to
  half-width, ASCII upper to lower case, hyphens/underscores/dashes and line breaks to
  spaces), so positions refer to the original text; runs of spaces are collapsed with an
  offset map.
* A term whose first (last) character is an ASCII letter or digit must not be preceded
  (followed) by one: ``ai`` does not match inside ``maintain``. English terms may be
  followed by a plural ``s``/``es``.
* A hit lying inside a longer hit is dropped (``卷积神经网络`` hides ``神经网络``, ``智能手机``
  hides ``智能``); overlapping hits that are not nested are both kept.
* Each title hit inside the title's head segment that carries a tier gets ``head=True``
  for the last such hit (see conf/taxonomy/tier_rules.yaml, ``head_rules``).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

from .taxonomy import Taxonomy, Term, normalize_term

__all__ = ["Hit", "KeywordMatcher", "HIT_FIELDS", "SUMMARY_FIELDS", "hit_type", "summary_type",
           "normalize_text"]

log = logging.getLogger("patentpanel.classify.keywords")

HIT_FIELDS = ("term", "concept", "field", "start", "end", "role", "tier", "weight",
              "branch", "branch_secondary", "head")

_TRANS = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_TRANS[0x3000] = 0x20
for _c in range(ord("A"), ord("Z") + 1):
    _TRANS[_c] = _c + 32
for _c in list(_TRANS):
    if 0x41 <= _TRANS[_c] <= 0x5A:          # full-width capitals straight to lower case
        _TRANS[_c] += 32
for _c in "-_\u2010\u2011\u2012\u2013\u2014\u2015\t\n\r\u00a0":
    _TRANS[ord(_c)] = 0x20
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r" {2,}")
_AUTOMATA: dict[str, object] = {}       # per-process cache: fingerprint -> automaton


def normalize_text(text: str) -> tuple[str, list[int] | None]:
    """Normalised text and, when space runs were collapsed, the original index of each
    normalised character (None means positions are unchanged)."""
    s = text.translate(_TRANS)
    if "  " not in s:
        return s, None
    out, index, last = [], [], 0
    for m in _SPACES.finditer(s):
        out.append(s[last:m.start() + 1])
        index.extend(range(last, m.start() + 1))
        last = m.end()
    out.append(s[last:])
    index.extend(range(last, len(s)))
    return "".join(out), index


def _is_alnum_ascii(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("0" <= ch <= "9")


@dataclass(frozen=True)
class Hit:
    term: str
    concept: str
    field: str
    start: int
    end: int
    role: str
    tier: str | None
    weight: float
    branch: str | None
    branch_secondary: str | None
    head: bool = False


def hit_type():
    from pyspark.sql import types as T
    return T.StructType([
        T.StructField("term", T.StringType()), T.StructField("concept", T.StringType()),
        T.StructField("field", T.StringType()), T.StructField("start", T.IntegerType()),
        T.StructField("end", T.IntegerType()), T.StructField("role", T.StringType()),
        T.StructField("tier", T.StringType()), T.StructField("weight", T.DoubleType()),
        T.StructField("branch", T.StringType()),
        T.StructField("branch_secondary", T.StringType()), T.StructField("head", T.BooleanType())])


class KeywordMatcher:
    """The dictionary of a :class:`Taxonomy` as a picklable matcher.

    ``match(title, abstract)`` works on one record (tests, review sheets);
    ``transform(df)`` adds an ``array<struct>`` column of hits to a Spark DataFrame.
    """

    def __init__(self, terms: Sequence[Term], head_rules: dict[str, list[str]] | None = None,
                 fingerprint: str = ""):
        self.terms = list(terms)
        self.keys = [t.key for t in self.terms]
        hr = head_rules or {}
        self.en_head_end = [f" {normalize_term(x)} " for x in hr.get("en_head_end", [])]
        self.en_modifier_end = [f" {normalize_term(x)} " for x in hr.get("en_modifier_end", [])]
        self.zh_modifier_end = list(hr.get("zh_modifier_end", []))
        self.fingerprint = fingerprint or str(hash(tuple(self.keys)))
        # (check left edge, check right edge, plural allowed): plural s/es only for English
        # words longer than 3 letters, so 'ai' does not match 'AIS'
        self._edge = [(_is_alnum_ascii(k[0]), _is_alnum_ascii(k[-1]),
                       t.lang == "en" and len(k) > 3 and k[-1].isalpha())
                      for k, t in zip(self.keys, self.terms)]
        self._attrs = [(t.term, t.concept, t.role, t.tier, float(t.weight), t.branch,
                        t.branch_secondary) for t in self.terms]

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> "KeywordMatcher":
        return cls(taxonomy.terms, taxonomy.head_rules, taxonomy.fingerprint())

    # ---- automaton ------------------------------------------------------------------
    def _automaton(self):
        a = _AUTOMATA.get(self.fingerprint)
        if a is None:
            import ahocorasick
            a = ahocorasick.Automaton()
            for i, k in enumerate(self.keys):
                a.add_word(k, (i, len(k)))
            a.make_automaton()
            _AUTOMATA[self.fingerprint] = a
        return a

    # ---- one field --------------------------------------------------------------------
    def _scan(self, text: str | None, head: bool = False):
        """Hits as (start, end, term index) in original coordinates, boundary-checked,
        nested hits removed, sorted by start; and (if ``head``) the index of the head hit."""
        if not text:
            return [], None, None
        norm, index = normalize_text(text)
        n = len(norm)
        raw = []
        for end_idx, (i, length) in self._automaton().iter(norm):
            start, end = end_idx - length + 1, end_idx + 1
            left, right, en = self._edge[i]
            if left and start > 0 and _is_alnum_ascii(norm[start - 1]):
                continue
            if right and end < n and _is_alnum_ascii(norm[end]):
                if not en:
                    continue
                j = end + (1 if norm[end] == "s" else 2 if norm.startswith("es", end) else 0)
                if j == end or (j < n and _is_alnum_ascii(norm[j])):
                    continue
            raw.append((start, end, i))
        raw.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        kept, max_end = [], -1
        for h in raw:
            if h[1] <= max_end:
                continue                      # inside an earlier, longer (or equal-start) hit
            kept.append(h)
            max_end = h[1]
        head_at, seg = self._head(norm, kept) if head and kept else (None, None)
        if index is not None:
            kept = [(index[s], index[e - 1] + 1, i) for s, e, i in kept]
            if seg is not None:
                lo, hi = seg
                seg = (index[lo] if lo < len(index) else len(text), index[hi - 1] + 1 if hi > 0 else 0)
        return kept, head_at, seg

    def _head(self, norm: str, hits: list[tuple[int, int, int]]):
        """(index into ``hits`` of the head term or None, head segment (lo, hi)) in
        normalised-text coordinates. Title hits outside the head segment are modifiers
        (the means: 基于X的..., X-based ..., ... for X)."""
        lo, hi = 0, len(norm)
        if _CJK.search(norm):
            for marker in self.zh_modifier_end:
                p = norm.rfind(marker)
                if p >= 0:
                    lo = max(lo, p + len(marker))
            return self._last_tier_hit(hits, lo, hi), (lo, hi)
        padded = f" {norm} "                  # padded index p is text index p - 1
        ends = sorted((p, m) for p, m in ((padded.find(m), m) for m in self.en_head_end) if p >= 0)
        window = ends[0][0] if ends else len(padded)
        if ends:
            hi = window - 1                   # text index of the space before the marker word
        for marker in self.en_modifier_end:
            p = padded.rfind(marker, 0, window)
            if p >= 0:
                lo = max(lo, p + len(marker) - 1)
        best = self._last_tier_hit(hits, lo, hi)
        if best is None and ends:
            # a generic head ("Method for X", "System for X based on Y"): the function is
            # named by the complement, up to the next marker
            p, m = ends[0]
            lo2 = p + len(m) - 1
            later = [padded.find(x, lo2) for x in self.en_head_end]
            later = [q for q in later if q >= lo2]
            hi2 = (min(later) - 1) if later else len(norm)
            best2 = self._last_tier_hit(hits, lo2, hi2)
            if best2 is not None:
                return best2, (lo2, hi2)
        return best, (lo, hi)

    def _last_tier_hit(self, hits, lo: int, hi: int) -> int | None:
        best = None
        for k, (s, e, i) in enumerate(hits):
            if self._attrs[i][3] and s >= lo and e <= hi:
                best = k
        return best

    def match(self, title: str | None, abstract: str | None = None) -> list[Hit]:
        """All hits of one record: title hits first, then abstract hits, each by position."""
        out: list[Hit] = []
        for field_name, text in (("title", title), ("abstract", abstract)):
            hits, head, _ = self._scan(text, head=field_name == "title")
            for k, (s, e, i) in enumerate(hits):
                term, concept, role, tier, weight, branch, branch2 = self._attrs[i]
                out.append(Hit(term, concept, field_name, s, e, role, tier, weight,
                               branch, branch2, k == head))
        return out

    # ---- Spark ------------------------------------------------------------------------
    def _arrow_hits(self, titles: Sequence[str | None], abstracts: Sequence[str | None]):
        """(hits list-array, summary struct-array) for a batch of records."""
        import pyarrow as pa
        cols: list[list] = [[] for _ in HIT_FIELDS]
        (c_term, c_concept, c_field, c_start, c_end, c_role, c_tier, c_weight, c_branch,
         c_branch2, c_head) = cols
        summ: dict[str, list] = {f: [] for f, _ in SUMMARY_FIELDS}
        attrs = self._attrs
        offsets = [0]
        total = 0
        for title, abstract in zip(titles, abstracts):
            seen: dict[str, int] = {}          # term -> 0 title / 1 abstract (first field)
            sums = {("title", t): 0.0 for t in _TIERS}
            sums.update({("abstract", t): 0.0 for t in _TIERS})
            sums.update({("modifier", t): 0.0 for t in _TIERS})
            roles: set[tuple[str, str]] = set()
            digital_ctx = False
            head_tier = None
            best = None                        # (title first, weight, -start) -> branch
            terms: list[str] = []
            for field_name, text in (("title", title), ("abstract", abstract)):
                hits, head, seg = self._scan(text, head=field_name == "title")
                for k, (s, e, i) in enumerate(hits):
                    term, concept, role, tier, weight, branch, branch2 = attrs[i]
                    c_term.append(term); c_concept.append(concept); c_field.append(field_name)
                    c_start.append(s); c_end.append(e); c_role.append(role); c_tier.append(tier)
                    c_weight.append(weight); c_branch.append(branch); c_branch2.append(branch2)
                    c_head.append(k == head)
                    roles.add((role, field_name))
                    if role == "context" and tier in ("FT", "CT"):
                        digital_ctx = True
                    if k == head:
                        head_tier = tier
                    if term not in seen:
                        seen[term] = 1
                        terms.append(term)
                        if tier:
                            part = field_name
                            if seg is not None and not (s >= seg[0] and e <= seg[1]):
                                part = "modifier"
                            if part == "abstract":   # presence, not frequency: max per tier
                                sums[(part, tier)] = max(sums[(part, tier)], weight)
                            else:
                                sums[(part, tier)] += weight
                    if branch is not None:
                        key = (field_name == "title", weight, -s)
                        if best is None or key > best[0]:
                            best = (key, branch, branch2)
                total += len(hits)
            offsets.append(total)
            for t in _TIERS:
                summ[f"title_{t}"].append(sums[("title", t)])
                summ[f"abstract_{t}"].append(sums[("abstract", t)])
                summ[f"modifier_{t}"].append(sums[("modifier", t)])
            summ["head_tier"].append(head_tier)
            summ["has_ai"].append(("ai", "title") in roles or ("ai", "abstract") in roles)
            summ["has_weak"].append(("weak", "title") in roles or ("weak", "abstract") in roles)
            summ["has_context"].append(("context", "title") in roles or ("context", "abstract") in roles)
            summ["weak_and_context_in_title"].append(("weak", "title") in roles and ("context", "title") in roles)
            summ["has_digital"].append(digital_ctx or ("generic", "title") in roles
                                       or ("generic", "abstract") in roles)
            summ["branch"].append(best[1] if best else None)
            summ["branch_secondary"].append(best[2] if best else None)
            summ["terms"].append(terms)
        types = {"start": pa.int32(), "end": pa.int32(), "weight": pa.float64(),
                 "head": pa.bool_()}
        arrays = [pa.array(c, type=types.get(f, pa.string())) for f, c in zip(HIT_FIELDS, cols)]
        struct = pa.StructArray.from_arrays(arrays, names=list(HIT_FIELDS))
        hits_arr = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), struct)
        summary = pa.StructArray.from_arrays(
            [pa.array(summ[f], type=typ) for f, typ in _arrow_summary_types()],
            names=[f for f, _ in SUMMARY_FIELDS])
        return hits_arr, summary

    def transform(self, df, title: str = "title", abstract: str = "abstract",
                  out: str = "keyword_hits", summary: str | None = None, *,
                  keep_text: bool = True, extra=None):
        """``df`` plus ``out``: ``array<struct<term, concept, field, start, end, role, tier,
        weight, branch, branch_secondary, head>>`` (empty array when nothing matches);
        with ``summary``, also a per-record struct (see :data:`SUMMARY_FIELDS`): distinct-
        term weight sums per field and tier, the head term's tier, evidence flags, the
        Table 3 branch of the strongest hit (title first, then weight, then position) and
        the distinct matched terms. ``keep_text=False`` drops the title and abstract
        columns from the result, so the texts are not shipped back from the Python
        workers when nothing downstream reads them (the larger half of the Arrow
        traffic at typical abstract lengths). ``extra`` (e.g. an
        :class:`~patentpanel.classify.ipc.CodeFlagger`) adds the columns of its
        ``fields()``, computed by its ``arrow_columns(batch)`` in the same pass."""
        from pyspark.sql import types as T
        for c in (title, abstract):
            if c not in df.columns:
                raise ValueError(f"keyword matching: input has no column {c!r} "
                                 f"(columns: {', '.join(df.columns)})")
        for c in (out, summary, *([f.name for f in extra.fields()] if extra is not None else [])):
            if c and c in df.columns:
                df = df.drop(c)
        fields = [T.StructField(out, T.ArrayType(hit_type()))]
        if summary:
            fields.append(T.StructField(summary, summary_type()))
        kept = [f for f in df.schema.fields if keep_text or f.name not in (title, abstract)]
        more = list(extra.fields()) if extra is not None else []
        schema = T.StructType(kept + fields + more)
        names = [f.name for f in kept]
        added = [out] + ([summary] if summary else []) + [f.name for f in more]
        matcher = self

        def run(batches: Iterator) -> Iterator:
            import pyarrow as pa
            for b in batches:
                hits, summ = matcher._arrow_hits(b.column(title).to_pylist(),
                                                 b.column(abstract).to_pylist())
                cols = [b.column(n) for n in names] + [hits] + ([summ] if summary else [])
                if extra is not None:
                    cols += extra.arrow_columns(b)
                yield pa.RecordBatch.from_arrays(cols, names=names + added)
        return df.mapInArrow(run, schema)


_TIERS = ("FT", "CT", "GPT")
SUMMARY_FIELDS = (
    *[(f"title_{t}", "double") for t in _TIERS], *[(f"modifier_{t}", "double") for t in _TIERS],
    *[(f"abstract_{t}", "double") for t in _TIERS],
    ("head_tier", "string"), ("has_ai", "boolean"), ("has_weak", "boolean"),
    ("has_context", "boolean"), ("weak_and_context_in_title", "boolean"),
    ("has_digital", "boolean"), ("branch", "string"), ("branch_secondary", "string"),
    ("terms", "array<string>"))


def summary_type():
    from pyspark.sql import types as T
    simple = {"double": T.DoubleType(), "string": T.StringType(), "boolean": T.BooleanType(),
              "array<string>": T.ArrayType(T.StringType())}
    return T.StructType([T.StructField(f, simple[t]) for f, t in SUMMARY_FIELDS])


def _arrow_summary_types():
    import pyarrow as pa
    simple = {"double": pa.float64(), "string": pa.string(), "boolean": pa.bool_(),
              "array<string>": pa.list_(pa.string())}
    return [(f, simple[t]) for f, t in SUMMARY_FIELDS]
