"""Titles, abstracts, IPC codes and inventor names of simulated patents.

The vocabularies are the simulator's own truth data (``conf/simulate/vocab/``), written
independently of the classifier's taxonomy so the classifier is checked against an
independent truth. Every draw comes from a caller-supplied ``random.Random`` seeded per
application, and only ``rng.random()`` is used (via :func:`pick` / :func:`randint`), so
the text depends on (seed, app_id) alone and not on Python's sampling helpers.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

__all__ = ["Vocabulary", "TextMaker", "Text", "format_ipc", "pick", "randint",
           "pick_weighted", "IPC_FORMATS", "VocabularyError"]

IPC_FORMATS = ("space", "compact", "version", "compact_version")
PATENT_TYPES = ("invention", "utility", "design")
TIERS = ("FT", "CT", "GPT")


class VocabularyError(ValueError):
    """A vocabulary file is missing an entry the renderer needs."""


def pick(rng: random.Random, seq: Sequence):
    return seq[int(rng.random() * len(seq))]


def randint(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi]."""
    return lo + int(rng.random() * (hi - lo + 1))


def pick_weighted(rng: random.Random, items: Sequence, cum: Sequence[float]):
    """``items[i]`` with probability given by cumulative weights ``cum`` (last = 1)."""
    u = rng.random()
    for item, c in zip(items, cum):
        if u < c:
            return item
    return items[-1]


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _default_vocab_dir() -> Path:
    from ..config import conf_dir
    return conf_dir() / "simulate" / "vocab"


def _read(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_LOADER) or {}
    except FileNotFoundError:
        raise VocabularyError(f"vocabulary file not found: {path}") from None


@dataclass
class Vocabulary:
    """All vocabulary files of ``conf/simulate/vocab``."""
    topics: dict
    zh: dict
    en: dict
    names: dict
    addresses: dict
    ipc_versions: dict

    @classmethod
    def load(cls, directory: str | Path | None = None) -> "Vocabulary":
        d = Path(directory) if directory else _default_vocab_dir()
        v = cls(topics=_read(d / "topics.yaml")["topics"], zh=_read(d / "zh.yaml"),
                en=_read(d / "en.yaml"), names=_read(d / "names.yaml"),
                addresses=_read(d / "addresses.yaml"),
                ipc_versions=_read(d / "ipc_versions.yaml"))
        v.validate()
        return v

    def validate(self) -> None:
        for name, t in self.topics.items():
            for lang, voc in (("zh", self.zh), ("en", self.en)):
                tv = voc["topics"].get(name)
                if tv is None:
                    raise VocabularyError(f"topic {name!r} has no {lang} vocabulary")
                for pt in t["patent_types"]:
                    if pt == "design":
                        if not t.get("locarno") or not tv.get("designs"):
                            raise VocabularyError(f"topic {name!r} allows design patents "
                                                  f"but has no locarno/{lang} designs")
                    elif pt not in tv["forms"]:
                        raise VocabularyError(f"topic {name!r}: no {lang} forms for {pt}")
                if t["group"] != "ai" and "decoys" not in tv:
                    raise VocabularyError(f"non-AI topic {name!r}: no {lang} decoys")
                if t["group"] == "ai" and "design" in t["patent_types"] and not tv.get("design_uses"):
                    # a design brief states only the product's name and use: an AI design
                    # patent needs a use naming the AI function, or coders could not tell
                    raise VocabularyError(f"AI topic {name!r} allows design patents but has no "
                                          f"{lang} design_uses")
            periods = t["ipc"]
            prev = None
            for i, p in enumerate(periods):
                if (p["from"] is None) != (i == 0) or (prev is not None and p["from"] != prev + 1):
                    raise VocabularyError(f"topic {name!r}: IPC periods must be contiguous "
                                          f"and start open (from: null)")
                prev = p["to"]
            if prev is not None:
                raise VocabularyError(f"topic {name!r}: last IPC period must be open (to: null)")

    def topics_of_tier(self, tier: str) -> list[str]:
        return [k for k, t in self.topics.items() if t["tier"] == tier]


@dataclass
class Text:
    title: str
    abstract: str
    english: bool


_VERSION_CACHE: dict[tuple[int, str], str] = {}


def _ipc_version(code: str, versions: dict) -> str:
    key = (id(versions), code)
    hit = _VERSION_CACHE.get(key)
    if hit is None:
        hit = _VERSION_CACHE[key] = _ipc_version_uncached(code, versions)
    return hit


