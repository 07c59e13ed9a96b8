"""Throughput of the classification transform on N synthetic records (Spark local[2]).

Synthetic titles/abstracts are composed from the taxonomy's own dictionary (Chinese and
English, seeded with numpy) around neutral filler text, with IPC codes drawn from AI and
non-AI pools. Timed, each forcing full evaluation with the ``noop`` sink:

* ``classify``       AIClassifier.transform: IPC matching + Aho-Corasick keywords
                     (mapInArrow) + tier scores, all output columns
* ``kw_aho``         the keyword step alone (terms, fields, positions, head terms)
* ``kw_instr``       Spark built-ins: filter(array(terms), t -> instr(text, t) > 0) on the
                     lower-cased title and abstract (matched terms only: no boundaries,
                     positions or nesting)
* ``kw_regex``       Spark built-ins: regexp_extract_all with one alternation of all terms
                     (leftmost-longest, misses overlapping hits)

    .venv/bin/python benchmarks/bench_classify.py [--sizes 100000 600000] [--repeat 1]
                                                  [--builtin-max 100000]
    .venv/bin/python benchmarks/bench_classify.py --input silver_patents.parquet [--sizes 600000]

``--input`` times real records instead (a Parquet export of silver.patents, e.g. of the
simulator's lake; ``--sizes`` then takes the first N rows, or all with 0).

Every timing records wall seconds and the CPU seconds it cost, split into the driver
(Python), the JVM and the Python workers (from /proc; the machine is shared, so CPU
seconds are the comparable figure), plus the 1-minute load average at the start.
Prints records/s per method and size; writes benchmarks/results/classify_<sizes>_<methods>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from proctime import cpu_seconds, descendants

import numpy as np
import pandas as pd

from patentpanel.classify.classifier import AIClassifier
from patentpanel.classify.taxonomy import Taxonomy
from patentpanel.config import conf_dir, load_config
from patentpanel.session import build_session

FILLER_ZH = ["一种", "装置", "方法", "系统", "及其", "控制", "结构", "用于", "基于", "的", "设备", "模块",
             "本发明公开了", "包括", "所述", "连接", "设置有", "通过", "实现", "提高了效率", "。", "，"]
FILLER_EN = ["a", "method", "system", "device", "for", "and", "based on", "the", "apparatus",
             "comprising", "wherein", "module", "unit", "configured to", "provides", "improved", ".", ","]
AI_CODES = ["G06N3/08", "G06N3/04", "G06N5/02", "G06F40/30", "G06K9/62", "G06V10/82", "G06F9/44",
            "G06F3/01", "G07C9/00", "G06N3/063"]
OTHER_CODES = ["F16K1/00", "H04L29/06", "G06F17/30", "A61B5/00", "B25J9/16", "G06Q10/08",
               "H01L21/02", "C07D401/04", "G01N33/48", "H04W4/02"]


def synthetic(taxonomy: Taxonomy, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    zh = [t.term for t in taxonomy.terms if t.lang == "zh"]
    en = [t.term for t in taxonomy.terms if t.lang == "en"]
    is_zh = rng.random(n) < 0.7
    n_title_terms = rng.choice([0, 1, 2], size=n, p=[0.5, 0.35, 0.15])
    n_abs_terms = rng.choice([0, 1, 2, 4], size=n, p=[0.45, 0.25, 0.2, 0.1])
    titles, abstracts = [], []
    for i in range(n):
        terms, filler, sep = (zh, FILLER_ZH, "") if is_zh[i] else (en, FILLER_EN, " ")
        t = list(rng.choice(filler, 3)) + list(rng.choice(terms, n_title_terms[i])) + list(rng.choice(filler, 2))
        a = list(rng.choice(filler, 40)) + list(rng.choice(terms, n_abs_terms[i]))
        rng.shuffle(a)
        titles.append(sep.join(t))
        abstracts.append(sep.join(a))
    n_codes = rng.integers(1, 4, size=n)
    ai = rng.random(n) < 0.3
    codes = [list(rng.choice(AI_CODES if ai[i] else OTHER_CODES, n_codes[i], replace=False))
             for i in range(n)]
    return pd.DataFrame({"app_no": [f"CN{2010 + i % 12}1{i:07d}.{i % 10}" for i in range(n)],
                         "app_year": (2010 + np.arange(n) % 12).astype("int32"),
                         "title": titles, "abstract": abstracts, "ipc_codes": codes})


class CpuClock:
    """Wall and CPU seconds of the driver, the JVM and the Python workers (the JVM's
    descendants; reaped workers count through the JVM's children times)."""

    def __init__(self):
        me = os.getpid()
        javas = [p for p in descendants(me)
                 if b"java" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]]
        self.jvm = javas[0] if javas else None

    def snap(self) -> tuple[float, float, float, float]:
        workers = sum(cpu_seconds(k) for k in descendants(self.jvm)) if self.jvm else 0.0
        jvm_total = cpu_seconds(self.jvm, children=True) if self.jvm else 0.0
        return time.perf_counter(), cpu_seconds(os.getpid()), jvm_total, workers

    def timed(self, fn) -> dict:
        a = self.snap()
        fn()
        b = self.snap()
        # jvm_total includes reaped workers; live workers are counted separately
        return {"seconds": b[0] - a[0], "cpu_driver_s": b[1] - a[1],
                "cpu_jvm_s": (b[2] - a[2]), "cpu_workers_s": b[3] - a[3]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 600_000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20250806)
    ap.add_argument("--methods", nargs="+", default=["classify", "kw_aho", "kw_instr", "kw_regex"])
    ap.add_argument("--input", default=None,
                    help="Parquet of real records (app_no, app_year, title, abstract, ipc_codes) "
                         "instead of synthetic text")
    ap.add_argument("--builtin-max", type=int, default=100_000,
                    help="run the built-in alternatives only up to this size (they scale "
                         "with the dictionary: ~660 terms x 2 fields per record)")
    a = ap.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    cfg = load_config(sets=["spark.master=local[2]", "spark.shuffle_partitions=4"])
    spark, _ = build_session(cfg, "bench-classify", test=True)
    from pyspark.sql import functions as F
    tax = Taxonomy.load(conf_dir() / "taxonomy" / "taxonomy.yaml")
    clf = AIClassifier.from_config(cfg, tax)
    keys = sorted({t.key for t in tax.terms})
    regex = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    tmp = Path(tempfile.mkdtemp(prefix="bench-classify-"))
    clock = CpuClock()
    results = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "spark": spark.version, "n_terms": len(keys), "repeat": a.repeat,
               "taxonomy_version": tax.version, "input": a.input or "synthetic", "runs": []}
    try:
        for n in a.sizes:
            t0 = time.perf_counter()
            path = tmp / f"patents_{n}"
            if a.input:
                src = spark.read.parquet(a.input).select("app_no", "app_year", "title", "abstract",
                                                         "ipc_codes")
                (src.limit(n) if n else src).repartition(4).write.parquet(str(path))
            else:
                pdf = synthetic(tax, n, a.seed)
                spark.createDataFrame(pdf).repartition(4).write.parquet(str(path))
            gen = time.perf_counter() - t0
            df = spark.read.parquet(str(path)).cache()
            n = df.count()
            low_t, low_a = F.lower(F.col("title")), F.lower(F.col("abstract"))
            terms = F.array(*[F.lit(k) for k in keys])
            plans = {
                "classify": lambda d: clf.transform(d),
                "kw_aho": lambda d: clf.matcher.transform(d),
                "kw_instr": lambda d: d.select("app_no",
                    F.filter(terms, lambda t: F.instr(low_t, t) > 0).alias("t"),
                    F.filter(terms, lambda t: F.instr(low_a, t) > 0).alias("a")),
                "kw_regex": lambda d: d.select("app_no",
                    F.regexp_extract_all(low_t, F.lit(regex), F.lit(0)).alias("t"),
                    F.regexp_extract_all(low_a, F.lit(regex), F.lit(0)).alias("a")),
            }
            warm = df.limit(2000)   # Python workers, codegen and JIT warm before any timing
            for m in a.methods:
                plans[m](warm).write.format("noop").mode("overwrite").save()
            for m in a.methods:
                if m.startswith("kw_") and m != "kw_aho" and n > a.builtin_max:
                    print(f"n={n:>8}  {m:<9} skipped (--builtin-max {a.builtin_max})", flush=True)
                    continue
                load = os.getloadavg()[0]
                runs = [clock.timed(lambda: plans[m](df).write.format("noop").mode("overwrite").save())
                        for _ in range(a.repeat)]
                secs = [r["seconds"] for r in runs]
                med = statistics.median(secs)
                best = min(runs, key=lambda r: r["seconds"])
                cpu = {k: round(v, 2) for k, v in best.items() if k.startswith("cpu_")}
                cpu["cpu_total_s"] = round(sum(cpu.values()), 2)
                results["runs"].append({"n": n, "method": m, "seconds": round(med, 2),
                                        "records_per_s": round(n / med), "all_seconds": secs,
                                        "load_avg_1m": round(load, 2), **cpu})
                print(f"n={n:>8}  {m:<9} {med:8.2f} s  {n / med:>10,.0f} records/s  "
                      f"cpu {cpu['cpu_total_s']:.1f} s (jvm {cpu['cpu_jvm_s']:.1f}, workers "
                      f"{cpu['cpu_workers_s']:.1f})  load {load:.1f}", flush=True)
            if "classify" in a.methods:
                ai = clf.transform(df).agg(F.sum(F.col("is_ai").cast("int"))).first()[0]
                results["runs"].append({"n": n, "method": "share_ai", "value": ai / n,
                                        "generate_seconds": round(gen, 1)})
            df.unpersist()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        spark.stop()
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    src = "input_" if a.input else ""
    name = f"classify_{src}{'-'.join(map(str, a.sizes))}_{'-'.join(a.methods)}.json"
    (out / name).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