def _ipc_version_uncached(code: str, versions: dict) -> str:
    best, best_len = versions.get("default", "2006.01"), -1
    for prefix, ver in versions.get("prefixes", {}).items():
        if code.startswith(prefix) and len(prefix) > best_len:
            best, best_len = ver, len(prefix)
    return best


def format_ipc(code: str, style: str, versions: dict | None = None) -> str:
    """Format a canonical code (``G06N 3/08``) in one of :data:`IPC_FORMATS`; Locarno
    classes (``14-02``) are returned unchanged."""
    if "-" in code and "/" not in code:
        return code
    if style == "space":
        return code
    compact = code.replace(" ", "")
    if style == "compact":
        return compact
    ver = _ipc_version(code, versions or {})
    if style == "version":
        return f"{code}({ver})"
    if style == "compact_version":
        return f"{compact}({ver})"
    raise VocabularyError(f"IPC format {style!r}: expected one of {IPC_FORMATS}")


def _join_zh(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return "、".join(items[:-1]) + "和" + items[-1]


def _join_en(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _bare(noun: str) -> str:
    for article in ("a ", "an "):
        if noun.startswith(article):
            return noun[len(article):]
    return noun


def _sample(rng: random.Random, seq: Sequence, k: int) -> list:
    """k distinct items in their draw order (partial Fisher-Yates on a copy)."""
    pool = list(seq)
    k = min(k, len(pool))
    for i in range(k):
        j = i + int(rng.random() * (len(pool) - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


class TextMaker:
    """Builds title, abstract, IPC codes and inventors for one application."""

    def __init__(self, vocab: Vocabulary, settings: dict[str, Any]):
        self.v = vocab
        self.s = settings
        self._tier_topics = {t: vocab.topics_of_tier(t) for t in TIERS}
        self._ipc_cache: dict[tuple[str, int], dict] = {}

    # ---------------------------------------------------------------- text
    def text(self, topic: str, patent_type: str, tier: str | None, borderline: bool,
             english: bool, rng: random.Random) -> Text:
        if topic not in self.v.topics:
            raise VocabularyError(f"unknown topic {topic!r}; topics are listed in "
                                  f"conf/simulate/vocab/topics.yaml")
        lang = self.v.en if english else self.v.zh
        tv = lang["topics"][topic]
        group = self.v.topics[topic]["group"]
        if patent_type == "design":
            return self._design(lang, tv, english, rng)
        other = None
        if borderline and group == "ai":
            other = pick(rng, [t for t in TIERS if t != tier])
        basis, core = pick(rng, tv["basis"]), pick(rng, tv["core"])
        bl = self.s["borderline"]
        if other is not None and rng.random() < bl["title_cross"]:
            basis = pick(rng, lang["cross_titles"][other])
        decoy = None
        if borderline and group != "ai":
            decoy = tv["decoys"]
            if rng.random() < bl["decoy_title"]:
                core = pick(rng, decoy["core"])
        form = pick(rng, tv["forms"][patent_type])
        if form and core.endswith(form):
            form = ""                   # a decoy core that names the product: no "装置装置"
        tmpl = pick(rng, lang["title_templates"][patent_type])
        if english:
            title = self._en_title(tmpl, basis, core, form)
        else:
            title = tmpl.format(basis=basis, core=core, form=form)
        field = pick(rng, tv.get("field") or lang["fields"][tier or group])
        body = self._body(lang, tv, form, patent_type, english, rng)
        extra = []
        if other is not None:
            lo, hi = bl["mentions"]
            for m in _sample(rng, lang["cross_mentions"][other], randint(rng, lo, hi)):
                extra.append(m)
        if decoy is not None:
            extra.append(pick(rng, decoy["sentences"]))
        effects = _sample(rng, tv["effects"], randint(rng, 1, 2))
        opener = pick(rng, lang["abstract_openers"][patent_type])
        if english:
            t = title[0].lower() + title[1:] if not title[:2].isupper() else title
            parts = [opener.format(title=t, field=field) + body]
            parts += [e[0].upper() + e[1:] + "." for e in extra]
            parts.append(pick(rng, lang["effect_sentence"][patent_type])
                         .format(effects=_join_en(effects)))
            abstract = " ".join(parts)
        else:
            t = title[2:] if title.startswith("一种") else title
            parts = [opener.format(title=t, field=field) + body]
            parts += [e + "。" for e in extra]
            parts.append(pick(rng, lang["effect_sentence"][patent_type])
                         .format(effects="，".join(effects)))
            abstract = "".join(parts)
        return Text(title, abstract, english)

    @staticmethod
    def _en_title(tmpl: str, basis: str, core: str, form: str) -> str:
        core_form = (core + " " + form).strip() if form else core
        if tmpl.startswith("{Core}"):
            rest = tmpl[len("{Core} {form}"):].format(basis=basis)
            s = core_form + rest
        elif tmpl.startswith("{Basis}"):
            s = f"{basis}-based {core_form}"
        else:
            s = core_form
        return s[0].upper() + s[1:]

    def _body(self, lang: dict, tv: dict, form: str, patent_type: str, english: bool,
              rng: random.Random) -> str:
        steps = _sample(rng, tv["steps"], randint(rng, 2, min(4, len(tv["steps"]))))
        is_method = ("方法" in form or "工艺" in form or "method" in form)
        parts = tv.get("parts") or []
        if patent_type == "invention" and (is_method or len(parts) < 2):
            if english:
                return pick(rng, lang["method_body"]).format(steps="; ".join(steps))
            numbered = "；".join(f"S{i + 1}、{s}" for i, s in enumerate(steps))
            plain = "，".join(steps)
            return pick(rng, lang["method_body"]).format(
                steps=numbered if rng.random() < 0.6 else plain)
        chosen = _sample(rng, parts, randint(rng, 2, min(4, len(parts))))
        if english:
            funcs = "; ".join(steps)
            key = "system_body" if patent_type == "invention" else "device_body"
            return pick(rng, lang[key]).format(parts=_join_en(chosen), functions=funcs,
                                               part0=_bare(chosen[0]), part1=_bare(chosen[1]))
        key = "system_body" if patent_type == "invention" and ("系统" in form or "平台" in form) \
            else "device_body"
        return pick(rng, lang[key]).format(parts=_join_zh(chosen), functions="，".join(steps),
                                           part0=chosen[0], part1=chosen[1])

    def _design(self, lang: dict, tv: dict, english: bool, rng: random.Random) -> Text:
        name = pick(rng, tv["designs"])
        field = pick(rng, tv.get("design_uses") or tv.get("field") or ["general use"])
        use = f"for {field}" if english else f"用于{field}"

        abstract = lang["design_abstract"].format(
            name=name, use=use, point=pick(rng, lang["design_points"]),
            view=pick(rng, lang["design_views"]))
        return Text(name[0].upper() + name[1:] if english else name, abstract, english)

    # ---------------------------------------------------------------- IPC
    def _period(self, topic: str, year: int) -> dict:
        key = (topic, year)
        p = self._ipc_cache.get(key)
        if p is None:
            for period in self.v.topics[topic]["ipc"]:
                lo = period["from"] if period["from"] is not None else -10**9
                hi = period["to"] if period["to"] is not None else 10**9
                if lo <= year <= hi:
                    p = period
                    break
            self._ipc_cache[key] = p
        return p

    def ipc_codes(self, topic: str, patent_type: str, year: int, tier: str | None,
                  borderline: bool, rng: random.Random) -> list[str]:
        """Canonical codes valid in the filing year, main code first (Locarno classes for
        design patents)."""
        t = self.v.topics[topic]
        if patent_type == "design":
            codes = [pick(rng, t["locarno"])]
            return codes
        p = self._period(topic, year)
        main = pick(rng, p["main"])
        lo, hi = self.s["ipc_extra"]
        pool = [c for c in p["extra"] + p["main"] if c != main]
        codes = [main] + _sample(rng, pool, randint(rng, lo, hi))
        if borderline and t["group"] == "ai" and rng.random() < self.s["borderline"]["ipc_cross"]:
            other = pick(rng, [x for x in TIERS if x != tier])
            code = pick(rng, self._period(pick(rng, self._tier_topics[other]), year)["main"])
            if code not in codes:
                codes.append(code)
        return codes

    # ---------------------------------------------------------------- inventors
    def inventors(self, n: int, country: str, rng: random.Random) -> list[str]:
        names = self.v.names
        if country in ("CN", "HK", "MO", "TW", ""):
            out = []
            for _ in range(n):
                sur = pick(rng, names["compound_surnames"]) if rng.random() < 0.01 \
                    else pick(rng, names["surnames"])
                given = pick(rng, names["given_chars"])
                if rng.random() < 0.7:
                    given += pick(rng, names["given_chars"])
                out.append(sur + given)
            return out
        f = names["foreign"].get(country, names["foreign"]["default"])
        if "cjk" in f:
            return [pick(rng, f["cjk"]) for _ in range(n)]
        return [f"{pick(rng, f['first'])} {pick(rng, f['last'])}" for _ in range(n)]
